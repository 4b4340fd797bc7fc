"""apply never loses a phone unasked: a user without `phones:` keeps the
PBX's phones, a phone its list lacks goes only with --prune, a phone replace
(a new model) only with --replace NAME or --allow-replace, and phone deletes
and replaces count against the thresholds. Against the fake PBX
(tests/fakepbx.py), through the CLI in process."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from conftest import HEAD, run_module, user
from fakepbx import ACCOUNT, FakeServer

PHONE = '{mac: "%s", model: T31, vendor: Yealink, filename: y.xml, password: {generate: true}, timezone: GMT}'
MACS = ("0c:38:3e:00:00:01", "0c:38:3e:00:00:02", "0c:38:3e:00:00:03")


def sync(pbx: FakeServer, folder: Path, *args: str):
    login = ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--rate", "1000",
             "--allow-http"]
    return run_module(*args, *login, cwd=folder, env={"PORTSIP_PASSWORD": ACCOUNT["password"]})


def write(folder: Path, *users: str) -> None:
    (folder / "roster.yaml").write_text(HEAD + "".join(users), "utf-8")


def warehouse(*lines: str, phones: tuple[str, ...] | None = MACS) -> str:
    """The user warehouse (400) with these phones (None: no `phones:` key)."""
    listed = [] if phones is None else ["phones: []"] if not phones else \
        ["phones:", *(f"  - {PHONE % mac}" for mac in phones)]
    return user("warehouse", "400", *lines, *listed)


def macs(pbx: FakeServer, name: str) -> list[str]:
    return sorted(p["mac"].lower() for p in pbx.state.phones[pbx.state.user_id(name)].values())


def formats(pbx: FakeServer, folder: Path, *args: str) -> dict[str, str]:
    return {style: sync(pbx, folder, "plan", "roster.yaml", "--format", style, *args).stdout
            for style in ("text", "markdown", "json")}


def test_a_user_without_phones_keeps_its_phones_through_apply(pbx, tmp_path):
    write(tmp_path, warehouse())
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, warehouse("department: Stores", phones=None))  # the roster no longer says anything of phones
    note = ("3 phones on the PBX of users with no `phones:` key: left alone, the roster does not manage them "
            "(`phones: []` with --prune deletes them)")
    shown = formats(pbx, tmp_path)
    assert f"note: {note}" in shown["text"] and "phone 0c:38" not in shown["text"]
    assert "3 phones on the PBX of users with no &#96;phones:&#96; key: left alone" in shown["markdown"]
    assert note in json.loads(shown["json"])["notes"]
    assert all(p["kind"] != "delete" for u in json.loads(shown["json"])["users"] for p in u["phones"])
    for flags in ((), ("--prune",)):  # not even --prune: a user without the key does not manage its phones
        applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", *flags)
        assert applied.returncode == 0, applied.stderr
        assert macs(pbx, "warehouse") == list(MACS)
    assert pbx.state.users[pbx.state.user_id("warehouse")]["department"] == "Stores"


def test_a_phone_the_list_lacks_is_left_alone_and_deleted_only_with_prune(pbx, tmp_path):
    write(tmp_path, warehouse(), user("kate", "0105"), user("sam", "0106"), user("ola", "0107"))
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, warehouse(phones=MACS[:2]), user("kate", "0105"), user("sam", "0106"), user("ola", "0107"))
    note = ("1 phone on the PBX not in their user's `phones:` list: left alone (--prune deletes them): "
            "warehouse (0c:38:3e:00:00:03)")  # named: a phone dropped from a list is most likely meant to go
    kept = formats(pbx, tmp_path)
    assert f"note: {note}" in kept["text"] and "nothing to do" in kept["text"]
    assert note in json.loads(kept["json"])["notes"] and json.loads(kept["json"])["users"] == []
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    assert macs(pbx, "warehouse") == list(MACS)
    pruned = formats(pbx, tmp_path, "--prune")
    line = ("thresholds (share of the 4 users on the PBX): delete 1 (0 users, 1 phone; at most 1: 30%), replace 0 "
            "(at most 1: 30%), update 1 (at most 1: 30%): within")
    assert line in pruned["text"] and f"    phone {MACS[2]}: delete" in pruned["text"]
    assert note not in pruned["text"] and md(line) in pruned["markdown"]
    assert json.loads(pruned["json"])["thresholds"]["delete"] == {"count": 1, "phones": 1, "limit": 1, "percent": 30}
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--prune")
    assert applied.returncode == 0, applied.stderr
    assert macs(pbx, "warehouse") == list(MACS[:2])


def md(text: str) -> str:
    from generator.compare.formats import md as escaped

    return escaped(text)


def test_an_empty_phones_list_deletes_every_phone_only_with_prune(pbx, tmp_path):
    write(tmp_path, warehouse())
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, warehouse(phones=()))
    kept = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes")
    assert kept.returncode == 0 and "3 phones on the PBX not in their user's `phones:` list" in kept.stdout
    assert macs(pbx, "warehouse") == list(MACS)
    # 3 phone deletes on a 1-user PBX: past the threshold (at most 1), as 3 user deletes would be
    refused = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--prune")
    assert refused.returncode == 1 and macs(pbx, "warehouse") == list(MACS)
    assert "3 deletes (0 users, 3 phones) where at most 1 may go" in refused.stderr
    forced = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--prune", "--force")
    assert forced.returncode == 0, forced.stderr
    assert macs(pbx, "warehouse") == []


def test_a_roster_that_drops_40_phones_is_refused_without_force(pbx, tmp_path):
    many = [f"0c:38:3e:00:01:{n:02x}" for n in range(40)]
    staff = [user(f"u{n}", f"20{n}") for n in range(9)]
    write(tmp_path, warehouse(phones=tuple(many)), *staff)
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, warehouse(phones=()), *staff)
    before = len(pbx.state.writes())
    shown = formats(pbx, tmp_path, "--prune")
    assert ("delete 40 (0 users, 40 phones; at most 3: 30%)" in shown["text"]
            and "OVER for delete: apply refuses this plan without --force" in shown["text"])
    assert "OVER for delete" in shown["markdown"]
    assert json.loads(shown["json"])["thresholds"]["within"] is False
    refused = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--prune")
    assert refused.returncode == 1 and "40 deletes (0 users, 40 phones) where at most 3 may go" in refused.stderr
    assert len(pbx.state.writes()) == before and len(macs(pbx, "warehouse")) == 40


def test_a_phone_model_change_is_held_back_then_done_with_allow_replace(pbx, tmp_path):
    write(tmp_path, warehouse(phones=MACS[:1]))
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, warehouse("department: Stores", phones=MACS[:1]).replace("model: T31", "model: T33"))
    held = ("held back: a phone replace deletes phone 0c:38:3e:00:00:01 and makes it again (its model cannot be "
            "changed in place); nothing of this user is sent until then; pass --replace warehouse (or "
            "--allow-replace) to let apply do it")
    shown = formats(pbx, tmp_path)
    assert held in shown["text"] and "1 held back" in shown["text"] and "replace 0 (at most 1" in shown["text"]
    assert md(held) in shown["markdown"]
    assert json.loads(shown["json"])["users"][0]["held"] == held.removeprefix("held back: ")
    before = len(pbx.state.writes())
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes")
    assert applied.returncode == 1 and f"held back: user warehouse: nothing sent; {held[11:]}" in applied.stderr
    assert len(pbx.state.writes()) == before
    phones = pbx.state.phones[pbx.state.user_id("warehouse")]
    assert [p["model"] for p in phones.values()] == ["T31"]
    # allowed, the replace counts against --max-replaces as a user's would
    counted = sync(pbx, tmp_path, "plan", "roster.yaml", "--allow-replace", "--max-replaces", "0")
    assert counted.returncode == 1 and "replace 1 (0 users, 1 phone; at most 0: 0%)" in counted.stdout
    assert "1 replaces (0 users, 1 phone) where at most 0 may go" in counted.stderr
    for flags in (("--replace", "warehouse"), ("--allow-replace",)):
        assert "held back" not in sync(pbx, tmp_path, "plan", "roster.yaml", *flags).stdout
    done = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--allow-replace")
    assert done.returncode == 0, done.stderr
    phones = pbx.state.phones[pbx.state.user_id("warehouse")]
    assert [p["model"] for p in phones.values()] == ["T33"]
    assert sync(pbx, tmp_path, "plan", "roster.yaml", "--exit-code").returncode == 0


def test_the_phone_notes_and_counts_are_the_same_bytes_run_after_run(pbx, tmp_path):
    write(tmp_path, warehouse(), user("kate", "0105", "phones:", f"  - {PHONE % '0c:38:3e:00:00:09'}"))
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, warehouse(phones=None), user("kate", "0105", "phones: []"))
    first, second = formats(pbx, tmp_path), formats(pbx, tmp_path)
    assert first == second
    assert json.loads(first["json"])["notes"][-2:] == [
        "1 phone on the PBX not in their user's `phones:` list: left alone (--prune deletes them): "
        "kate (0c:38:3e:00:00:09)",
        "3 phones on the PBX of users with no `phones:` key: left alone, the roster does not manage them "
        "(`phones: []` with --prune deletes them)"]


def test_phones_given_by_defaults_are_a_list_like_any_other(tmp_path, monkeypatch):
    """`phones: []` in `defaults` is the roster managing every user's phones
    (with --prune, none is kept); only the built-in default is no key."""
    from memtarget import MemTarget

    from generator.commands.sync import plan, read_roster
    from generator.pipeline import Options
    from generator.sync.apply import apply

    monkeypatch.setenv("PORTSIP_ROSTER_KEY", "phones-test-master-key-" + "k" * 24)
    target = MemTarget()
    target.add("ann", "0101", macs=MACS[:1])
    roster = tmp_path / "roster.yaml"
    roster.write_text(HEAD.replace("users:\n", "  phones: []\nusers:\n") + user("ann", "0101"), "utf-8")
    kept = plan(roster, Options(), target)
    assert all(not u.phones for u in kept.users)
    assert any("1 phone on the PBX not in their user's" in note for note in kept.notes)
    pruned = plan(roster, Options(), target, prune=True)
    assert [(p.kind, p.mac) for u in pruned.users for p in u.phones] == [("delete", MACS[0])]
    assert apply(pruned, target, read_roster(roster, Options()).wanted).failures == []
    assert target.by_name("ann")["phones"] == {}


def test_past_ten_unlisted_phones_the_note_names_ten_and_counts_the_rest():
    from generator.sync.plan import phone_notes

    named = [f"user{i:02} (0c:38:3e:00:00:{i:02x})" for i in range(12)]
    note, = phone_notes(Counter(unlisted=12), list(reversed(named)))
    assert note.endswith(": " + ", ".join(named[:10]) + " and 2 more"), note
    assert note.startswith("12 phones on the PBX not in their user's `phones:` list")


def test_a_phone_made_with_a_new_user_says_its_password_is_set_as_any_made_phone_does(pbx, tmp_path):
    write(tmp_path, warehouse(phones=MACS[:1]))
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, warehouse(phones=MACS[:2]), user("kate", "0105", "phones:", f"  - {PHONE % MACS[2]}"))
    shown = json.loads(formats(pbx, tmp_path)["json"])
    made = {u["name"]: [c["field"] for p in u["phones"] for c in p["changes"]] for u in shown["users"]}
    assert made == {"warehouse": [f"phones[{MACS[1]}].password"], "kate": [f"phones[{MACS[2]}].password"]}
