"""Rosters and CSVs as tables of cells, and what differs between two of them.

Both sides are compared as CSV tables, whatever they came from, so a roster
can be compared with an export. Users are matched by name; inside JSON cells
changes are reported per leaf (`phones[0].mac`). A changed secret is reported
as changed, without its value.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from generator.commands.revision import git_show
from generator.compare.changes import Entry, cell_changes
from generator.compare.plan import Plan, Words
from generator.errors import RosterInvalid, UsageError
from generator.load import load_text


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



ADDED = "Added: importing the CSV creates them"
REMOVED = "Removed: delete them in the portal (an import never deletes a user)"
CHANGED = "Changed: edit them in the portal (an import does not update a user that exists)"
# diff's words: users grouped as added, removed and changed, under what each means for an import
DIFF = Words("PortSIP roster diff", (("create", ADDED, "added"), ("delete", REMOVED, "removed"),
                                     ("update", CHANGED, "changed")))


def compare(old: Table, new: Table, words: Words = DIFF) -> Plan:
    """Every user added, removed or changed from `old` to `new` (in `words`: diff's, or import's round trip)."""
    plan = Plan(words, old=old.label, new=new.label)
    plan.columns_added = [c for c in new.columns if c not in old.columns]
    plan.columns_removed = [c for c in old.columns if c not in new.columns]
    for name, row in new.rows.items():
        if name not in old.rows:
            plan.users.append(Entry("create", name, row.get("extension_number", "")))
    for name, row in old.rows.items():
        if name not in new.rows:
            plan.users.append(Entry("delete", name, row.get("extension_number", "")))
            continue
        other = new.rows[name]
        columns = [*old.columns, *(c for c in new.columns if c not in old.columns)]
        changes = []
        for column in columns:
            found, uncompared = cell_changes(column, row.get(column), other.get(column))
            changes += found
            plan.uncompared += uncompared
        if changes:
            plan.users.append(Entry("update", name, other.get("extension_number", ""), changes))
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
