"""Column sets: `templates/<version>.yaml` read, checked and compiled once.

A column set is the columns of a PBX version's CSV in order, each with a
Jinja expression for its cell. Loading one is all a run needs of it before
rendering, which is render.py's alone.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from jinja2 import TemplateError

from generator.errors import RosterInvalid, UsageError
from generator.load import Document, load_file
from generator.model import ColumnSet, Problem
from generator.resources import data_dir
from generator.sandbox import expression

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
