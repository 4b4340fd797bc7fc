"""`plan` and `apply`: the roster as the single source of truth for a
tenant's users on a PortSIP v22 PBX, through its REST API.

Everything `generate` checks is checked before the first request: a roster
with problems never reaches the PBX.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from generator.commands.revision import at_revision, exists_at
from generator.errors import RosterInvalid, UsageError
from generator.model import SECRET_KEYS, SECRET_ORDER, ResolvedUser, mac_key
from generator.pipeline import Options, run
from generator.sync.api import BUSY_NOTE, busy_mapped, refusals
from generator.sync.client import Client, PbxError, checked_id, shown
from generator.sync.plan import Plan, make_plan


class StalePlan(Exception):
    """A saved plan no longer matches the roster or the PBX (exit 1, nothing changed)."""


def wanted_users(roster: Path, options: Options, display: str | None = None) -> dict[str, dict]:
    """The roster's users by name, every check passed; RosterInvalid otherwise."""
    resolved = run(roster, options, display or str(roster))
    problems = list(resolved.errors) + refusals(list(resolved.users))
    if problems:
        raise RosterInvalid(problems)
    return {user.name: user.fields for user in resolved.users}


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
         parallel: int = 4, wanted: dict[str, dict] | None = None) -> Plan:
    """What apply would do; reads the PBX, writes nothing to it. Needs no
    secret (`wanted`: the roster's users, when the caller has them already;
    their secrets do not change the plan)."""
    if wanted is None:
        wanted = wanted_users(roster, replace(options, redact=True))
    changed = secret_changes(roster, options, base)
    client.sign_in()
    actual = read_tenant(client, parallel)
    made = make_plan(client.base, wanted, actual, changed, prune)
    made.notes = plan_notes(wanted, actual, base)
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
        raise StalePlan("the roster or the PBX changed since this plan was made: nothing was changed; "
                        "make a new plan")
