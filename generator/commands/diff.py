"""`diff`: what a change to a roster (or between two CSVs) does to the PBX,
in words for a terminal, a pull request (markdown) or a script (json).
Secret values never reach these: a changed secret shows as changed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from generator.commands.generate import generate
from generator.commands.revision import at_revision, exists_at
from generator.commands.tables import Change, Plan, Table, UserChange, is_csv, read_table
from generator.compare.formats import (  # noqa: F401 - md, printable, wants_colour: the CLI and tests take them here
    dumped,
    md,
    printable,
    printable_json,
    registry,
    wants_colour,
    zeros,
)
from generator.errors import UsageError
from generator.model import counted
from generator.pipeline import Options


def table(path: Path, options: Options, display: str) -> Table:
    """A roster or a CSV as a table of cells, for comparing. A roster's secrets
    that cannot be had here become stand-ins: only whether they changed matters."""
    if is_csv(path):
        try:
            with open(path, "rb") as handle:
                return read_table(handle.read().decode("utf-8"), display)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {display}: {getattr(exc, 'strerror', None) or exc}") from exc
    generated = generate(path, replace(options, lenient_secrets=True), display)
    made = read_table(generated.text(), display)
    # a secret not at hand is the "not compared" note, not a warning per user
    made.warnings = [p for p in generated.warnings if p.code != "secret-unchecked"]
    return made


def table_at(path: Path, options: Options, rev: str | None) -> Table:
    if rev is None:
        if not path.exists():
            raise UsageError(f"no file at {path}")
        return table(path, options, str(path))
    with at_revision(path, rev) as old:
        return table(old, options, f"{path} at {rev}")


def tables(old: Path, new: Path | None, options: Options, base: str | None) -> tuple[Table, Table]:
    """The two sides of a diff. A roster new since `base` is compared with an
    empty one of the same columns: every user is an addition."""
    after = table_at(new or old, options, None)
    if base is not None and new is None and not exists_at(old, base):
        return Table(f"{old} at {base} (not there yet)", list(after.columns), {}), after
    return table_at(old, options, base), after


def _value(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def _summary(plan: Plan) -> str:
    return f"{len(plan.added)} added, {len(plan.removed)} removed, {len(plan.changed)} changed"


ADDED = "Added: importing the CSV creates them"
REMOVED = "Removed: delete them in the portal (an import never deletes a user)"
CHANGED = "Changed: edit them in the portal (an import does not update a user that exists)"


def uncompared_note(plan: Plan) -> str:
    """Said once: secrets one side could not work out were left out of the comparison."""
    if not plan.uncompared:
        return ""
    return (f"{counted(plan.uncompared, 'secret')} not compared: one side could not work them out (no master key, "
            f"an unset variable or no --secrets file here); give the same sources to compare them")


# The same headings for import's round-trip check, where OLD is the export and NEW the roster made from it.
ROUND_TRIP = ("Only in the roster (not in the export)", "In the export, but not given back by the roster",
              "Not given back as exported: generating the roster writes these cells otherwise")
_COLOURS = {"+": "32", "-": "31", "~": "33"}  # added green, removed red, changed yellow


def as_text(plan: Plan, colour: bool = False, titles: tuple[str, str, str] = (ADDED, REMOVED, CHANGED)) -> str:
    note = f"{uncompared_note(plan)}\n" if plan.uncompared else ""
    if plan.empty:
        return f"no differences ({plan.old} -> {plan.new})\n{note}"
    lines: list = [f"{_summary(plan)} ({plan.old} -> {plan.new})"] + ([note.rstrip()] if note else [])
    if plan.columns_added or plan.columns_removed:
        lines.append(f"columns added: {', '.join(plan.columns_added) or '-'}; "
                     f"removed: {', '.join(plan.columns_removed) or '-'}")
    for title, mark, users in zip(titles, "+-~", (plan.added, plan.removed, plan.changed)):
        if not users:
            continue
        lines += ["", f"{title}:"]
        for user in users:
            head = f"{mark} {user.name}  (extension {user.extension})"
            lines.append((mark, head) if colour else f"  {head}")
            for change in user.changes:
                if change.secret:
                    lines.append(f"      {change.field}: changed (secret, not shown)")
                else:
                    lines.append(f"      {change.field}: {_value(change.old)} -> {_value(change.new)}"
                                 + zeros(change))
    return "\n".join(_painted(line) for line in lines) + "\n"


def _painted(line: str | tuple[str, str]) -> str:
    """A line made printable; a user's (mark, head) in its colour."""
    if isinstance(line, tuple):
        mark, head = line
        return f"  \x1b[{_COLOURS[mark]}m{printable(head)}\x1b[0m"
    return printable(line)


def _code(value: Any) -> str:
    return f"<code>{md(_value(value))}</code>"


def as_markdown(plan: Plan) -> str:
    lines = [f"### PortSIP roster diff: {_summary(plan)}", "",
             f"<code>{md(plan.old)}</code> → <code>{md(plan.new)}</code>", ""]
    if plan.uncompared:
        lines += [md(uncompared_note(plan)), ""]
    if plan.empty:
        return "\n".join([*lines, "No differences."]) + "\n"
    if plan.columns_added or plan.columns_removed:
        lines += [f"Columns added: {md(', '.join(plan.columns_added) or '-')}; "
                  f"removed: {md(', '.join(plan.columns_removed) or '-')}", ""]
    for title, users in ((ADDED, plan.added), (REMOVED, plan.removed), (CHANGED, plan.changed)):
        if not users:
            continue
        lines += [f"**{title}**", ""]
        for user in users:
            lines.append(f"- <code>{md(user.name)}</code> (extension {md(user.extension)})")
            for change in user.changes:
                shown = "changed (secret, not shown)" if change.secret else \
                    f"{_code(change.old)} → {_code(change.new)}{md(zeros(change))}"
                lines.append(f"  - <code>{md(change.field)}</code>: {shown}")
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
        "secrets_not_compared": plan.uncompared,
    }
    return dumped(data)


FORMATS = registry(as_text, as_markdown, as_json)
