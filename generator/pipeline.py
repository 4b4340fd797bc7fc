"""The stages in order: load, validate, resolve, secrets, check, render, and
the commands built on them. Returns results; raises RosterInvalid (exit 1) or
UsageError (exit 2). Only `import_to` writes files; the CLI writes the rest."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from generator.check import check
from generator.diff import Plan, Table, compare, read_table
from generator.errors import Problem, RosterInvalid, UsageError
from generator.importer import Imported, import_export, pick_column_set, read_export, to_yaml
from generator.load import Document, load_includes, load_text, read_yaml
from generator.policy import from_roster
from generator.render import ColumnSet, iter_rows, load_column_set, versions, with_extra_columns
from generator.resolve import ResolvedUser, resolve
from generator.revision import at_revision, git_show
from generator.secrets import fill, literal_problems, load_secrets_file, masked, sources, unused_entries
from generator.validate import Validation, validate
from generator.write import csv_chunks, write_atomic


@dataclass(frozen=True)
class Options:
    """How to run: everything but the roster itself, as the command line gave it."""

    version: str | None = None  # overrides the roster's pbx_version
    templates: Path | None = None  # a folder of column sets instead of the built-in ones
    secrets: Path | None = None  # the --secrets file
    key_file: Path | None = None  # the master key, instead of the environment
    bom: bool = False
    redact: bool = False  # mask every secret in the output (so none need be at hand)
    exclude: frozenset[str] = frozenset()  # users checked but not written (--since: they exist already)
    allow_formulas: bool = False  # text cells may start with = + - @ (a spreadsheet runs them)
    lenient_secrets: bool = False  # a secret not at hand is a warning and a stand-in, not an error


@dataclass
class Resolved:
    document: Document
    included: list[Document]
    column_set: ColumnSet
    users: list[ResolvedUser]
    problems: list[Problem]  # errors and warnings, in file order

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.warning]


def _order(problems: list[Problem]) -> list[Problem]:
    unique = dict.fromkeys(problems)  # one line per problem, first seen kept
    return sorted(unique, key=lambda p: (p.file, p.line, p.col, p.message))


def load_roster(path: Path, display: str | None = None) -> tuple[Document, list[Document], Validation]:
    """Load the roster and the files it includes, and schema-check them all;
    raises when nothing further can be checked."""
    document, problems = read_yaml(path, "roster file", display)
    if problems:
        raise RosterInvalid(_order(problems))
    included, problems = load_includes(document, path)
    if problems:
        raise RosterInvalid(_order(problems))
    validation = validate(document)
    for shared in included:
        more = validate(shared, included=True)
        validation.problems += more.problems
        validation.blocking |= bool(more.problems)
    if validation.blocking:
        raise RosterInvalid(_order(validation.problems))
    return document, included, validation


def pick_version(document: Document, version: str | None, templates: Path | None) -> str:
    """--pbx-version wins; else the roster's pbx_version, which must name a column set."""
    if version:
        return version
    chosen = document.data.get("pbx_version")
    known = versions(templates)
    if not chosen:
        raise UsageError(f"which PBX version? set pbx_version in the roster or pass "
                         f"--pbx-version ({', '.join(known)})")
    if chosen not in known:
        line, col = document.where(("pbx_version",))
        message = f"no column set for PBX version {chosen!r} (known: {', '.join(known)})"
        raise RosterInvalid([Problem(document.file, line, col, None, "pbx_version", message)])
    return chosen


def _secret_sources(document: Document, options: Options) -> tuple:
    if options.secrets is None:
        return sources(document, options.key_file), []
    secrets_file, problems = load_secrets_file(options.secrets, str(options.secrets))
    given = sources(document, options.key_file, secrets_file)
    names = {str(u.get("name")) for u in document.data.get("users") or [] if isinstance(u, dict)}
    return given, problems + unused_entries(names, given)


@contextmanager
def few_collections() -> Iterator[None]:
    """Python's cycle collector off for one run: a large roster allocates
    millions of small objects, and rescanning them all again and again cost
    about half the load time. The roster's data holds no cycles to collect."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def resolve_roster(path: Path, options: Options = Options(), display: str | None = None) -> Resolved:
    """Load, validate, resolve, fill secrets and check; problems are collected, not raised."""
    with few_collections():
        return _resolve_roster(path, options, display)


def _resolve_roster(path: Path, options: Options, display: str | None) -> Resolved:
    document, included, validation = load_roster(path, display)
    column_set = load_column_set(pick_version(document, options.version, options.templates), options.templates)
    column_set, problems = with_extra_columns(column_set, document)
    policy, policy_problems = from_roster(document, column_set.version, column_set.password_min_length)
    problems += policy_problems
    given, file_problems = _secret_sources(document, options)
    users, resolve_problems = resolve(document, included, skip=validation.bad_users)
    problems += file_problems + resolve_problems + validation.problems
    problems += fill(users, given, policy, lenient=options.lenient_secrets or options.redact)
    problems += check(users, column_set, policy, options.allow_formulas)
    return Resolved(document, included, column_set, users, _order(problems))


@dataclass
class Generated:
    """A checked roster ready to be written. The rows are made while the
    text is written (`chunks`), so a large CSV is never all in memory; a cell
    template that fails then raises RosterInvalid before anything is kept."""

    column_set: ColumnSet
    users: list[ResolvedUser]
    warnings: list[Problem]
    bom: bool = False

    @property
    def count(self) -> int:
        return len(self.users)

    def chunks(self) -> Iterator[str]:
        return csv_chunks(self.column_set.columns, iter_rows(self.users, self.column_set), self.bom)

    @property
    def text(self) -> str:
        return "".join(self.chunks())


def generate(path: Path, options: Options = Options(), display: str | None = None) -> Generated:
    """The CSV text and any warnings; RosterInvalid when there is any error."""
    resolved = resolve_roster(path, options, display)
    if resolved.errors:
        raise RosterInvalid(resolved.problems)
    users = [user for user in resolved.users if user.name not in options.exclude]
    if options.redact:
        users = [replace(user, fields=masked(user.fields)) for user in users]
    return Generated(resolved.column_set, users, resolved.warnings, options.bom)


def is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def table(path: Path, options: Options, display: str) -> Table:
    """A roster or a CSV as a table of cells, for comparing. A roster's secrets
    that cannot be had here become stand-ins: only whether they changed matters."""
    if is_csv(path):
        try:
            return read_table(path.read_bytes().decode("utf-8"), display)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {display}: {getattr(exc, 'strerror', None) or exc}") from exc
    text = generate(path, replace(options, lenient_secrets=True, bom=False), display).text
    return read_table(text, display)


def table_at(path: Path, options: Options, rev: str | None) -> Table:
    if rev is None:
        if not path.is_file():
            raise UsageError(f"no file at {path}")
        return table(path, options, str(path))
    with at_revision(path, rev) as old:
        return table(old, options, f"{path} at {rev}")


def names_at(path: Path, rev: str | None) -> set[str]:
    """The user names of a roster or CSV, now or at `rev`; no checks, as the
    old version only tells which users already exist."""
    if rev is None and not path.is_file():
        raise UsageError(f"no file at {path}")
    data = git_show(path, rev) if rev else path.read_bytes()
    if is_csv(path):
        return set(read_table(data.decode("utf-8", "replace"), str(path)).rows)
    document, problems = load_text(data.decode("utf-8", "replace"), str(path))
    if problems:
        raise RosterInvalid(problems)
    users = document.data.get("users") if isinstance(document.data, dict) else None
    return {str(u["name"]) for u in users or [] if isinstance(u, dict) and "name" in u}


class Result(NamedTuple):
    roster: Path
    generated: Generated


def generate_all(rosters: list[Path], options: Options, since: str | None = None) -> list[Result]:
    """Every roster, or none: the problems of all of them in one RosterInvalid.

    `since` is an older roster or CSV file, or else a git revision of each
    roster; users whose names it has are checked but not written."""
    results, problems = [], []
    for roster in rosters:
        try:
            mine = options
            if since is not None:
                old = Path(since)
                existing = names_at(old, None) if old.is_file() else names_at(roster, since)
                mine = replace(options, exclude=frozenset(existing))
            results.append(Result(roster, generate(roster, mine, display=str(roster))))
        except RosterInvalid as exc:
            problems += exc.problems
    if problems:
        raise RosterInvalid(problems)
    return results


@dataclass
class Freshness:
    """How a CSV on disk compares with what its roster generates."""

    target: Path
    roster: Path
    state: str  # "current", "stale" or "missing"
    plan: Plan | None = None  # for a stale file: what differs (empty when only the bytes do)


def freshness(result: Result, target: Path) -> Freshness:
    if not target.is_file():
        return Freshness(target, result.roster, "missing")
    try:
        current = target.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {target}: {exc.strerror}") from exc
    with few_collections():
        text = result.generated.text
    if current == text.encode("utf-8"):
        return Freshness(target, result.roster, "current")
    plan = compare(read_table(current.decode("utf-8", "replace"), str(target)), read_table(text, str(result.roster)))
    return Freshness(target, result.roster, "stale", plan)


def validate_all(rosters: list[Path], options: Options, no_literal_secrets: bool = False) -> list[Resolved]:
    """Every roster checked; the errors of all of them in one RosterInvalid
    (with the warnings, so that nothing is lost)."""
    results, problems = [], []
    for roster in rosters:
        try:
            resolved = resolve_roster(roster, options, display=str(roster))
        except RosterInvalid as exc:
            problems += exc.problems
            continue
        documents = [resolved.document, *resolved.included]
        literals = [p for d in documents for p in literal_problems(d)] if no_literal_secrets else []
        if resolved.errors or literals:
            problems += _order([*resolved.problems, *literals])
        results.append(resolved)
    if problems:
        raise RosterInvalid(problems)
    return results


def import_file(path: Path, templates: Path | None = None, literal_secrets: bool = False) -> Imported:
    """A PortSIP export as a roster (and its secrets); the version is told by the header."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    export = read_export(data, str(path))
    column_sets = [load_column_set(v, templates) for v in versions(templates)]
    return import_export(export, pick_column_set(export.header, column_sets, str(path)), literal_secrets)


def round_trip(export: Path, roster: Path, options: Options) -> Plan:
    """What generating the imported roster changes against the export: nothing, when all is well."""
    before = table(export, options, str(export))
    after = read_table(generate(roster, options, str(roster)).text, str(roster))
    return compare(before, after)


@dataclass
class ImportResult:
    imported: Imported
    secrets_file: Path | None  # where the secrets went, if the export had any
    problems: list[Problem]  # the new roster's, when the export's values break a rule
    plan: Plan | None  # what generating the new roster changes against the export


def import_to(export: Path, roster: Path, secrets_file: Path | None, templates: Path | None = None,
              force: bool = False) -> ImportResult:
    """Write the roster (and the secrets file) made from `export`, then
    generate it and compare with the export. `secrets_file` None: keep the
    secrets in the roster."""
    for target in (roster, secrets_file):
        if target is not None and target.exists() and not force:
            raise UsageError(f"{target} exists; pass --force to overwrite it")
    imported = import_file(export, templates, literal_secrets=secrets_file is None)
    comment = f"Imported from {export.name} (PortSIP {imported.version}, {imported.users} users) by portsip-roster."
    if imported.secrets:
        comment += f"\nPasswords and PINs are in {secrets_file.name}: generate with --secrets {secrets_file.name}."
    try:
        write_atomic(roster, to_yaml(imported.roster, comment))
        if imported.secrets:
            write_atomic(secrets_file, to_yaml(imported.secrets, "Secrets by user name. Keep this file out of git."))
    except OSError as exc:
        raise UsageError(f"cannot write: {exc.strerror}") from exc
    kept = secrets_file if imported.secrets else None
    try:
        plan = round_trip(export, roster, Options(templates=templates, secrets=kept))
    except RosterInvalid as exc:
        return ImportResult(imported, kept, exc.problems, None)
    return ImportResult(imported, kept, [], plan)
