"""`plan` and `apply`: the roster as the single source of truth for a
tenant's users on a PortSIP v22 PBX, through its REST API.

Everything `generate` checks is checked before the first request: a roster
with problems never reaches the PBX.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import threading
from collections.abc import Callable, Collection
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, TextIO

from generator.check import unknown_targets as roster_unknown_targets
from generator.commands.options import Login, Pace, Rules
from generator.commands.revision import at_revision, exists_at
from generator.compare.plan import Plan, fingerprint
from generator.errors import RosterInvalid, UsageError
from generator.model import SECRET_KEYS, SECRET_ORDER, Problem, ResolvedUser, counted, mac_key, printable
from generator.pbx.base import Groups, PbxError, Target
from generator.pipeline import Options, run
from generator.progress import Progress
from generator.secrets.sources import KEY_ENV
from generator.sync.plan import PbxIndex, compare_users, conflicts, roster_fields
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
    name = signal.Signals(stop.signal).name
    head = (f"stopped by {name}: the users in flight were finished, no other was started; "
            f"{len(outcome.done)} done, {len(outcome.failures)} failed, {len(outcome.left)} not started")
    return [head, *_left_lines(outcome), f"run `portsip-roster apply {roster}` again to finish (exit {stop.code})"]


def _left_lines(outcome) -> list[str]:
    """The users a stopped apply did not start, and those it made without their references yet."""
    lines = [printable(f"not started: {', '.join(outcome.left)}")] if outcome.left else []
    if outcome.unlinked:
        lines.append(printable(f"made, but their references to other users not set yet: "
                               f"{', '.join(outcome.unlinked)}"))
    return lines


def refused_lines(outcome, roster: Path) -> list[str]:
    """What an apply that stopped itself says: the PBX kept refusing, so
    nothing more was sent; what was done, what is left."""
    head = printable(f"stopped: {outcome.refusing}. The users in flight were finished or failed, no other was "
                     f"started; {len(outcome.done)} done, {len(outcome.failures)} failed, "
                     f"{len(outcome.left)} not started")
    return [head, *_left_lines(outcome),
            f"once the PBX answers again, run `portsip-roster apply {roster}` again to finish (exit 1)"]


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
        return {user.name: roster_fields(user) for user in self.users}


def read_roster(roster: Path, options: Options, display: str | None = None) -> RosterRead:
    """The roster, every check passed; RosterInvalid (with its warnings) otherwise."""
    resolved = run(roster, replace(options, to_pbx=True), display or str(roster))
    # lenient (apply): a secret not at hand is refused only where the plan sends it, not warned of here
    problems = [p for p in resolved.problems if not (options.lenient_secrets and p.code == "secret-unchecked")]
    if resolved.errors:
        raise RosterInvalid(problems)
    files = [roster, *(Path(document.file) for document in resolved.included)]
    return RosterRead(list(resolved.users), [p for p in problems if p.warning], files)


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
    refused = target.refusals(users)  # what this PBX's API cannot express: before any request
    if refused:
        raise RosterInvalid(refused)
    wanted = {user.name: roster_fields(user) for user in users}
    changed = secret_changes(roster, options, base)
    target.open()
    # closed on any way out: an error or Ctrl-C while a user is compared stops the reads running ahead
    # there and then (those in flight end, and are logged), not once the exception is let go
    with closing(target.each_user(parallel)) as arriving:
        made, actual = compare_users(target, wanted, arriving, changed, prune, replacing, percent)
    # the comparison's own notes (phones left alone) kept, after the target's and before what apply will need
    made.notes = target.notes(wanted) + plan_notes(wanted, actual, base) + made.notes + unsent_note(made, users, target)
    doomed = [user for user in made.users if user.kind in ("replace", "delete")]
    unknown = unknown_targets(made, users)
    # read once: the call queues too for a replace's new extension, or for a target that may be a queue
    replacing = any(u.kind == "replace" for u in doomed)
    groups = target.read_groups(doomed, replacing or bool(unknown), parallel) if doomed or unknown else None
    found = conflicts(made, wanted, actual, groups.extensions if groups else {})
    by_name = {user.name: user for user in users}
    problems = [by_name[c.user].problem(c.path, "pbx-conflict", c.message) for c in found]
    if groups is not None and groups.unread:  # a replace deletes first: its new extension must be known free
        problems += [by_name[u.name].problem(("extension_number",), "pbx-conflict", printable(
            f"the new extension {u.extension} cannot be checked against the PBX's call queues and ring groups "
            f"({groups.unread}): nothing is sent; run again when the PBX answers")) for u in doomed
            if u.kind == "replace" and not u.held]
    problems += missing_targets(unknown, actual, groups)
    if problems:
        raise RosterInvalid(problems)
    if doomed:
        target.read_losses(doomed, actual.doomed, groups, parallel)
        for user in doomed:
            user.loses = [*lost_phones(wanted.get(user.name), actual.doomed[user.name]["phones"]), *user.loses]
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


def missing_targets(unknown: list[tuple[ResolvedUser, tuple, str]], actual: PbxIndex,
                    groups: Groups | None) -> list[Problem]:
    """Those of `unknown` the PBX has not either: it would refuse the user,
    and a replace would have deleted it first. Refused before any write."""
    have = actual.all_extensions()
    have |= set(groups.extensions) if groups else set()
    return [user.problem(path, "pbx-conflict", f"{number} is an extension neither in this roster nor on the PBX: "
                         f"the PBX would refuse the user (and a replace would have deleted it first); correct "
                         f"the number, or make the extension first (a separate run)")
            for user, path, number in unknown if number not in have]


def _secret_count(fields: dict) -> int:
    phones = [p for p in fields.get("phones") or [] if isinstance(p, dict)]
    return sum(bool(where.get(key)) for where in (fields, *phones) for key in SECRET_ORDER)


def plan_notes(wanted: dict[str, dict], actual: PbxIndex, base: str | None) -> list[str]:
    """What a plan says once (besides the target's own notes): that the
    secrets of users already on the PBX were not compared (without --base a
    rotation would otherwise pass as "nothing to do")."""
    notes = []
    unseen = sum(_secret_count(fields) for name, fields in wanted.items() if actual.has(name))
    if base is None and unseen:
        notes.append(f"{unseen} secret{'' if unseen == 1 else 's'} of users already on the PBX not compared: the PBX "
                     f"never gives one back, so a new source, rotate or MAC since the last apply shows only with "
                     f"--base REV (the roster's last applied revision)")
    return notes


def sent_stand_ins(made: Plan, users: list[ResolvedUser], target: Target) -> list[tuple[ResolvedUser, tuple]]:
    """(user, path) of each secret apply would send that is not at hand here
    (a stand-in): every secret of a user or phone it makes (or makes again),
    and of an update the secrets the plan changes and those a phone update
    sends in place. Nothing else is sent, so nothing else is needed."""
    by_name = {user.name: user for user in users}
    in_place = target.updatable("phone")
    found = []
    for entry in made.users:
        user = by_name.get(entry.name)
        if entry.held or entry.kind == "delete" or user is None or not user.stand_ins:
            continue
        phones = [p if isinstance(p, dict) else {} for p in user.fields.get("phones") or []]
        macs = [mac_key(str(p.get("mac", ""))) for p in phones]
        kinds = {p.mac: p.kind for p in entry.phones}
        changed = {c.field for c in entry.changes if c.secret}
        changed |= {c.field for p in entry.phones for c in p.changes if c.secret}
        for path in sorted(user.stand_ins, key=str):
            if entry.kind in ("create", "replace"):
                sent = True
            elif len(path) == 1:
                sent = path[0] in changed
            else:
                mac, key = macs[path[1]], path[2]
                sent = (kinds.get(mac) in ("create", "replace") or f"phones[{mac}].{key}" in changed
                        or (kinds.get(mac) == "update" and key in in_place))
            if sent:
                found.append((user, path))
    return found


def unsent_note(made: Plan, users: list[ResolvedUser], target: Target) -> list[str]:
    """Once: how many secrets this plan sends are not at hand here (a plan
    needs none; apply refuses without them)."""
    count = len(sent_stand_ins(made, users, target))
    if not count:
        return []
    return [f"{counted(count, 'secret')} this plan sends (of users it makes, or secrets it changes) not at hand "
            f"here: apply will need them (--secrets FILE, or generated secrets and the key)"]


def refuse_stand_ins(made: Plan, users: list[ResolvedUser], target: Target) -> None:
    """Before any write: RosterInvalid, located, when apply would send a
    secret that is not at hand (one problem per field and source, with how
    many users or phones), each with the step that gives it."""
    by_field: dict[tuple, list] = {}
    for user, path in sent_stand_ins(made, users, target):
        field = tuple(part for part in path if not isinstance(part, int))
        source = user.secret_sources.get(path)
        kind = source.kind if source is not None else ""
        if (field, kind) not in by_field:
            why = ("apply sends this secret (the user is new, made again, or the secret changed) and it is not at "
                   f"hand here: {_get_it(source)}")
            by_field[field, kind] = [user.problem(path, "secret-missing", why), 0]
        by_field[field, kind][1] += 1
    problems = [problem if count == 1 else replace(problem, message=f"{problem.message} "
                                                                    f"({counted(count, _holder(field))} in all, "
                                                                    f"the first shown here)")
                for (field, _), (problem, count) in by_field.items()]
    if problems:
        raise RosterInvalid(problems)


def _get_it(source) -> str:
    """The next step that puts a secret of this source at hand."""
    kind = source.kind if source is not None else ""
    if kind == "generate":
        return f"it is generated, but there is no master key: set {KEY_ENV} or pass --key-file"
    if kind == "env":
        return f"set the environment variable {source.name}"
    return ("pass --secrets FILE (the file the roster's secrets_file sources name) with an entry for it, or "
            "generate it ({generate: true})")


def _holder(field: tuple) -> str:
    """Whose secrets a field's count counts: one per phone under phones, else one per user."""
    return "phone" if field[:1] == ("phones",) else "user"


def refusal(made: Plan, applying: bool = True) -> str | None:
    """Why apply would refuse the plan as it is (past a threshold), or None;
    in `plan`'s words when not `applying` (a plan changes nothing anyway)."""
    if not made.over:
        return None
    parts = [_past(made, kind) for kind in made.over]
    done, again = ("nothing was changed", "run again") if applying else ("apply refuses it", "apply it")
    return (f"the plan is past its thresholds ({'; '.join(parts)}, of {made.existing} users on the PBX): {done}. "
            f"Check the plan; if it is meant, {again} with --force (or raise --max-{made.over[0]}s)")


def _past(made: Plan, kind: str) -> str:
    """One threshold gone past ("3 deletes (1 user, 2 phones) where at most 2 may go")."""
    split = f" ({made.split(kind)})" if made.split(kind) else ""
    return f"{made.weighed(kind)} {kind}s{split} where at most {made.limit(kind)} may go"


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


# ---- the workflows `plan` and `apply` run, for the CLI to call ------------------------------------------


class Say(Protocol):
    """What a sync tells the admin as it goes (the CLI prints it): the order
    matters, as warnings come before the first request and the plan before
    the question."""

    def problems(self, problems: list[Problem]) -> None: ...  # warnings, as `generate` prints them

    def line(self, text: str) -> None: ...  # one line on stderr

    def plan(self, made: Plan) -> None: ...  # the plan, in the chosen format, on stdout

    def confirm(self) -> bool: ...  # may apply go ahead?

    def progress(self) -> Progress: ...


def connect(login: Login, pace: Pace, log: TextIO | None, say: Say) -> Target:
    """The PortSIP target signed in with `login`; bad usage when something is missing."""
    from generator.pbx.portsip.client import Client
    from generator.pbx.portsip.client import Login as Account
    from generator.pbx.portsip.target import PortSip

    if not login.pbx:
        raise UsageError("which PBX? pass --pbx URL or set PORTSIP_URL (e.g. https://pbx.example.com:8887/api)")
    if not login.username:
        raise UsageError("which account? pass --username NAME or set PORTSIP_USERNAME")
    if login.password_file is not None:
        from generator.secrets.sources import read_key_file

        password = read_key_file(login.password_file, "password file")
    else:
        password = os.environ.get("PORTSIP_PASSWORD", "")
    if not password:
        raise UsageError("no password: set PORTSIP_PASSWORD or pass --password-file FILE")
    check_ca_file(login.ca_file)  # whatever the scheme: a CA file that cannot be read is a mistake to say
    if login.insecure:
        say.line("warning: --insecure: the PBX's TLS certificate is not checked; anyone between here and the PBX "
                 "can read the password and the secrets sent")
    account = Account(login.pbx, login.username, password, login.domain, login.ca_file, login.insecure,
                      login.allow_http)
    client = Client(account, rate=pace.rate, log=log)
    if client.base.startswith("http://"):
        say.line("warning: --allow-http: the PBX is reached over plain http; anyone between here and the PBX can "
                 "read the password, the token and the secrets sent")
    return PortSip(client)


def _prepare(read: RosterRead, out: Path | None, login: Login, pace: Pace, options: Options, say: Say,
             *inputs: Path | None) -> TextIO | None:
    """Warnings printed as `generate` prints them, outputs checked and the log
    opened: all before the first request. Every file read is an input."""
    from generator.secrets.sources import open_to_others

    say.problems(read.warnings + open_to_others(login.password_file, "password file"))
    return check_outputs(out, pace.log, [*read.files, login.password_file, options.secrets, options.key_file,
                                         options.templates, login.ca_file, *inputs])


def _planned(roster: Path, options: Options, read: RosterRead, login: Login, rules: Rules, pace: Pace,
             log: TextIO | None, say: Say) -> tuple[Target, Plan]:
    target = connect(login, pace, log, say)
    try:
        made = plan(roster, options, target, rules.base, rules.prune, pace.parallel, read.users, rules.replacing,
                    rules.percent)
    except BaseException:
        target.close()
        raise
    return target, made


def _refused(made: Plan, rules: Rules, say: Say, applying: bool = True) -> bool:
    """Unused --replace names warned about; True when the plan is past its thresholds without --force."""
    replaced = {u.name for u in made.users if u.kind == "replace" or any(p.kind == "replace" for p in u.phones)}
    for name in rules.replace or ():
        if name not in replaced:
            say.line(f"warning: --replace {name}: the plan replaces no user of that name, nor a phone of one")
    refused = refusal(made, applying)
    if refused is None:
        return False
    if rules.force:
        say.line("warning: the plan is past its thresholds; --force: going on")
        return False
    say.line(f"error: {refused}")
    return True


def run_plan(roster: Path, options: Options, login: Login, rules: Rules, pace: Pace, out: Path | None,
             say: Say, exit_code: bool = False) -> int:
    """`plan`: the roster read (no secret needed), the PBX read, the plan shown
    and saved; the exit code (1 past the thresholds, 2 changes under --exit-code)."""
    read = read_roster(roster, replace(options, redact=True))  # a plan needs no secret
    log = _prepare(read, out, login, pace, options, say)
    try:
        target, made = _planned(roster, options, read, login, rules, pace, log, say)
        target.close()
    finally:
        if log is not None:
            log.close()
    say.plan(made)
    if out is not None:
        from generator.compare.formats import as_json
        from generator.write import write_output

        write_output(out, [as_json(made)])
    if _refused(made, rules, say, applying=False):
        return 1
    return 2 if exit_code and not made.empty else 0


def run_apply(roster: Path, options: Options, login: Login, rules: Rules, pace: Pace, saved: Path | None,
              yes: bool, say: Say) -> int:
    """`apply`: every secret at hand before any request, the plan made again
    (and held to a saved one), shown, confirmed and carried out; the exit code."""
    from generator.sync.apply import apply

    saved_plan = load_plan(saved) if saved is not None else None
    # Secrets not at hand get stand-ins: apply needs only those it sends, checked against the plan below.
    read = read_roster(roster, replace(options, lenient_secrets=True))
    log = _prepare(read, None, login, pace, options, say, saved)
    target = None
    try:
        target, made = _planned(roster, options, read, login, rules, pace, log, say)
        refuse_stand_ins(made, read.users, target)  # before any write
        if saved_plan is not None:
            check_saved(saved_plan, made)
        say.plan(made)
        if _refused(made, rules, say):
            return 1
        if made.empty:
            return 0
        acting = len(made.held) < len(made.users)
        if acting and not yes and not say.confirm():
            say.line("nothing changed on the PBX")
            return 1
        progress = say.progress()
        try:
            with stopping() as stop:  # SIGINT, SIGTERM: finish the users in flight, start no other
                outcome = apply(made, target, read.wanted, pace.parallel,
                                lambda done, total: progress.tick("applying", done, total, every=1), stop)
        except KeyboardInterrupt:
            progress.clear()
            say.line("interrupted while applying: what was done stays done; run plan to see what is left")
            return 130
        progress.clear()
        for line in outcome_lines(outcome, made, roster):
            say.line(line)
        if stop.is_set():
            for line in stopped_lines(stop, outcome, roster):
                say.line(line)
            return stop.code
        if outcome.refusing:
            for line in refused_lines(outcome, roster):
                say.line(line)
            return 1
        say.line(f"applied: {counted(len(outcome.done), 'user')} done, {len(outcome.failures)} failed"
                 + (f", {len(outcome.held)} held back" if outcome.held else "")
                 + f" ({counted(target.requests, 'request')})")
        return 1 if outcome.failures or outcome.held else 0
    finally:
        if target is not None:
            target.close()
        if log is not None:
            log.close()


def outcome_lines(outcome, made: Plan, roster: Path) -> list[str]:
    """Each failure in the PBX's words; a user a replace deleted and did not
    make again, in plain words; each user held back."""
    loses = {u.name: u.loses for u in made.users}
    lines = []
    for failure in outcome.failures:
        lines.append(printable(f"failed: user {failure.user}: {failure.step}: {failure.status or 'no answer'}: "
                               f"{failure.message}"))
        if failure.lost:
            gone = printable("; ".join(loses.get(failure.user) or [])) or "nothing the API shows"
            lines.append(f"LOST: user {failure.user} was deleted from the PBX and is NOT on it now. Gone with it: "
                         f"{gone}. Fix the cause above, then run `portsip-roster apply {roster}` again: it makes the "
                         f"user anew (a create).")
    held = set(outcome.held)
    lines += [f"held back: user {u.name}: nothing sent; {u.held}" for u in made.users if u.name in held]
    return lines


def shown(made: Plan, style: str, colour: bool = False) -> str:
    """The plan in `style` (a --format name); colour in text only."""
    from generator.compare.formats import FORMATS, as_text

    return as_text(made, colour) if style == "text" else FORMATS[style](made)


def pbx_errors_as_usage(action: Callable[[], int | None]) -> int | None:
    """`action` run; a PBX that refuses or cannot be reached (PbxError) is
    said as bad usage, in printable words: the PBX's text is hostile input."""
    try:
        return action()
    except PbxError as exc:
        raise UsageError(printable(f"the PBX: {exc.path}: {exc}")) from exc
