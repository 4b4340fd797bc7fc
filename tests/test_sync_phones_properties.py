"""The phone guarantees of docs/sync.md over many random tenants and
rosters, planned and applied against the in-memory PBX (tests/memtarget.py):
no phone is deleted without --prune; a user with no `phones:` key keeps the
PBX's phones unless it is replaced; with --prune a managed user ends with
exactly its list; the notes count what is left alone; a second plan has
nothing left but what is held back. Seeded: the same cases on every run."""

from __future__ import annotations

import random

from conftest import HEAD, user
from memtarget import MemTarget

from generator.commands.sync import plan, read_roster
from generator.model import mac_key
from generator.pipeline import Options
from generator.sync.apply import apply

PHONE = '{mac: "%s", model: %s, vendor: Yealink, filename: y.xml, password: {generate: true}, timezone: GMT}'
NAMES = ("ann", "bob", "cat", "dan")
OPEN = {"delete": 100, "replace": 100, "update": 100}  # the thresholds have their own tests
SPELLINGS = (str, str.upper, lambda mac: mac.replace(":", "-"), lambda mac: mac.replace(":", ""))


def _tenant(rnd: random.Random, spare: list[str]) -> tuple[MemTarget, dict[str, list[str]]]:
    """Some of NAMES on the PBX with 0-3 phones each, MACs written in any of the PBX's ways."""
    target, owned = MemTarget(), {}
    for i, name in enumerate(NAMES):
        if rnd.random() < 0.8:
            macs = [spare.pop() for _ in range(rnd.randint(0, 3))]
            spell = rnd.choice(SPELLINGS)
            target.add(name, f"010{i}", macs=tuple(spell(mac) for mac in macs))
            owned[name] = macs
    return target, owned


def _roster(rnd: random.Random, owned: dict[str, list[str]], spare: list[str]) -> str:
    """Some of NAMES in the roster: no `phones:` key, `phones: []`, or some of
    the PBX's phones and a new one (a model change now and then); a new
    extension now and then (a replace); `phones: []` in defaults now and then."""
    head = HEAD.replace("users:\n", "  phones: []\nusers:\n") if rnd.random() < 0.2 else HEAD
    users = []
    for i, name in enumerate(NAMES):
        if rnd.random() >= 0.8:
            continue
        extension = f"010{i}" if rnd.random() < 0.85 else f"019{i}"
        mode = rnd.choice(("none", "empty", "some"))
        lines = ["phones: []"] if mode == "empty" else []
        if mode == "some":
            chosen = [mac for mac in owned.get(name, []) if rnd.random() < 0.6]
            chosen += [spare.pop()] if rnd.random() < 0.4 else []
            lines = ["phones:", *(f"  - {PHONE % (mac, rnd.choice(('T31', 'T31', 'T33')))}" for mac in chosen)] \
                if chosen else ["phones: []"]
        users.append(user(name, extension, *lines))
    return head + "".join(users)


def _macs(target: MemTarget, name: str) -> list[str] | None:
    found = [u for u in target.users.values() if u["fields"]["name"] == name]
    return sorted(mac_key(p["mac"]) for p in found[0]["phones"].values()) if found else None


def _left_alone(wanted: dict[str, dict], before: dict, made, prune: bool) -> tuple[int, int]:
    """(unlisted, unmanaged): the PBX phones of roster users not replaced that the roster does not list."""
    unlisted = unmanaged = 0
    replaced = {u.name for u in made.users if u.kind == "replace"}
    for name, fields in wanted.items():
        if before.get(name) is None or name in replaced:
            continue
        if "phones" not in fields:
            unmanaged += len(before[name])
        elif not prune:
            unlisted += len(set(before[name]) - {mac_key(p["mac"]) for p in fields["phones"]})
    return unlisted, unmanaged


def _counted(notes: list[str], words: str) -> int:
    found = [note for note in notes if words in note]
    return int(found[0].split(" ", 1)[0]) if found else 0


def test_the_phone_guarantees_hold_over_many_random_tenants(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTSIP_ROSTER_KEY", "phones-test-master-key-" + "k" * 24)
    roster = tmp_path / "roster.yaml"
    for seed in range(60):
        rnd = random.Random(seed)
        spare = [f"0c:38:3e:00:00:{n:02x}" for n in range(40)]
        rnd.shuffle(spare)
        target, owned = _tenant(rnd, spare)
        roster.write_text(_roster(rnd, owned, spare), "utf-8")
        prune, replacing = rnd.random() < 0.5, rnd.random() < 0.5
        before = {name: _macs(target, name) for name in NAMES}
        made = plan(roster, Options(), target, prune=prune, replacing=replacing, percent=OPEN)
        wanted = read_roster(roster, Options()).wanted
        case = f"seed {seed} (prune {prune}, replace {replacing})"
        if not prune:
            assert all(p.kind != "delete" for u in made.users for p in u.phones), case
        assert all(not u.phones for u in made.users if u.kind == "update" and "phones" not in wanted[u.name]), case
        unlisted, unmanaged = _left_alone(wanted, before, made, prune)
        assert _counted(made.notes, "not in their user's `phones:` list") == unlisted, case
        assert _counted(made.notes, "of users with no `phones:` key") == unmanaged, case
        assert apply(made, target, wanted).failures == [], case
        for name in NAMES:
            entry = next((u for u in made.users if u.name == name), None)
            if before[name] is None or (entry is not None and entry.kind == "replace" and not entry.held):
                continue
            managed = name in wanted and "phones" in wanted[name]
            if managed and prune and not (entry is not None and entry.held):
                assert _macs(target, name) == sorted(mac_key(p["mac"]) for p in wanted[name]["phones"]), case
            elif name in wanted:
                assert set(before[name]) <= set(_macs(target, name)), case  # nothing lost unasked
        again = plan(roster, Options(), target, prune=prune, replacing=replacing, percent=OPEN)
        assert all(u.held for u in again.users), case


def test_a_replace_of_a_user_without_phones_names_the_phones_it_deletes(tmp_path, monkeypatch):
    """The one way a user with no `phones:` key loses its phones (docs/sync.md):
    a replace, held back until asked, whose `loses:` names every phone."""
    monkeypatch.setenv("PORTSIP_ROSTER_KEY", "phones-test-master-key-" + "k" * 24)
    target = MemTarget()
    target.add("ann", "0101", macs=("0c:38:3e:00:00:01", "0C-38-3E-00-00-02"))
    roster = tmp_path / "roster.yaml"
    roster.write_text(HEAD + user("ann", "0109"), "utf-8")
    held = plan(roster, Options(), target)
    assert held.users[0].kind == "replace" and held.users[0].held
    assert held.users[0].loses[:2] == ["phone 0c:38:3e:00:00:01 (not in the roster)",
                                       "phone 0c:38:3e:00:00:02 (not in the roster)"]
    assert not any("phone" in note for note in held.notes)  # not counted as left alone: the replace drops them
    assert apply(held, target, read_roster(roster, Options()).wanted).held == ["ann"]
    assert _macs(target, "ann") == ["0c:38:3e:00:00:01", "0c:38:3e:00:00:02"]
    allowed = plan(roster, Options(), target, replacing=["ann"])
    assert apply(allowed, target, read_roster(roster, Options()).wanted).failures == []
    assert _macs(target, "ann") == []


def test_a_held_back_replace_of_two_phones_says_them_in_the_plural(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTSIP_ROSTER_KEY", "phones-test-master-key-" + "k" * 24)
    target = MemTarget()
    target.add("ann", "0101", macs=("0c:38:3e:00:00:01", "0c:38:3e:00:00:02"))
    roster = tmp_path / "roster.yaml"
    roster.write_text(HEAD + user("ann", "0101", "phones:", *(f"  - {PHONE % (mac, 'T33')}" for mac in
                                                              ("0c:38:3e:00:00:01", "0c:38:3e:00:00:02"))), "utf-8")
    held = plan(roster, Options(), target).users[0].held
    assert held.startswith("a phone replace deletes phones 0c:38:3e:00:00:01 and 0c:38:3e:00:00:02 and makes them "
                           "again (their model cannot be changed in place); nothing of this user is sent until then")
