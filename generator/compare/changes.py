"""One change model and the leaf-by-leaf comparison of two values, shared
by `diff` (two CSV tables) and `plan` (a roster against a PBX).

Inside JSON values changes are reported per leaf (`phones[0].mac`). A secret
is a Change with `secret` set: its value never reaches a change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from generator.model import SECRET_KEYS, dotted
from generator.secrets.fill import STAND_IN


@dataclass(frozen=True)
class Change:
    field: str
    old: Any = None
    new: Any = None
    secret: bool = False  # shown as changed/set, never its value


KINDS = ("create", "update", "replace", "delete")  # what an entry (a user, a phone) of a plan does


@dataclass
class PhoneEntry:
    kind: str  # one of KINDS
    mac: str
    changes: list[Change] = field(default_factory=list)
    id: str | None = None  # the PBX's, for update, replace and delete


@dataclass
class Entry:
    """One user in a comparison: what is done to it and why. `diff` fills
    kind, name, extension and changes (added, removed, changed are create,
    delete, update); `plan` the rest too."""

    kind: str  # one of KINDS
    name: str
    extension: str
    changes: list[Change] = field(default_factory=list)
    phones: list[PhoneEntry] = field(default_factory=list)
    id: str | None = None
    reason: str = ""  # why a replace
    held: str = ""  # why apply leaves this user alone this run, and what to pass to let it (a replace not asked for)
    loses: list[str] = field(default_factory=list)  # what deleting the user drops on the PBX, as read from it

MAX_CHANGES = 100  # one value changed in more places is shown as one whole-value change (a PBX can send 10^6)
MAX_JSON_DEPTH = 32  # a PortSIP value nests 4 levels; a roster (YAML) may nest 64 in all


class Unreadable:
    """A JSON cell that does not parse (cut short by Excel, or not JSON): it is
    compared as a whole and never shown, since it may hold phone passwords."""

    def __init__(self, text: str):
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unreadable) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


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


def cell_data(cell: str) -> Any:
    """A CSV cell as data: JSON where it reads as JSON, else the text."""
    if cell[:1] in ("{", "["):
        try:
            value = json.loads(cell)
        except (ValueError, RecursionError):
            return Unreadable(cell)
        return Unreadable(cell) if nests_too_deep(cell, value) else value
    return cell


def leaves(value: Any, path: tuple) -> dict[tuple, Any]:
    """Every leaf of `value` by its path (dicts by key, lists of dicts by index)."""
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

ZEROS_NOTE = "only leading zeros differ: was a file re-saved by a spreadsheet?"


def zeros_dropped(old: Any, new: Any) -> bool:
    """0201 and 201: what a spreadsheet makes of a number-like text it re-saves
    (either side may be the re-saved one)."""
    return (isinstance(old, str) and isinstance(new, str) and old != new and (old + new).isascii()
            and old.isdigit() and new.isdigit() and old.lstrip("0") == new.lstrip("0"))


def _is_secret(path: tuple, old: Any, new: Any) -> bool:
    """A secret field, or a cell that could not be read: neither is shown."""
    return (isinstance(path[-1], str) and path[-1] in SECRET_KEYS) or isinstance(old, Unreadable) \
        or isinstance(new, Unreadable)


def _stand_in(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(STAND_IN)


def _unset_secret(path: tuple, value: Any) -> bool:
    """A secret left out and one written empty are the same: not set (a door password)."""
    return isinstance(path[-1], str) and path[-1] in SECRET_KEYS and (value is _MISSING or value == "")


def _inner(paths: dict[tuple, Any]) -> set[tuple]:
    """Every path that has leaves below it: made once a cell, so that a cell
    of many leaves costs a look-up each, not a scan each."""
    return {path[:cut] for path in paths for cut in range(1, len(path))}


def _filled(path: tuple, empty: Any, other_inner: set[tuple]) -> bool:
    """An empty list or object (`phones: []`) where the other side has items
    under the same path: those items' own lines say the change."""
    return isinstance(empty, (list, dict)) and not empty and path in other_inner


def cell_changes(column: str, old: str | None, new: str | None) -> tuple[list[Change], int]:
    """The changes between two CSV cells, and how many secrets could not be
    compared (worked out on one side only: a real value is no stand-in)."""
    before = leaves(cell_data(old), (column,)) if old is not None else {}
    after = leaves(cell_data(new), (column,)) if new is not None else {}
    changes, uncompared = [], 0
    inner_before, inner_after = _inner(before), _inner(after)
    for path in [*before, *(p for p in after if p not in before)]:
        a, b = before.get(path, _MISSING), after.get(path, _MISSING)
        if a == b or (_unset_secret(path, a) and _unset_secret(path, b)):
            continue
        if (b is _MISSING and _filled(path, a, inner_after)) or (a is _MISSING and _filled(path, b, inner_before)):
            continue
        if _stand_in(a) != _stand_in(b) and a is not _MISSING and b is not _MISSING:
            uncompared += 1
            continue
        if _is_secret(path, a, b):
            changes.append(Change(dotted(path), secret=True))
        else:
            changes.append(Change(dotted(path), None if a is _MISSING else a, None if b is _MISSING else b))
    return changes, uncompared


def project(actual: Any, wanted: Any) -> Any:
    """`actual` cut to the shape of `wanted`: keys the roster does not set are
    the PBX's own business (defaults it adds, fields it alone knows)."""
    if isinstance(wanted, dict) and isinstance(actual, dict):
        return {k: project(actual[k], v) for k, v in wanted.items() if k in actual}
    if isinstance(wanted, list) and isinstance(actual, list) and len(wanted) == len(actual):
        return [project(a, w) for a, w in zip(actual, wanted)]
    return actual


def field_changes(name: str, old: Any, new: Any) -> list[Change]:
    """A roster value (`new`) against a PBX's (`old`), leaf by leaf; secrets
    are never compared (a PBX never gives one back). Past MAX_CHANGES leaves,
    one whole-value change."""
    if name in SECRET_KEYS:
        return []
    before, after = leaves(project(old, new), (name,)), leaves(new, (name,))
    changes = []
    for path in [*after, *(p for p in before if p not in after)]:
        a, b = before.get(path), after.get(path)
        if a != b and not (a is None and b in ("", [], {})):
            changes.append(Change(dotted(path), a, b))
    if len(changes) > MAX_CHANGES:
        return [Change(name, project(old, new), new)]
    return changes
