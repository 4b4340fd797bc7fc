"""`plan` and `apply`: the roster as the single source of truth for a
tenant's users on a PortSIP v22 PBX, through its REST API.

Everything `generate` checks is checked before the first request: a roster
with problems never reaches the PBX.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from generator.commands.revision import at_revision
from generator.errors import RosterInvalid, UsageError
from generator.model import SECRET_KEYS, Problem, ResolvedUser, mac_key
from generator.pipeline import Options, run
from generator.sync.api import refusals
from generator.sync.client import Client, checked_id
from generator.sync.plan import Plan, make_plan
from generator.write import check_output, open_log, output_kind


class StalePlan(Exception):
    """A saved plan no longer matches the roster or the PBX (exit 1, nothing changed)."""


@dataclass(frozen=True)
class RosterRead:
    """A roster read for a sync: its users by name, every check passed; the
    warnings to print, as `generate` prints them; the files it was read from."""

    users: dict[str, dict]
    warnings: list[Problem]
    files: list[Path]


def read_roster(roster: Path, options: Options, display: str | None = None) -> RosterRead:
    """The roster, every check passed; RosterInvalid (with its warnings) otherwise."""
    resolved = run(roster, options, display or str(roster))
    refused = refusals(list(resolved.users))
    if resolved.errors or refused:
        raise RosterInvalid(list(resolved.problems) + refused)
    files = [roster, *(Path(document.file) for document in resolved.included)]
    return RosterRead({user.name: user.fields for user in resolved.users}, resolved.warnings, files)


def wanted_users(roster: Path, options: Options, display: str | None = None) -> dict[str, dict]:
    """The roster's users by name, every check passed; RosterInvalid otherwise."""
    return read_roster(roster, options, display).users


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
    if base is None:
        return set()
    compare = replace(options, stand_ins=True, key_file=None, secrets=None)
    now = _secret_marks(run(roster, compare).users)
    with at_revision(roster, base) as old:
        before = _secret_marks(run(old, compare).users)
    return {key for key, mark in now.items() if key in before and before[key] != mark}


def read_tenant(client: Client, parallel: int) -> dict[str, dict]:
    """The PBX's users by name: {id, detail, phones}, read in parallel."""
    listed = client.users()

    def one(item: dict) -> tuple[str, dict]:
        user_id = checked_id(item.get("id"))
        detail = client.call("GET", f"/users/{user_id}", user=str(item.get("name")))
        phones = client.call("GET", f"/users/{user_id}/phones", user=str(item.get("name")))
        items = phones.get("items") if isinstance(phones, dict) else None
        return str(item.get("name")), {"id": user_id, "detail": detail if isinstance(detail, dict) else {},
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
    return make_plan(client.base, wanted, read_tenant(client, parallel), changed, prune)


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
