"""The stages in order: load, validate, resolve, check, render. Returns results;
raises RosterInvalid (exit 1) or UsageError (exit 2). Writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from generator.check import check
from generator.errors import Problem, RosterInvalid, UsageError
from generator.load import Document, load_file
from generator.policy import from_roster
from generator.render import ColumnSet, load_column_set, render, versions
from generator.resolve import ResolvedUser, resolve
from generator.secrets import fill, load_secrets_file, masked, sources, unused_entries
from generator.validate import Validation, validate
from generator.write import csv_text


@dataclass(frozen=True)
class Options:
    """How to run: everything but the roster itself, as the command line gave it."""

    version: str | None = None  # overrides the roster's pbx_version
    templates: Path | None = None  # a folder of column sets instead of the built-in ones
    secrets: Path | None = None  # the --secrets file
    key_file: Path | None = None  # the master key, instead of the environment
    bom: bool = False
    redact: bool = False  # mask every secret in the output


@dataclass
class Resolved:
    document: Document
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


def load_roster(path: Path, display: str | None = None) -> tuple[Document, Validation]:
    """Load and schema-check; raises when nothing further can be checked."""
    if not path.is_file():
        raise UsageError(f"no roster file at {path}")
    try:
        document, problems = load_file(path, display)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    if problems:
        raise RosterInvalid(_order(problems))
    validation = validate(document)
    if validation.blocking:
        raise RosterInvalid(_order(validation.problems))
    return document, validation


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


def resolve_roster(path: Path, options: Options = Options(), display: str | None = None) -> Resolved:
    """Load, validate, resolve, fill secrets and check; problems are collected, not raised."""
    document, validation = load_roster(path, display)
    column_set = load_column_set(pick_version(document, options.version, options.templates), options.templates)
    policy, problems = from_roster(document, column_set.version, column_set.password_min_length)
    given, file_problems = _secret_sources(document, options)
    users, resolve_problems = resolve(document, skip=validation.bad_users)
    problems += file_problems + resolve_problems + validation.problems
    problems += fill(users, given, policy)
    problems += check(users, column_set, policy)
    return Resolved(document, column_set, users, _order(problems))


class Generated(NamedTuple):
    text: str
    warnings: list[Problem]
    count: int  # users written


def generate(path: Path, options: Options = Options(), display: str | None = None) -> Generated:
    """The CSV text and any warnings; RosterInvalid when there is any error."""
    resolved = resolve_roster(path, options, display)
    if resolved.errors:
        raise RosterInvalid(resolved.problems)
    users = resolved.users
    if options.redact:
        users = [replace(user, fields=masked(user.fields)) for user in users]
    rows = render(users, resolved.column_set)
    return Generated(csv_text(resolved.column_set.columns, rows, options.bom), resolved.warnings, len(rows))
