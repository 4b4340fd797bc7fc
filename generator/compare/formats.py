"""The one renderer per format for every plan (diff's, import's round trip,
a sync's), and FORMATS, the registry (name -> renderer) the CLI takes its
--format choices from; and what they share: what may reach a terminal or a
page (printable, md), and whether to colour.

A plan whose Words group its users (diff, import) lists them under each
group's heading; one without (a sync) lists them in plan order, with what
apply does to each.

The sections a plan has are there when it has them: columns and secrets not
compared (diff), thresholds, notes and users left alone (a sync)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from generator.compare.changes import ZEROS_NOTE, Change, Entry, zeros_dropped
from generator.compare.plan import DEFAULT_LIMITS, Plan
from generator.model import counted, printable, printable_json


def wants_colour(stream: Any, environ: Mapping[str, str]) -> bool:
    """Colour on a terminal only; NO_COLOR (no-color.org) turns it off,
    FORCE_COLOR on where there is no terminal (a CI log that shows colour);
    FORCE_COLOR=0 or false turns it off (as Node and others read it), an
    empty one is as if unset."""
    if environ.get("NO_COLOR"):
        return False
    force = environ.get("FORCE_COLOR", "").strip().lower()
    if force in ("0", "false", "no", "off"):
        return False
    if force:
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and environ.get("TERM") != "dumb"


def painted(code: str, text: str) -> str:
    """`text` in an ANSI colour (`code`: 32 green, 33 yellow, 35 magenta, 31 red)."""
    return f"\x1b[{code}m{text}\x1b[0m"


def zeros(change: Change) -> str:
    """The note for a value whose leading zeros a spreadsheet dropped, or ""."""
    return f"  ({ZEROS_NOTE})" if zeros_dropped(change.old, change.new) else ""


# What GitHub would turn into markup inside a line: links and images (a ]
# before ( or [, and before : as a link definition), HTML and autolinks (<),
# entities (&), mentions (@), issue references (#), emphasis (* ~, and _
# where it can open or close), code (`), a backslash before punctuation,
# table pipes, math ($), and the bare-URL autolinks (://, www.). Anything
# else (the dots of quinn.hale, colons of a MAC, the arrow of a -> b, the
# brackets of ranges[0]) stays as it is.
_MARKUP = re.compile(r"\\(?=[!-/:-@\[-`{-~])|[`*~|<&@#$]|\](?=[(\[:])|(?<![^\W_])_|_(?![^\W_])|:(?=//)"
                     r"|(?<=www)\.", re.IGNORECASE)
# At a line's start a > is a quote and a [ may open a link definition.
_LINE_START = re.compile(r"^(\s*)([>\[])")
def dumped(data: Any) -> str:
    """Stable, printable JSON of a model's data, with its final newline."""
    return printable_json(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"


def md(text: object) -> str:
    """Text that GitHub shows as itself: no link, image, mention or HTML can
    come from a roster value (a display name such as [approve](https://...))."""
    flat = str(text).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    inline = _MARKUP.sub(lambda m: f"&#{ord(m.group())};", printable(flat))
    return _LINE_START.sub(lambda m: f"{m.group(1)}&#{ord(m.group(2))};", inline)


# ---- the plan's parts, in words ----------------------------------------------------

_MARKS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
# On a terminal: green to create, yellow to update, magenta to replace, red to delete.
_COLOURS = {"create": "32", "update": "33", "replace": "35", "delete": "31"}


def summary(plan: Plan) -> str:
    if plan.words.groups:
        return ", ".join(f"{len(plan.of_kind(kind))} {name}" for kind, _heading, name in plan.words.groups)
    return (f"{plan.count('create')} to create, {plan.count('update')} to update, {plan.count('replace')} to "
            f"replace, {plan.count('delete')} to delete, {len(plan.left_alone)} left alone"
            + (f", {len(plan.held)} held back" if plan.held else "") + _phones_summary(plan))


def _phones_summary(plan: Plan) -> str:
    """The phones apply makes, replaces or deletes, when there are any: the
    user counts alone said "0 to delete" of a plan deleting phones."""
    parts = [f"{plan.phones(kind)} to {kind}" for kind in ("create", "replace", "delete") if plan.phones(kind)]
    return f"; phones: {', '.join(parts)}" if parts else ""


def uncompared_note(plan: Plan) -> str:
    """Said once: secrets one side could not work out were left out of the comparison."""
    if not plan.uncompared:
        return ""
    return (f"{counted(plan.uncompared, 'secret')} not compared: one side could not work them out (no master key, "
            f"an unset variable or no --secrets file here); give the same sources to compare them")


def threshold_line(plan: Plan) -> str:
    """The thresholds and whether the plan is within them: one line, in every format."""
    parts = [_threshold(plan, kind) for kind in DEFAULT_LIMITS]
    verdict = f"OVER for {', '.join(plan.over)}: apply refuses this plan without --force" if plan.over else "within"
    return f"thresholds (share of the {plan.existing} users on the PBX): {', '.join(parts)}: {verdict}"


def _threshold(plan: Plan, kind: str) -> str:
    """One kind's count against its limit ("delete 3 (1 user, 2 phones; at most 2: 30%)")."""
    split = f"{plan.split(kind)}; " if plan.split(kind) else ""
    return f"{kind} {plan.weighed(kind)} ({split}at most {plan.limit(kind)}: {plan.percent[kind]}%)"


def _columns(plan: Plan) -> str:
    return f"added: {', '.join(plan.columns_added) or '-'}; removed: {', '.join(plan.columns_removed) or '-'}"


def _value(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def _shown(change: Change) -> str:
    """A change in plan order: a secret by what is done to it (set, change)."""
    if change.secret:
        return f"{change.field}: {change.new}"
    old, new = (json.dumps(v, ensure_ascii=False) for v in (change.old, change.new))
    return f"{change.field}: {old} -> {new}{zeros(change)}"


def _ordered(plan: Plan) -> list[tuple[int, str, str]]:
    """(depth, kind, text) for every user and change, in plan order; every
    text made printable (kind "" for a change)."""
    out = []
    for user in plan.users:
        head = f"{_MARKS[user.kind]} {user.name} (extension {user.extension})"
        out.append((0, user.kind, printable(head + (f": replace, {user.reason}" if user.reason else ""))))
        out += [(1, "", printable(f"held back: {user.held}"))] if user.held else []
        out += [(1, "", printable(f"loses: {'; '.join(user.loses)}"))] if user.loses else []
        out += [(1, "", printable(_shown(c))) for c in user.changes]
        for phone in user.phones:
            why = " (the API cannot change a phone's MAC, vendor, model or file)" if phone.kind == "replace" else ""
            out.append((1, phone.kind, printable(f"phone {phone.mac}: {phone.kind}{why}")))
            out += [(2, "", printable(_shown(c))) for c in phone.changes]
    return out


def _groups(plan: Plan) -> list[tuple[str, str, list[Entry]]]:
    """(kind, heading, users) of each group that has users."""
    found = [(kind, heading, plan.of_kind(kind)) for kind, heading, _name in plan.words.groups]
    return [group for group in found if group[2]]


# ---- text ------------------------------------------------------------------------------


def as_text(plan: Plan, colour: bool = False) -> str:
    return _grouped_text(plan, colour) if plan.words.groups else _ordered_text(plan, colour)


def _grouped_text(plan: Plan, colour: bool) -> str:
    note = f"{uncompared_note(plan)}\n" if plan.uncompared else ""
    if plan.empty:
        return f"{printable(f'no differences ({plan.old} -> {plan.new})')}\n{note}"
    lines: list = [f"{summary(plan)} ({plan.old} -> {plan.new})"] + ([note.rstrip()] if note else [])
    if plan.columns_added or plan.columns_removed:
        lines.append(f"columns {_columns(plan)}")
    for kind, heading, users in _groups(plan):
        lines += ["", f"{heading}:"]
        for user in users:
            head = f"{_MARKS[kind]} {user.name}  (extension {user.extension})"
            lines.append((kind, head) if colour else f"  {head}")
            for change in user.changes:
                if change.secret:
                    lines.append(f"      {change.field}: changed (secret, not shown)")
                else:
                    lines.append(f"      {change.field}: {_value(change.old)} -> {_value(change.new)}"
                                 + zeros(change))
    return "\n".join(_printed(line) for line in lines) + "\n"


def _printed(line: str | tuple[str, str]) -> str:
    """A line made printable; a user's (kind, head) in its colour."""
    if isinstance(line, tuple):
        kind, head = line
        return f"  {painted(_COLOURS[kind], printable(head))}"
    return printable(line)


def _ordered_text(plan: Plan, colour: bool) -> str:
    def paint(kind: str, text: str) -> str:
        return painted(_COLOURS[kind], text) if colour and kind in _COLOURS else text

    lines = [f"plan for {printable(plan.pbx)}: {summary(plan)}", threshold_line(plan),
             *(f"note: {printable(note)}" for note in plan.notes)]
    lines += ["    " * depth + paint(kind, text) for depth, kind, text in _ordered(plan)]
    if plan.left_alone:
        names = ", ".join(map(printable, plan.left_alone))
        lines.append(f"left alone (on the PBX, not in the roster; --prune deletes them): {names}")
    if plan.empty:
        lines.append("nothing to do: the PBX matches the roster" + (" (but see the notes)" if plan.notes else ""))
    return "\n".join(lines) + "\n"


# ---- markdown ----------------------------------------------------------------------------


def as_markdown(plan: Plan) -> str:
    return _grouped_markdown(plan) if plan.words.groups else _ordered_markdown(plan)


def _code(value: Any) -> str:
    return f"<code>{md(_value(value))}</code>"


def _grouped_markdown(plan: Plan) -> str:
    lines = [f"### {plan.words.title}: {summary(plan)}", "",
             f"<code>{md(plan.old)}</code> → <code>{md(plan.new)}</code>", ""]
    if plan.uncompared:
        lines += [md(uncompared_note(plan)), ""]
    if plan.empty:
        return "\n".join([*lines, "No differences."]) + "\n"
    if plan.columns_added or plan.columns_removed:
        lines += [f"Columns added: {md(', '.join(plan.columns_added) or '-')}; "
                  f"removed: {md(', '.join(plan.columns_removed) or '-')}", ""]
    for _kind, heading, users in _groups(plan):
        lines += [f"**{heading}**", ""]
        for user in users:
            lines.append(f"- <code>{md(user.name)}</code> (extension {md(user.extension)})")
            for change in user.changes:
                shown = "changed (secret, not shown)" if change.secret else \
                    f"{_code(change.old)} → {_code(change.new)}{md(zeros(change))}"
                lines.append(f"  - <code>{md(change.field)}</code>: {shown}")
        lines.append("")
    return "\n".join(lines)


def _ordered_markdown(plan: Plan) -> str:
    lines = [f"### {plan.words.title}: {md(summary(plan))}", "", f"PBX <code>{md(plan.pbx)}</code>", ""]
    lines += [md(threshold_line(plan)), ""]
    for note in plan.notes:
        lines += [f"Note: {md(note)}", ""]
    for depth, _kind, text in _ordered(plan):
        lines.append("  " * depth + f"- <code>{md(text)}</code>")
    if plan.left_alone:
        names = ", ".join(f"<code>{md(name)}</code>" for name in plan.left_alone)
        lines += ["", f"Left alone (on the PBX, not in the roster): {names}"]
    if plan.empty:
        lines += [*([""] if plan.left_alone else []),
                  "Nothing to do: the PBX matches the roster" + (" (but see the notes)." if plan.notes else ".")]
    return "\n".join(lines) + "\n"


# ---- json --------------------------------------------------------------------------------


def as_json(plan: Plan) -> str:
    """Stable JSON; a character that could drive a terminal is written as a
    \\u escape, which reads back as the same string. A sync's plan is what
    `plan --out` saves: its data, notes and fingerprint."""
    if not plan.words.groups:
        return dumped({**plan.as_data(), "notes": plan.notes, "fingerprint": plan.fingerprint})

    def user(u: Entry) -> dict:
        return {"name": u.name, "extension": u.extension}

    def change(c: Change) -> dict:
        return {"field": c.field, "secret": True} if c.secret else {"field": c.field, "old": c.old, "new": c.new}

    data: dict = {"old": plan.old, "new": plan.new}
    for kind, _heading, name in plan.words.groups:
        data[name] = [{**user(u), "changes": [change(c) for c in u.changes]} if kind == "update" else user(u)
                      for u in plan.of_kind(kind)]
    data["columns"] = {"added": plan.columns_added, "removed": plan.columns_removed}
    data["secrets_not_compared"] = plan.uncompared
    return dumped(data)


FORMATS: dict[str, Callable[[Plan], str]] = {"text": as_text, "markdown": as_markdown, "json": as_json}
