"""Stage 5, render: resolved users to CSV rows through a version's column set.

A column set is `templates/<version>.yaml`: the columns in order, each with a
Jinja expression for its cell, compiled once. A cell that is just
`user.<field>` (most of them) is read without Jinja; the others run in the
sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jinja2 import TemplateError

from generator.cells import cell_text, to_json
from generator.errors import RosterInvalid, UsageError
from generator.load import Document, load_file
from generator.memo import ByIdentity
from generator.model import ColumnSet, Problem, ResolvedUser
from generator.progress import Progress
from generator.resources import data_dir
from generator.sandbox import begin, end, expression

# The range PortSIP's password policy allows (tenant_password_policy); a
# column set asking for more could never be met.
PASSWORD_MIN_LENGTH_RANGE = (1, 32)


def unknown_version(version: str, known: list[str], templates: Path | None = None) -> str:
    """Words for a version with no column set; "22" gets "did you mean v22?"."""
    hint = f"; did you mean v{version}?" if f"v{version}" in known else ""
    where = f" in {templates}" if templates is not None else ""
    return f"unknown PBX version {version!r}{where} (known: {', '.join(known) or 'none'}){hint}"


def versions(templates: Path | None = None) -> list[str]:
    folder = templates or data_dir("templates")
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _structure_problems(document: Document) -> list[Problem]:
    data = document.data
    wrong = []
    if not isinstance(data, dict):
        return [_column_set_problem(document, (), "a column set must be a mapping")]
    columns = data.get("columns")
    if not isinstance(columns, list) or not columns:
        wrong.append(((), "needs a non-empty columns: list"))
        columns = []
    for i, column in enumerate(columns):
        if not (isinstance(column, dict) and isinstance(column.get("name"), str)
                and isinstance(column.get("cell"), str)):
            wrong.append((("columns", i), "each column needs name: and cell: (text)"))
    if not isinstance(data.get("phone_keys", []), list):
        wrong.append((("phone_keys",), "phone_keys must be a list"))
    limits = data.get("max_lengths", {})
    if not isinstance(limits, dict) or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                                               and v > 0 for k, v in limits.items()):
        wrong.append((("max_lengths",), "max_lengths must map field names to whole numbers above 0"))
    low, high = PASSWORD_MIN_LENGTH_RANGE
    minimum = data.get("password_min_length", 6)
    if not isinstance(minimum, int) or isinstance(minimum, bool) or not low <= minimum <= high:
        wrong.append((("password_min_length",), f"password_min_length must be a whole number from {low} to {high}"))
    return [_column_set_problem(document, path, message) for path, message in wrong]


def _column_set_problem(document: Document, path: tuple, message: str, code: str = "column-set") -> Problem:
    line, col = document.where(path)
    return Problem(file=document.file, line=line, col=col, code=code, message=message)


def _check_cells(document: Document, cells: list[str]) -> None:
    """Each cell must be a single expression: compiled once here, so a broken
    one is reported where the column set is, before any row is made."""
    problems = []
    for i, cell in enumerate(cells):
        try:
            expression(cell)
        except TemplateError as exc:
            problems.append(_column_set_problem(document, ("columns", i, "cell"),
                                                f"cell template is not one Jinja expression: {exc}"))
    if problems:
        raise RosterInvalid(problems)


def load_column_set(version: str, templates: Path | None = None) -> ColumnSet:
    folder = templates or data_dir("templates")
    path = folder / f"{version}.yaml"
    if not path.is_file():
        raise UsageError(unknown_version(version, versions(templates), templates))
    document, problems = load_file(path, display=str(path))
    problems = problems or _structure_problems(document)
    if problems:
        raise RosterInvalid(problems)
    data = document.data
    cells = [c["cell"] for c in data["columns"]]
    _check_cells(document, cells)
    return ColumnSet(
        version=version,
        document=document,
        columns=tuple(c["name"] for c in data["columns"]),
        cells=tuple(cells),
        phone_keys=tuple(str(k) for k in data.get("phone_keys", [])),
        password_min_length=data.get("password_min_length", 6),
        max_lengths=MappingProxyType(dict(data.get("max_lengths") or {})),
    )


def with_extra_columns(column_set: ColumnSet, document: Document) -> tuple[ColumnSet, list[Problem]]:
    """The column set with the roster's `extra_columns` put in place; each
    cell is the user's `extra.<name>`, or empty."""
    specs = document.data.get("extra_columns") or []
    columns, cells, problems = list(column_set.columns), list(column_set.cells), []
    for i, spec in enumerate(specs):
        name, after = (spec, None) if isinstance(spec, str) else (spec["name"], spec.get("after"))
        line, col = document.where(("extra_columns", i))
        if name in columns:
            problems.append(Problem(file=document.file, line=line, col=col, code="column-set", field="extra_columns",
                                    message=f"{name!r} is a column already"))
            continue
        if after is not None and after not in columns:
            problems.append(Problem(file=document.file, line=line, col=col, code="column-set", field="extra_columns",
                                    message=f"no column {after!r} to follow"))
            continue
        at = columns.index(after) + 1 if after is not None else len(columns)
        quoted = json.dumps(name)
        columns.insert(at, name)
        cells.insert(at, f"user.extra[{quoted}] if {quoted} in user.extra else ''")
    if not specs or problems:
        return column_set, problems
    return replace(column_set, columns=tuple(columns), cells=tuple(cells)), []


class _Row:
    """Renders rows of one column set: plain `user.<field>` cells are read
    directly, the rest evaluated by their compiled Jinja expression. JSON text
    is remembered per value object, since users share the values of the layers
    they merged (a default's office hours are one object for every user)."""

    def __init__(self, column_set: ColumnSet):
        self.column_set = column_set
        self.plan = [(name, None if name else expression(cell)) for name, cell in
                     zip(column_set.fields, column_set.cells)]
        self.json = ByIdentity(to_json)

    def text(self, value: Any) -> str:
        return self.json(value) if isinstance(value, (dict, list)) else cell_text(value)

    def __call__(self, user: ResolvedUser) -> list[str]:
        if all(name is not None for name, _ in self.plan):
            return self._cells(user)  # no template: nothing to bound
        # One bound for the row's templates together (time and work: sandbox.begin).
        saved = begin()
        try:
            return self._cells(user)
        finally:
            end(saved)

    def _cells(self, user: ResolvedUser) -> list[str]:
        fields, keys, text = user.fields, self.column_set.phone_keys, self.text
        row = []
        for name, compiled in self.plan:
            # A missing field fails here as Jinja's StrictUndefined would.
            value = fields[name] if name is not None else compiled(user=fields, phone_keys=keys)
            row.append(value if type(value) is str else text(value))
        return row


def _failing_columns(user: ResolvedUser, column_set: ColumnSet, error: Exception) -> list[Problem]:
    """Which cells fail for this user; only run once a row has failed."""
    problems = []
    for i, (name, cell) in enumerate(zip(column_set.columns, column_set.cells)):
        saved = begin()
        try:
            cell_text(expression(cell)(user=user.fields, phone_keys=column_set.phone_keys))
        except Exception as exc:  # noqa: BLE001 - an admin's template may raise anything
            line, col = column_set.document.where(("columns", i, "cell"))
            problems.append(Problem(file=column_set.document.file, line=line, col=col, code="cell-template",
                                    user=user.name, field=name, message=f"cell template failed: {exc}"))
        finally:
            end(saved)
    # Never lose a row silently, even if no single cell fails on its own.
    return problems or [Problem(file=column_set.document.file, line=1, col=1, code="cell-template",
                                user=user.name, message=f"row failed: {error}")]


@dataclass
class Rendered:
    """Rows made as they are asked for, so a large CSV is never all in memory.
    A cell template that fails is a problem here: once one has, no more rows
    are given (the writer keeps nothing), and every other user is still tried
    so that all failures are known once `rows` is used up."""

    column_set: ColumnSet
    users: list[ResolvedUser]
    progress: Progress | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def header(self) -> list[str]:
        return list(self.column_set.columns)

    def rows(self) -> Iterator[list[str]]:
        self.problems.clear()
        row = _Row(self.column_set)
        for done, user in enumerate(self.users):
            if self.progress:
                self.progress.tick("writing users", done, len(self.users))
            try:
                made = row(user)
            except Exception as exc:  # noqa: BLE001 - located per column below
                self.problems.extend(_failing_columns(user, self.column_set, exc))
                continue
            if not self.problems:
                yield made


def render(users: list[ResolvedUser], column_set: ColumnSet, progress: Progress | None = None) -> Rendered:
    return Rendered(column_set, users, progress)
