"""`diff`: what a change to a roster (or between two CSVs) does to the PBX.

Both sides are compared as CSV tables, whatever they came from, so a roster
can be compared with an export. Users are matched by name; inside JSON cells
changes are reported per leaf (`phones[0].mac`). Secret values never leave
this module: a changed secret is reported as changed, without its value.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field
from typing import Any

from generator.errors import dotted
from generator.secrets import SECRET_KEYS


@dataclass
class Table:
    """A CSV: its columns, and each row by user name, in file order."""

    label: str
    columns: list[str]
    rows: dict[str, dict[str, str]]


def read_table(text: str, label: str) -> Table:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = next(reader, [])
    rows = {}
    for row in reader:
        if any(row):
            cells = dict(zip(header, row))
            rows[cells.get("name", "")] = cells
    return Table(label, header, rows)


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

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.columns_added or self.columns_removed)


def _cell_data(cell: str) -> Any:
    if cell[:1] in ("{", "["):
        try:
            return json.loads(cell)
        except ValueError:
            return cell
    return cell


def _leaves(value: Any, path: tuple) -> dict[tuple, Any]:
    if isinstance(value, dict) and value:
        out = {}
        for key, inner in value.items():
            out.update(_leaves(inner, (*path, key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, inner in enumerate(value):
            out.update(_leaves(inner, (*path, i)))
        return out
    return {path: value}


_MISSING = object()


def _is_secret(path: tuple) -> bool:
    return isinstance(path[-1], str) and path[-1] in SECRET_KEYS


def cell_changes(column: str, old: str | None, new: str | None) -> list[Change]:
    before = _leaves(_cell_data(old), (column,)) if old is not None else {}
    after = _leaves(_cell_data(new), (column,)) if new is not None else {}
    changes = []
    for path in [*before, *(p for p in after if p not in before)]:
        a, b = before.get(path, _MISSING), after.get(path, _MISSING)
        if a == b:
            continue
        if _is_secret(path):
            changes.append(Change(dotted(path), secret=True))
        else:
            changes.append(Change(dotted(path), None if a is _MISSING else a, None if b is _MISSING else b))
    return changes


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
        changes = [c for col in columns for c in cell_changes(col, row.get(col), other.get(col))]
        if changes:
            plan.changed.append(UserChange(name, other.get("extension_number", ""), changes))
    return plan


# ---- formats ---------------------------------------------------------------

def _value(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def _summary(plan: Plan) -> str:
    return f"{len(plan.added)} added, {len(plan.removed)} removed, {len(plan.changed)} changed"


ADDED = "Added: importing the CSV creates them"
REMOVED = "Removed: delete them in the portal (an import never deletes a user)"
CHANGED = "Changed: edit them in the portal (an import does not update a user that exists)"


def as_text(plan: Plan) -> str:
    if plan.empty:
        return f"no differences ({plan.old} -> {plan.new})\n"
    lines = [f"{_summary(plan)} ({plan.old} -> {plan.new})"]
    if plan.columns_added or plan.columns_removed:
        lines.append(f"columns added: {', '.join(plan.columns_added) or '-'}; "
                     f"removed: {', '.join(plan.columns_removed) or '-'}")
    for title, mark, users in ((ADDED, "+", plan.added), (REMOVED, "-", plan.removed), (CHANGED, "~", plan.changed)):
        if not users:
            continue
        lines += ["", f"{title}:"]
        for user in users:
            lines.append(f"  {mark} {user.name}  (extension {user.extension})")
            for change in user.changes:
                if change.secret:
                    lines.append(f"      {change.field}: changed (secret, not shown)")
                else:
                    lines.append(f"      {change.field}: {_value(change.old)} -> {_value(change.new)}")
    return "\n".join(lines) + "\n"


def _code(value: Any) -> str:
    return f"<code>{html.escape(_value(value))}</code>"


def as_markdown(plan: Plan) -> str:
    lines = [f"### PortSIP roster plan: {_summary(plan)}", "",
             f"<code>{html.escape(plan.old)}</code> → <code>{html.escape(plan.new)}</code>", ""]
    if plan.empty:
        return "\n".join([*lines, "No differences."]) + "\n"
    if plan.columns_added or plan.columns_removed:
        lines += [f"Columns added: {', '.join(plan.columns_added) or '-'}; "
                  f"removed: {', '.join(plan.columns_removed) or '-'}", ""]
    for title, users in ((ADDED, plan.added), (REMOVED, plan.removed), (CHANGED, plan.changed)):
        if not users:
            continue
        lines += [f"**{title}**", ""]
        for user in users:
            lines.append(f"- <code>{html.escape(user.name)}</code> (extension {html.escape(user.extension)})")
            for change in user.changes:
                shown = "changed (secret, not shown)" if change.secret else \
                    f"{_code(change.old)} → {_code(change.new)}"
                lines.append(f"  - <code>{html.escape(change.field)}</code>: {shown}")
        lines.append("")
    return "\n".join(lines)


def as_json(plan: Plan) -> str:
    def user(u: UserChange) -> dict:
        return {"name": u.name, "extension": u.extension}

    def change(c: Change) -> dict:
        return {"field": c.field, "secret": True} if c.secret else {"field": c.field, "old": c.old, "new": c.new}

    data = {
        "old": plan.old,
        "new": plan.new,
        "added": [user(u) for u in plan.added],
        "removed": [user(u) for u in plan.removed],
        "changed": [{**user(u), "changes": [change(c) for c in u.changes]} for u in plan.changed],
        "columns": {"added": plan.columns_added, "removed": plan.columns_removed},
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


FORMATS = {"text": as_text, "markdown": as_markdown, "json": as_json}
