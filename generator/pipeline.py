"""The stages in order: load, validate, resolve, check, render. Returns results;
raises RosterInvalid (exit 1) or UsageError (exit 2). Writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from generator.check import check
from generator.errors import Problem, RosterInvalid, UsageError
from generator.load import Document, load_file
from generator.render import ColumnSet, load_column_set, render, versions
from generator.resolve import ResolvedUser, resolve
from generator.validate import Validation, validate
from generator.write import csv_text


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


def resolve_roster(path: Path, version: str | None = None, templates: Path | None = None,
                   display: str | None = None) -> Resolved:
    """Load, validate, resolve and check; problems are collected, not raised."""
    document, validation = load_roster(path, display)
    column_set = load_column_set(pick_version(document, version, templates), templates)
    users, problems = resolve(document, skip=validation.bad_users)
    problems += validation.problems + check(users, column_set)
    return Resolved(document, column_set, users, _order(problems))


class Generated(NamedTuple):
    text: str
    warnings: list[Problem]
    count: int  # users written


def generate(path: Path, version: str | None = None, templates: Path | None = None,
             bom: bool = False, display: str | None = None) -> Generated:
    """The CSV text and any warnings; RosterInvalid when there is any error."""
    resolved = resolve_roster(path, version, templates, display)
    if resolved.errors:
        raise RosterInvalid(resolved.problems)
    rows = render(resolved.users, resolved.column_set)
    return Generated(csv_text(resolved.column_set.columns, rows, bom), resolved.warnings, len(rows))
