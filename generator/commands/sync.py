"""`plan` and `apply`: the roster as the single source of truth for a
tenant's users on a PortSIP v22 PBX, through its REST API.

Everything `generate` checks is checked before the first request: a roster
with problems never reaches the PBX.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from generator.commands.revision import at_revision, exists_at
from generator.errors import RosterInvalid, UsageError
from generator.model import SECRET_KEYS, SECRET_ORDER, Problem, ResolvedUser, mac_key
from generator.pipeline import Options, run
from generator.sync.api import BUSY_NOTE, busy_mapped, refusals
from generator.sync.client import Client, PbxError, checked_id, shown
from generator.sync.plan import Plan, UserPlan, conflicts, make_plan
from generator.write import check_output, open_log, output_kind


class StalePlan(Exception):
    """A saved plan no longer matches the roster or the PBX (exit 1, nothing changed)."""


@dataclass(frozen=True)
class RosterRead:
    """A roster read for a sync: its users by name, every check passed; the
    warnings to print, as `generate` prints them; the files it was read from."""

    users: list[ResolvedUser]
    warnings: list[Problem]
    files: list[Path]

    @property
    def wanted(self) -> dict[str, dict]:
        """The users' fields by name: what a plan compares and apply sends."""
        return {user.name: user.fields for user in self.users}


def read_roster(roster: Path, options: Options, display: str | None = None) -> RosterRead:
    """The roster, every check passed; RosterInvalid (with its warnings) otherwise."""
    resolved = run(roster, options, display or str(roster))
    refused = refusals(list(resolved.users))
    if resolved.errors or refused:
        raise RosterInvalid(list(resolved.problems) + refused)
    files = [roster, *(Path(document.file) for document in resolved.included)]
    return RosterRead(list(resolved.users), resolved.warnings, files)


def check_outputs(out: Path | None, log: Path | None, inputs: list[Path | None]) -> TextIO | None:
    """Before any request: `--out` can be written the way `generate -o` writes
    and is no input (nor, unless a pipe or a device, the log); the log opened
    (write.open_log), or None."""
    if out is not None:
        check_output(out, [*inputs, log if output_kind(out) == "replace" else None], "the plan")
    return open_log(log, inputs) if log is not None else None


def _secret_marks(users: tuple[ResolvedUser, ...]) -> dict[tuple, str]:
    """(user, field) or (user, phones[mac], field) -> the secret's stand-in (its source, rotation and MAC)."""
    marks = {}
    for user in users:
        for key in SECRET_KEYS:
            if isinstance(user.fields.get(key), str):
                marks[(user.name, key)] = user.fields[key]
        for phone in user.fields.get("phones") or []:
            for key in SECRET_KEYS:
                if isinstance(phone.get(key), str) and phone.get(key):
                    marks[(user.name, f"phones[{mac_key(str(phone.get('mac', '')))}]", key)] = phone[key]
    return marks


def secret_changes(roster: Path, options: Options, base: str | None) -> set[tuple]:
    """Secrets whose source, rotation or phone MAC the roster changed since `base`."""
    if base is None or not exists_at(roster, base):  # a roster new since base: nothing to compare with
        return set()
    compare = replace(options, stand_ins=True, key_file=None, secrets=None)
    now = _secret_marks(run(roster, compare).users)
    with at_revision(roster, base) as old:
        before = _secret_marks(run(old, compare).users)
    return {key for key, mark in now.items() if key in before and before[key] != mark}


def read_tenant(client: Client, parallel: int) -> dict[str, dict]:
    """The PBX's users by name: {id, detail, phones}, read in parallel. A
    user listed without a name, or a name listed twice, is refused: one of
    the two would otherwise vanish from the plan unseen."""
    listed = client.users()
    names = [item.get("name") for item in listed]
    for name in names:
        if not isinstance(name, str) or not name:
            raise PbxError(None, "the PBX listed a user without a name", "/users")
    twice = sorted(name for name, times in Counter(names).items() if times > 1)
    if twice:
        raise PbxError(None, f"the PBX lists the user {shown(twice[0][:60])!r} twice", "/users")

    def one(item: dict) -> tuple[str, dict]:
        user_id = checked_id(item.get("id"))
        detail = client.call("GET", f"/users/{user_id}", user=item["name"])
        phones = client.call("GET", f"/users/{user_id}/phones", user=item["name"])
        items = phones.get("items") if isinstance(phones, dict) else None
        return item["name"], {"id": user_id, "detail": detail if isinstance(detail, dict) else {},
                              "phones": [p for p in items or [] if isinstance(p, dict)]}

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return dict(pool.map(one, listed))


def plan(roster: Path, options: Options, client: Client, base: str | None = None, prune: bool = False,
         parallel: int = 4, users: list[ResolvedUser] | None = None, replacing: Collection[str] | bool = False,
         percent: dict[str, int] | None = None) -> Plan:
    """What apply would do; reads the PBX, writes nothing to it. Needs no
    secret (`users`: the roster's, when the caller has them already; their
    secrets do not change the plan). `replacing`: the users a replace may
    delete (True: all); `percent`: the thresholds.

    A create or replace that asks for a name, extension or MAC another PBX
    user has is refused here, located in the roster (RosterInvalid): the PBX
    would refuse it, after a replace had deleted the user."""
    if users is None:
        users = read_roster(roster, replace(options, redact=True)).users
    wanted = {user.name: user.fields for user in users}
    changed = secret_changes(roster, options, base)
    client.sign_in()
    actual = read_tenant(client, parallel)
    made = make_plan(client.base, wanted, actual, changed, prune, replacing, percent)
    made.notes = plan_notes(wanted, actual, base)
    groups = read_groups(client, made, parallel)
    found = conflicts(made, wanted, actual, groups.extensions if groups else {})
    if found:
        by_name = {user.name: user for user in users}
        raise RosterInvalid([by_name[c.user].problem(c.path, "pbx-conflict", c.message) for c in found])
    read_losses(client, made, actual, groups, parallel)
    return made


def _secret_count(fields: dict) -> int:
    phones = [p for p in fields.get("phones") or [] if isinstance(p, dict)]
    return sum(bool(where.get(key)) for where in (fields, *phones) for key in SECRET_ORDER)


def plan_notes(wanted: dict[str, dict], actual: dict[str, dict], base: str | None) -> list[str]:
    """What a plan says once: how a rule the API lacks was sent, and that the
    secrets of users already on the PBX were not compared (without --base a
    rotation would otherwise pass as "nothing to do")."""
    notes = [BUSY_NOTE] if any(busy_mapped(fields) for fields in wanted.values()) else []
    unseen = sum(_secret_count(fields) for name, fields in wanted.items() if name in actual)
    if base is None and unseen:
        notes.append(f"{unseen} secret{'' if unseen == 1 else 's'} of users already on the PBX not compared: the PBX "
                     f"never gives one back, so a new source, rotate or MAC since the last apply shows only with "
                     f"--base REV (the roster's last applied revision)")
    return notes


# What deleting a PortSIP user drops that the API lets us see, read per user
# only for the users a plan deletes or replaces: (path under /users/{id}, words).
LOSS_READS = (("call_queues", "call queue"), ("greetings", "voicemail greeting"), ("holidays", "personal holiday"),
              ("speed_dial_8", "speed dial"), ("speed_dial_100", "speed dial"))
UNSEEN = "voicemail messages and any setting the roster does not hold (the API does not list them)"
MAX_NAMED = 20  # memberships named one by one; a hostile PBX's thousand names are counted instead


def _items(client: Client, path: str, user: str | None = None) -> list[dict]:
    answer = client.call("GET", path, user=user)
    items = answer.get("items") if isinstance(answer, dict) else None
    return [item for item in items or [] if isinstance(item, dict)] if isinstance(items, list) else []


def _paged(client: Client, path: str, pages: int = 100) -> list[dict]:
    found: list[dict] = []
    for _ in range(pages):
        items = _items(client, f"{path}?top=100&skip={len(found)}")
        found += items
        if len(items) < 100:
            break
    return found


def _membership(kind: str, item: dict) -> str:
    return f"{kind} {str(item.get('name', ''))[:64]} ({str(item.get('extension_number', ''))[:64]})"


def _named(kind: str, items: list[dict]) -> list[str]:
    names = [_membership(f"member of {kind}", item) for item in items[:MAX_NAMED]]
    return names + ([f"member of {len(items) - MAX_NAMED} more {kind}s"] if len(items) > MAX_NAMED else [])


def _counted(words: str, count: int) -> list[str]:
    return [f"{count} {words}{'' if count == 1 else 's'}"] if count else []


@dataclass
class Groups:
    """The tenant's call queues and ring groups, read only when a plan deletes
    or replaces someone: whose extensions a replace must not take, and whose
    members a delete drops."""

    extensions: dict[str, str] = field(default_factory=dict)  # extension -> "call queue Sales"
    ring_groups: dict[str, list[dict]] = field(default_factory=dict)  # member's extension -> its ring groups
    unread: str = ""  # why the ring groups could not be read


def read_groups(client: Client, made: Plan, parallel: int) -> Groups | None:
    """The API lists a ring group's members but not a user's ring groups: one
    list and one request per ring group (and one list of call queues, for a
    replace's new extension)."""
    if not any(user.kind in ("replace", "delete") for user in made.users):
        return None
    found = Groups()
    if any(user.kind == "replace" for user in made.users):
        try:
            for queue in _paged(client, "/call_queues", pages=10):
                found.extensions.setdefault(str(queue.get("extension_number")), _membership("call queue", queue))
        except PbxError:
            pass  # a replace is then checked against users only; the loss list says what was not read
    try:
        groups = _paged(client, "/ring_groups", pages=10)  # 1,000 at most: a hostile PBX's endless pages end
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            members = list(pool.map(lambda g: _items(client, f"/ring_groups/{checked_id(g.get('id'))}/agents"),
                                    groups))
    except PbxError as exc:
        found.unread = f"ring groups not read ({exc.status or 'no answer'}: {exc.message[:80]})"
        return found
    for group, agents in zip(groups, members):
        found.extensions.setdefault(str(group.get("extension_number")), _membership("ring group", group))
        for agent in agents:
            found.ring_groups.setdefault(str(agent.get("extension_number")), []).append(group)
    return found


def read_losses(client: Client, made: Plan, actual: dict[str, dict], groups: Groups | None, parallel: int) -> None:
    """Each replace and delete of `made` told what deleting the user loses, as
    far as the API shows it (a read it refuses is said, not fatal)."""
    doomed = [user for user in made.users if user.kind in ("replace", "delete")]
    if not doomed or groups is None:
        return

    def one(user: UserPlan) -> None:
        user_id = checked_id(user.id)
        counts: dict[str, int] = {}
        loses: list[str] = []
        for path, words in LOSS_READS:
            try:
                items = _items(client, f"/users/{user_id}/{path}", user.name)
            except PbxError as exc:
                loses.append(f"{words}s not read ({exc.status or 'no answer'}: {exc.message[:80]})")
                continue
            if path == "call_queues":
                loses += _named("call queue", items)
            else:
                counts[words] = counts.get(words, 0) + len(items)
        extension = str(actual[user.name]["detail"].get("extension_number"))
        loses += [groups.unread] if groups.unread else _named("ring group", groups.ring_groups.get(extension, []))
        for words, count in counts.items():
            loses += _counted(words, count)
        user.loses = [*loses, UNSEEN]

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(one, doomed))


def refusal(made: Plan) -> str | None:
    """Why apply would refuse the plan as it is (past a threshold), or None."""
    if not made.over:
        return None
    parts = [f"{made.count(kind)} {kind}s where at most {made.limit(kind)} may go" for kind in made.over]
    return (f"the plan is past its thresholds ({'; '.join(parts)}, of {made.existing} users on the PBX): nothing "
            f"was changed. Check the plan; if it is meant, run again with --force (or raise --max-"
            f"{made.over[0]}s)")


def load_plan(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(50_000_000))
    except (OSError, ValueError, RecursionError) as exc:
        raise UsageError(f"cannot read the saved plan {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("fingerprint"), str):
        raise UsageError(f"{path} is not a plan saved by `portsip-roster plan --out`")
    return data


def check_saved(saved: dict, fresh: Plan) -> None:
    """A saved plan is applied only if planning again now gives the very same plan."""
    if saved.get("fingerprint") != fresh.fingerprint:
        raise StalePlan("the roster, the PBX or the options changed since this plan was made: nothing was "
                        "changed; make a new plan")
