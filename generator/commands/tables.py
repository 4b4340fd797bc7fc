"""Rosters and CSVs as tables of cells, and what differs between two of them.

Both sides are compared as CSV tables, whatever they came from, so a roster
can be compared with an export. Users are matched by name; inside JSON cells
changes are reported per leaf (`phones[0].mac`). A changed secret is reported
as changed, without its value.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.commands.revision import git_show
from generator.errors import RosterInvalid, UsageError
from generator.load import load_text
from generator.model import SECRET_KEYS, dotted
from generator.secrets.fill import STAND_IN


@dataclass
class Table:
    """A CSV: its columns, and each row by user name, in file order."""

    label: str
    columns: list[str]
    rows: dict[str, dict[str, str]]
    warnings: list = field(default_factory=list)  # a roster's, for the command to print


MAX_CELL = 1_000_000  # characters; Excel cuts a cell at 32,767, PortSIP's longest is far below this


def csv_rows(text: str, label: str) -> list[list[str]]:
    """Every row of a CSV; a cell past MAX_CELL or a broken quote is bad usage, said by row."""
    csv.field_size_limit(MAX_CELL)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        return list(reader)
    except csv.Error as exc:
        raise UsageError(f"{label}: row {reader.line_num}: not a CSV this tool reads ({exc})") from exc


def canonical_header(header: list[str], known: frozenset[str]) -> list[str]:
    """Column names as PortSIP spells them, whatever their case ("Password" is password)."""
    by_fold = {name.casefold(): name for name in known}
    return [by_fold.get(h.strip().casefold(), h.strip()) for h in header]


def read_table(text: str, label: str) -> Table:
    rows_read = csv_rows(text, label)
    header = canonical_header(rows_read[0], _known_columns()) if rows_read else []
    rows = {}
    for row in rows_read[1:]:
        if any(row):
            cells = dict(zip(header, row))
            rows[cells.get("name", "")] = cells
    return Table(label, header, rows)


def _known_columns() -> frozenset[str]:
    from generator.schema import facts

    known = facts()
    return known.user_fields | known.phone_fields


@dataclass(frozen=True)
class Change:
    field: str
    old: Any = None
    new: Any = None
    secret: bool = False


@dataclass
class UserChange:
    name: str
    extension: str
    changes: list[Change] = field(default_factory=list)


@dataclass
class Plan:
    old: str
    new: str
    added: list[UserChange] = field(default_factory=list)
    removed: list[UserChange] = field(default_factory=list)
    changed: list[UserChange] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    uncompared: int = 0  # secrets that could be worked out on one side only

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.columns_added or self.columns_removed)


class Unreadable:
    """A JSON cell that does not parse (cut short by Excel, or not JSON): it is
    compared as a whole and never shown, since it may hold phone passwords."""

    def __init__(self, text: str):
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unreadable) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


MAX_JSON_DEPTH = 32  # a PortSIP value nests 4 levels; a roster (YAML) may nest 64 in all


def nests_too_deep(cell: str, value: Any) -> bool:
    """Whether the JSON `value` (read from `cell`) nests more than
    MAX_JSON_DEPTH lists or objects: walking, dumping or comparing it would
    exhaust Python's recursion, and no roster could hold it. Walked without
    recursion, and only when the text has that many brackets at all."""
    if cell.count("[") + cell.count("{") <= MAX_JSON_DEPTH:
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        if children and depth > MAX_JSON_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _cell_data(cell: str) -> Any:
    if cell[:1] in ("{", "["):
        try:
            value = json.loads(cell)
        except (ValueError, RecursionError):
            return Unreadable(cell)
        return Unreadable(cell) if nests_too_deep(cell, value) else value
    return cell


def leaves(value: Any, path: tuple) -> dict[tuple, Any]:
    if isinstance(value, dict) and value:
        out = {}
        for key, inner in value.items():
            out.update(leaves(inner, (*path, key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, inner in enumerate(value):
            out.update(leaves(inner, (*path, i)))
        return out
    return {path: value}


_MISSING = object()


def _is_secret(path: tuple, old: Any, new: Any) -> bool:
    """A secret field, or a cell that could not be read: neither is shown."""
    return (isinstance(path[-1], str) and path[-1] in SECRET_KEYS) or isinstance(old, Unreadable) \
        or isinstance(new, Unreadable)


def _stand_in(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(STAND_IN)


ZEROS_NOTE = "only leading zeros differ: was a file re-saved by a spreadsheet?"


def zeros_dropped(old: Any, new: Any) -> bool:
    """0201 and 201: what a spreadsheet makes of a number-like text it re-saves
    (either side may be the re-saved one)."""
    return (isinstance(old, str) and isinstance(new, str) and old != new and (old + new).isascii()
            and old.isdigit() and new.isdigit() and old.lstrip("0") == new.lstrip("0"))


def _unset_secret(path: tuple, value: Any) -> bool:
    """A secret left out and one written empty are the same: not set (a door password)."""
    return isinstance(path[-1], str) and path[-1] in SECRET_KEYS and (value is _MISSING or value == "")


def cell_changes(column: str, old: str | None, new: str | None) -> tuple[list[Change], int]:
    """The changes between two cells, and how many secrets could not be
    compared (worked out on one side only: a real value is no stand-in)."""
    before = leaves(_cell_data(old), (column,)) if old is not None else {}
    after = leaves(_cell_data(new), (column,)) if new is not None else {}
    changes, uncompared = [], 0
    for path in [*before, *(p for p in after if p not in before)]:
        a, b = before.get(path, _MISSING), after.get(path, _MISSING)
        if a == b or (_unset_secret(path, a) and _unset_secret(path, b)):
            continue
        if _stand_in(a) != _stand_in(b) and a is not _MISSING and b is not _MISSING:
            uncompared += 1
            continue
        if _is_secret(path, a, b):
            changes.append(Change(dotted(path), secret=True))
        else:
            changes.append(Change(dotted(path), None if a is _MISSING else a, None if b is _MISSING else b))
    return changes, uncompared


def compare(old: Table, new: Table) -> Plan:
    plan = Plan(old.label, new.label)
    plan.columns_added = [c for c in new.columns if c not in old.columns]
    plan.columns_removed = [c for c in old.columns if c not in new.columns]
    for name, row in new.rows.items():
        if name not in old.rows:
            plan.added.append(UserChange(name, row.get("extension_number", "")))
    for name, row in old.rows.items():
        if name not in new.rows:
            plan.removed.append(UserChange(name, row.get("extension_number", "")))
            continue
        other = new.rows[name]
        columns = [*old.columns, *(c for c in new.columns if c not in old.columns)]
        changes = []
        for column in columns:
            found, uncompared = cell_changes(column, row.get(column), other.get(column))
            changes += found
            plan.uncompared += uncompared
        if changes:
            plan.changed.append(UserChange(name, other.get("extension_number", ""), changes))
    return plan




def is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def names_at(path: Path, rev: str | None) -> set[str]:
    """The user names of a roster or CSV, now or at `rev`; no checks, as the
    old version only tells which users already exist."""
    if rev is None and not path.is_file():
        raise UsageError(f"no file at {path}")
    data = git_show(path, rev) if rev else path.read_bytes()
    if is_csv(path):
        return set(read_table(data.decode("utf-8", "replace"), str(path)).rows)
    document, problems = load_text(data.decode("utf-8", "replace"), str(path))
    if document.data is None and problems:
        raise RosterInvalid(problems)
    users = document.data.get("users") if isinstance(document.data, dict) else None
    return {str(u["name"]) for u in users or [] if isinstance(u, dict) and "name" in u}
