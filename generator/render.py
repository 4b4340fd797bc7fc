"""Stage 5, render: resolved users to CSV rows through a version's column set.

A column set is `templates/<version>.yaml`: the columns in order, each with a
Jinja expression for its cell, compiled once. A cell that is just
`user.<field>` (most of them) is read without Jinja; the others run in the
sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from generator import progress
from generator.errors import Problem, RosterInvalid, UsageError
from generator.load import Document, load_file
from generator.memo import ByIdentity
from generator.resolve import ResolvedUser
from generator.resources import data_dir
from generator.sandbox import ENV


@lru_cache(maxsize=4096)
def _jsonb_keys(keys: tuple[str, ...]) -> tuple[tuple[str, ...], Callable[[dict], tuple]]:
    """The keys in jsonb order, and a getter of their values in that order."""
    ordered = tuple(sorted(keys, key=lambda k: (len(k.encode()), k.encode())))
    getter = itemgetter(*ordered) if len(ordered) > 1 else (lambda d: (d[ordered[0]],) if ordered else ())
    return ordered, getter


def jsonb_order(value: Any) -> Any:
    """Keys as PostgreSQL jsonb stores them (shorter first, then bytewise),
    which is how a real PortSIP export orders them. Values are fetched and
    the mapping rebuilt in C; only nested mappings and lists go round again."""
    if type(value) is list:
        return [jsonb_order(v) if type(v) in (dict, list) else v for v in value]
    if type(value) is not dict:
        return value
    ordered, getter = _jsonb_keys(tuple(value))
    values = getter(value)
    out = dict(zip(ordered, values))
    if not _CONTAINERS.isdisjoint(map(type, values)):
        for key, inner in out.items():
            if type(inner) in _CONTAINERS:
                out[key] = jsonb_order(inner)
    return out


_CONTAINERS = frozenset({dict, list})


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def to_json(value: Any) -> str:
    return _ENCODER.encode(jsonb_order(value))


def cell_text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (dict, list)):
        return to_json(value)
    if value is None:
        return ""
    return str(value)


def _pick(mapping: dict, keys: Iterable[str]) -> dict:
    return {k: mapping[k] for k in keys if k in mapping}


def _pick_each(items: Iterable[dict], keys: Iterable[str]) -> list[dict]:
    keys = tuple(keys)
    wanted = _keyset(keys)
    return [item if item.keys() <= wanted else _pick(item, keys) for item in items]


@lru_cache(maxsize=64)
def _keyset(keys: tuple[str, ...]) -> frozenset[str]:
    return frozenset(keys)


ENV.filters["pick"] = _pick
ENV.filters["pick_each"] = _pick_each
ENV.filters["json"] = to_json


@dataclass
class ColumnSet:
    version: str
    document: Document
    columns: list[str]
    cells: list[str]
    phone_keys: list[str]
    password_min_length: int

    @property
    def fields(self) -> list[str | None]:
        """Per cell, the user field it is when it is exactly `user.<field>`
        (read directly, the common case); None where Jinja must evaluate it."""
        return [m.group(1) if (m := _PLAIN_FIELD.match(cell)) else None for cell in self.cells]


_PLAIN_FIELD = re.compile(r"^\s*user\.([A-Za-z_][A-Za-z0-9_]*)\s*$")


def versions(templates: Path | None = None) -> list[str]:
    folder = templates or data_dir("templates")
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _structure_problems(document: Document) -> list[Problem]:
    data = document.data
    where = document.where
    wrong = []
    if not isinstance(data, dict):
        return [Problem(document.file, 1, 1, None, None, "a column set must be a mapping")]
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
    if not isinstance(data.get("password_min_length", 6), int):
        wrong.append((("password_min_length",), "password_min_length must be a whole number"))
    return [Problem(document.file, *where(path), None, None, msg) for path, msg in wrong]


@lru_cache(maxsize=256)
def _expression(cell: str):
    return ENV.compile_expression(cell, undefined_to_none=False)


def _check_cells(document: Document, cells: list[str]) -> None:
    """Each cell must be a single expression: compiled once here, so a broken
    one is reported where the column set is, before any row is made."""
    problems = []
    for i, cell in enumerate(cells):
        try:
            _expression(cell)
        except TemplateError as exc:
            line, col = document.where(("columns", i, "cell"))
            problems.append(Problem(document.file, line, col, None, None,
                                    f"cell template is not one Jinja expression: {exc}"))
    if problems:
        raise RosterInvalid(problems)


def load_column_set(version: str, templates: Path | None = None) -> ColumnSet:
    folder = templates or data_dir("templates")
    path = folder / f"{version}.yaml"
    if not path.is_file():
        known = ", ".join(versions(folder)) or "none"
        raise UsageError(f"no column set for PBX version {version!r} in {folder} (known: {known})")
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
        columns=[c["name"] for c in data["columns"]],
        cells=cells,
        phone_keys=[str(k) for k in data.get("phone_keys", [])],
        password_min_length=data.get("password_min_length", 6),
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
            problems.append(Problem(document.file, line, col, None, "extra_columns", f"{name!r} is a column already"))
            continue
        if after is not None and after not in columns:
            problems.append(Problem(document.file, line, col, None, "extra_columns", f"no column {after!r} to follow"))
            continue
        at = columns.index(after) + 1 if after is not None else len(columns)
        quoted = json.dumps(name)
        columns.insert(at, name)
        cells.insert(at, f"user.extra[{quoted}] if {quoted} in user.extra else ''")
    if not specs or problems:
        return column_set, problems
    return replace(column_set, columns=columns, cells=cells), []


class _Row:
    """Renders rows of one column set: plain `user.<field>` cells are read
    directly, the rest evaluated by their compiled Jinja expression. JSON text
    is remembered per value object, since users share the values of the layers
    they merged (a default's office hours are one object for every user)."""

    def __init__(self, column_set: ColumnSet):
        self.column_set = column_set
        self.plan = [(name, None if name else _expression(cell)) for name, cell in
                     zip(column_set.fields, column_set.cells)]
        self.json = ByIdentity(to_json)

    def text(self, value: Any) -> str:
        return self.json(value) if isinstance(value, (dict, list)) else cell_text(value)

    def __call__(self, user: ResolvedUser) -> list[str]:
        fields, keys, text = user.fields, self.column_set.phone_keys, self.text
        row = []
        for name, expression in self.plan:
            # A missing field fails here as Jinja's StrictUndefined would.
            value = fields[name] if name is not None else expression(user=fields, phone_keys=keys)
            row.append(value if type(value) is str else text(value))
        return row


def _failing_columns(user: ResolvedUser, column_set: ColumnSet, error: Exception) -> list[Problem]:
    """Which cells fail for this user; only run once a row has failed."""
    problems = []
    for i, (name, cell) in enumerate(zip(column_set.columns, column_set.cells)):
        try:
            cell_text(_expression(cell)(user=user.fields, phone_keys=column_set.phone_keys))
        except Exception as exc:  # noqa: BLE001 - an admin's template may raise anything
            line, col = column_set.document.where(("columns", i, "cell"))
            problems.append(Problem(column_set.document.file, line, col, user.name, name,
                                    f"cell template failed: {exc}"))
    # Never lose a row silently, even if no single cell fails on its own.
    return problems or [Problem(column_set.document.file, 1, 1, user.name, None, f"row failed: {error}")]


def iter_rows(users: list[ResolvedUser], column_set: ColumnSet) -> Iterator[list[str]]:
    """Rows in roster order, made as they are asked for (so a large CSV is
    never all in memory). A cell template that fails is a located problem:
    once one has, no more rows are given, every other user is still tried,
    and RosterInvalid carries all of them at the end."""
    failed = []
    row = _Row(column_set)
    for done, user in enumerate(users):
        progress.tick("writing users", done, len(users))
        try:
            made = row(user)
        except Exception as exc:  # noqa: BLE001 - located per column below
            failed.extend(_failing_columns(user, column_set, exc))
            continue
        if not failed:
            yield made
    if failed:
        raise RosterInvalid(failed)

