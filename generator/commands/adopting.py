"""`import --pbx`: a running tenant adopted into a compact roster.

Every user and phone is read through the Target (the same read, bounds and
refusals as `plan`), each turned back into roster fields by the target
(Target.roster_fields: secrets apart, hostile values left out and said), put
in extension order and made a compact roster (generator/compact.py) written
as YAML; the secrets the PBX answered go to an owner-only side file. Then
the roster is read back as `plan` reads it and planned against the tenant as
it was read (no second read): adoption is right when that plan is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generator.columns import load_column_set
from generator.commands.options import Login, Pace
from generator.commands.sync import Say, read_roster
from generator.compact import compact_roster
from generator.compare.plan import Plan
from generator.errors import RosterInvalid, UsageError
from generator.model import Problem, counted, first_of, printable
from generator.pbx.base import Adopted, Target
from generator.pipeline import Options
from generator.schema import schema_document
from generator.sync.adopt import extension_order, summary
from generator.sync.plan import make_plan, roster_fields
from generator.write import check_output, same_file, write_atomic
from generator.yamlout import to_yaml


@dataclass
class AdoptResult:
    users: int  # written to the roster
    left_out: int  # users the roster cannot name (said in the notes)
    secrets_file: Path | None  # where the answered secrets went, if the PBX answered any
    generated: int  # secrets the PBX did not answer: the roster generates them
    notes: list[str] = field(default_factory=list)  # summarised, printable
    problems: list[Problem] = field(default_factory=list)  # the new roster's, when the PBX's values break a rule
    plan: Plan | None = None  # the roster planned against the tenant as read (empty: adoption is right)
    pruned: list[str] = field(default_factory=list)  # what a --prune run would delete: what adoption left out
    version: str = ""


def check_targets(roster: Path, secrets_file: Path, force: bool, inputs: list[Path | None]) -> None:
    """Before any request: neither file is overwritten without --force, nor is either one an input."""
    for target in (roster, secrets_file):
        if target.exists() and not force:
            raise UsageError(f"{target} exists; pass --force to overwrite it")
    if same_file(roster, secrets_file):
        raise UsageError(f"the roster and the secrets file are both {roster}; name two files")
    for target in (roster, secrets_file):
        check_output(target, inputs, "the roster" if target == roster else "the secrets file")


def roster_columns(version: str, templates: Path | None) -> list[str]:
    """The version's CSV columns first (a person's order), then every other
    field a roster user may hold (the API-only ones), in the schema's order."""
    columns = list(load_column_set(version, templates).columns)
    fields = schema_document()["$defs"]["userFields"]["properties"]
    return columns + [name for name in fields if name not in columns]


def adopted_roster(adopted: list[Adopted], version: str, templates: Path | None) -> tuple[dict, dict]:
    """(roster document, secrets by user name) for the users the roster can name, in extension order."""
    kept = [a for a in extension_order(adopted) if a.fields is not None]
    roster = compact_roster([a.fields for a in kept], roster_columns(version, templates), version)
    return roster, {a.name: a.secrets for a in kept if a.secrets}


def adopt_to(target: Target, roster: Path, secrets_file: Path, parallel: int = 4,
             templates: Path | None = None) -> AdoptResult:
    """Read every user of `target`, write the roster (and the secrets file,
    owner-only), then plan the roster against what was read. The two files
    are checked (check_targets) by the caller, before any request."""
    if not target.roster_version:
        raise UsageError(f"{target.label or 'this PBX'} cannot be adopted into a roster")
    target.open()
    actual = target.read_users(parallel)
    adopted = [target.roster_fields(user["detail"], user["phones"]) for user in actual.values()]
    document, secrets = adopted_roster(adopted, target.roster_version, templates)
    users = len(document["users"])
    comment = (f"Adopted from the PBX by portsip-roster import --pbx (PortSIP {target.roster_version}, "
               f"{counted(users, 'user')}).")
    generated = sum(len(a.unanswered) for a in adopted if a.fields is not None)
    if secrets:
        comment += f"\nThe passwords and PINs the PBX answered are in {secrets_file.name}: pass --secrets " \
                   f"{secrets_file.name}."
    if generated:
        comment += "\nThe secrets the PBX did not answer are generated ({generate: true}) from a master key " \
                   "(--key-file or PORTSIP_ROSTER_KEY);\na plan without --base never compares the secrets of " \
                   "users already on the PBX, so none changes until you say so."
    try:
        write_atomic(roster, to_yaml(document, comment))
        if secrets:
            write_atomic(secrets_file, to_yaml(secrets, "Secrets by user name. Keep this file out of git."))
    except OSError as exc:
        raise UsageError(f"cannot write: {exc.strerror}") from exc
    result = AdoptResult(users, len(adopted) - users, secrets_file if secrets else None, generated,
                         summary([n for a in adopted for n in a.notes]), version=target.roster_version)
    options = Options(templates=templates, secrets=result.secrets_file, redact=True)  # a plan needs no secret
    try:
        users = read_roster(roster, options).users
    except RosterInvalid as exc:
        result.problems = exc.problems
        return result
    result.problems = target.refusals(users)  # what the PBX's API cannot express, as `plan` refuses it
    if result.problems:
        return result
    wanted = {user.name: roster_fields(user) for user in users}
    result.plan = make_plan(target, wanted, actual, set(), prune=False)
    result.pruned = prune_deletes(make_plan(target, wanted, actual, set(), prune=True))
    return result


def prune_deletes(made: Plan) -> list[str]:
    """The users and phones a plan deletes ("ann", "ann's phone 0c:38:..."):
    after adoption, what the roster left out and a --prune run would delete."""
    gone = [printable(entry.name[:64]) for entry in made.users if entry.kind == "delete"]  # the PBX's names
    gone += [f"{printable(entry.name[:64])}'s phone {printable(phone.mac[:40])}" for entry in made.users
             if entry.kind != "delete" for phone in entry.phones if phone.kind == "delete"]
    return gone


# ---- the workflow `import --pbx` runs, for the CLI to call ---------------------------------------------


def run_adopt(login: Login, pace: Pace, output: Path, secrets_file: Path, force: bool, templates: Path | None,
              say: Say) -> int:
    """`import --pbx`: the outputs checked and the log opened before the
    first request, the tenant adopted into `output` (and `secrets_file`),
    what was written said, and the plan after it: exit 1 unless empty."""
    from generator.commands.sync import check_outputs, connect
    from generator.secrets.sources import open_to_others

    say.problems(open_to_others(login.password_file, "password file"))
    check_targets(output, secrets_file, force, [login.password_file, login.ca_file, templates, pace.log])
    log = check_outputs(None, pace.log, [output, secrets_file, login.password_file, login.ca_file, templates])
    target = None
    try:
        target = connect(login, pace, log, say)
        result = adopt_to(target, output, secrets_file, pace.parallel, templates)
    finally:
        if target is not None:
            target.close()
        if log is not None:
            log.close()
    return said(result, output, target.requests, say)


def said(result: AdoptResult, output: Path, requests: int, say: Say) -> int:
    """What adoption wrote, what it could not take (summarised), and the plan after it: exit 1 unless empty."""
    from generator.commands.revision import left_to_git_warning

    for line in result.notes:
        say.line(f"note: {line}")
    kept = f"; secrets in {result.secrets_file} (yours only: keep it out of git)" if result.secrets_file else ""
    warning = left_to_git_warning(result.secrets_file, "the secrets file")
    if warning:
        say.line(warning)
    left = f", {counted(result.left_out, 'user')} left out (above)" if result.left_out else ""
    say.line(f"wrote {output} ({counted(result.users, 'user')}, PBX {result.version}{left}; "
             f"{counted(requests, 'request')}){kept}")
    if result.generated:
        say.line(f"note: {counted(result.generated, 'secret')} the PBX did not answer: the roster generates them "
                 f"({{generate: true}}) from a master key (--key-file or PORTSIP_ROSTER_KEY) when you generate or "
                 f"apply; a plan without --base touches none")
    if result.problems:
        say.problems(result.problems)
        say.line(f"{output} is written, but the PBX's values break the rules above: fix them in the roster")
        return 1
    if not result.plan.empty:
        say.plan(result.plan)
        say.line("warning: plan after adoption: the roster differs from the PBX (above); fix it in the roster")
        return 1
    say.line("plan after adoption: nothing to do")
    if result.pruned:
        say.line(f"warning: the roster leaves out what it cannot hold (the notes above), and apply --prune deletes "
                 f"what the roster leaves out: {first_of(result.pruned, 10)}. Add them to the roster, or run apply "
                 f"without --prune")
    return 0
