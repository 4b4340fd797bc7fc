"""`plan` and `apply`: the roster as the single source of truth for a
tenant's users on a PortSIP v22 PBX, through its REST API.

Everything `generate` checks is checked before the first request: a roster
with problems never reaches the PBX.
"""

from __future__ import annotations

import json
import signal
import ssl
import threading
from collections.abc import Collection
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from generator.check import unknown_targets as roster_unknown_targets
from generator.commands.revision import at_revision, exists_at
from generator.errors import RosterInvalid, UsageError
from generator.model import SECRET_KEYS, SECRET_ORDER, Problem, ResolvedUser, mac_key
from generator.pbx.base import Groups, Target
from generator.pbx.portsip.api import refusals
from generator.pipeline import Options, run
from generator.sync.plan import Plan, conflicts, fingerprint, make_plan
from generator.write import check_output, open_log, output_kind, same_file


class Stop(threading.Event):
    """Set by SIGINT or SIGTERM while apply runs (stopping): which signal it was."""

    signal: int = 0

    @property
    def code(self) -> int:
        return 128 + self.signal  # 130 for SIGINT, 143 for SIGTERM, as a shell reports them


@contextmanager
def stopping():
    """While apply runs, SIGINT and SIGTERM (a CI runner's or a job's timeout)
    ask it to stop: the users in flight finish, none is started. A second
    signal interrupts at once (KeyboardInterrupt). Outside the main thread
    (signals cannot be caught there) nothing is installed."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def asked(number: int, _frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.signal = number
        stop.set()

    saved = {number: signal.signal(number, asked) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def stopped_lines(stop: Stop, outcome, roster: Path) -> list[str]:
    """What an apply told to stop says: what was done, what is left."""
    from generator.compare.formats import printable

    name = signal.Signals(stop.signal).name
    lines = [f"stopped by {name}: the users in flight were finished, no other was started; "
             f"{len(outcome.done)} done, {len(outcome.failures)} failed, {len(outcome.left)} not started"]
    if outcome.left:
        lines.append(printable(f"not started: {', '.join(outcome.left)}"))
    if outcome.unlinked:
        lines.append(printable(f"made, but their references to other users not set yet: "
                               f"{', '.join(outcome.unlinked)}"))
    lines.append(f"run `portsip-roster apply {roster}` again to finish (exit {stop.code})")
    return lines


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
    resolved = run(roster, replace(options, to_pbx=True), display or str(roster))
    refused = refusals(list(resolved.users))
    if resolved.errors or refused:
        raise RosterInvalid(list(resolved.problems) + refused)
    files = [roster, *(Path(document.file) for document in resolved.included)]
    return RosterRead(list(resolved.users), resolved.warnings, files)


def check_ca_file(ca_file: Path | None) -> None:
    """`--ca-file` readable as PEM CA certificates, whatever the PBX's scheme
    (an http URL never reads it, and a mistake would pass unsaid)."""
    if ca_file is None:
        return
    try:
        ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError, ValueError) as exc:
        why = "not a CA certificate in PEM form" if isinstance(exc, (ssl.SSLError, ValueError)) \
            else exc.strerror or "cannot be read"
        raise UsageError(f"--ca-file {ca_file}: {why}") from exc


def check_outputs(out: Path | None, log: Path | None, inputs: list[Path | None]) -> TextIO | None:
    """Before any request: `--out` can be written the way `generate -o` writes
    and is no input (nor, unless a pipe or a device, the log); the log opened
    (write.open_log), or None."""
    if out is not None and log is not None and output_kind(out) == "replace" and same_file(out, log):
        raise UsageError(f"--out {out} is the log (--log {log}): write the plan somewhere else")
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


def plan(roster: Path, options: Options, target: Target, base: str | None = None, prune: bool = False,
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
    target.open()
    actual = target.read_users(parallel)
    made = make_plan(target, wanted, actual, changed, prune, replacing, percent)
    made.notes = target.notes(wanted) + plan_notes(wanted, actual, base)
    doomed = [user for user in made.users if user.kind in ("replace", "delete")]
    groups = target.read_groups(doomed, any(u.kind == "replace" for u in doomed), parallel) if doomed else None
    found = conflicts(made, wanted, actual, groups.extensions if groups else {})
    by_name = {user.name: user for user in users}
    problems = [by_name[c.user].problem(c.path, "pbx-conflict", c.message) for c in found]
    unknown = unknown_targets(made, users)
    if unknown and not (groups and any(u.kind == "replace" for u in doomed)):
        groups = target.read_groups(doomed, True, parallel) or groups  # a target may be a queue or a ring group
    problems += missing_targets(unknown, actual, groups)
    if problems:
        raise RosterInvalid(problems)
    if doomed:
        target.read_losses(doomed, actual, groups, parallel)
        for user in doomed:
            user.loses = [*lost_phones(wanted.get(user.name), actual[user.name]["phones"]), *user.loses]
    return made


MAX_PHONES_NAMED = 20  # a hostile PBX's thousand phones are counted, not named


def lost_phones(fields: dict | None, phones: list[dict]) -> list[str]:
    """The PBX's phones of a user a plan deletes or replaces that the roster
    does not hold (a replace makes only the roster's again)."""
    kept = {mac_key(str(p.get("mac", ""))) for p in (fields or {}).get("phones") or [] if isinstance(p, dict)}
    lost = sorted({mac_key(str(p.get("mac", ""))) for p in phones} - kept)
    named = [f"phone {mac[:64]} (not in the roster)" for mac in lost[:MAX_PHONES_NAMED]]
    more = len(lost) - MAX_PHONES_NAMED
    return named + ([f"{more} more phones not in the roster"] if more > 0 else [])


def unknown_targets(made: Plan, users: list[ResolvedUser]) -> list[tuple[ResolvedUser, tuple, str]]:
    """The forward and BLF targets of users this plan makes (or makes again)
    that look like an extension and are none of the roster's."""
    making = {u.name for u in made.users if u.kind in ("create", "replace") and not u.held}
    return [found for found in roster_unknown_targets(users) if found[0].name in making]


def missing_targets(unknown: list[tuple[ResolvedUser, tuple, str]], actual: dict[str, dict],
                    groups: Groups | None) -> list[Problem]:
    """Those of `unknown` the PBX has not either: it would refuse the user,
    and a replace would have deleted it first. Refused before any write."""
    have = {str(user["detail"].get("extension_number")) for user in actual.values()}
    have |= set(groups.extensions) if groups else set()
    return [user.problem(path, "pbx-conflict", f"{number} is an extension neither in this roster nor on the PBX: "
                         f"the PBX would refuse the user (and a replace would have deleted it first); correct "
                         f"the number, or make the extension first (a separate run)")
            for user, path, number in unknown if number not in have]


def _secret_count(fields: dict) -> int:
    phones = [p for p in fields.get("phones") or [] if isinstance(p, dict)]
    return sum(bool(where.get(key)) for where in (fields, *phones) for key in SECRET_ORDER)


def plan_notes(wanted: dict[str, dict], actual: dict[str, dict], base: str | None) -> list[str]:
    """What a plan says once (besides the target's own notes): that the
    secrets of users already on the PBX were not compared (without --base a
    rotation would otherwise pass as "nothing to do")."""
    notes = []
    unseen = sum(_secret_count(fields) for name, fields in wanted.items() if name in actual)
    if base is None and unseen:
        notes.append(f"{unseen} secret{'' if unseen == 1 else 's'} of users already on the PBX not compared: the PBX "
                     f"never gives one back, so a new source, rotate or MAC since the last apply shows only with "
                     f"--base REV (the roster's last applied revision)")
    return notes


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
    if fingerprint(data) != data["fingerprint"]:
        raise StalePlan(f"{path}: the saved plan was edited (its body no longer matches its fingerprint): nothing "
                        f"was sent to the PBX; make a new plan with `portsip-roster plan --out`")
    return data


def check_saved(saved: dict, fresh: Plan) -> None:
    """A saved plan is applied only if planning again now gives the very same plan."""
    if saved.get("fingerprint") != fresh.fingerprint:
        raise StalePlan("the roster, the PBX or the options changed since this plan was made: nothing was "
                        "changed; make a new plan")
