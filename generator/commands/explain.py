"""`explain`: one user, field by field, with the layer and line each value came from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generator.errors import RosterInvalid, UsageError
from generator.model import MASK, SECRET_KEYS, Problem, ResolvedUser, dotted
from generator.pipeline import Options, Resolved, run


def _leaves(value: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _leaves(inner, (*path, key))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, inner in enumerate(value):
            yield from _leaves(inner, (*path, i))
    else:
        yield path, value


def _shown(path: tuple, value: Any) -> str:
    if path[-1] in SECRET_KEYS and value not in ("", None):
        return MASK
    return json.dumps(value, ensure_ascii=False)


def find_user(resolved: Resolved, name: str) -> ResolvedUser:
    for user in resolved.users:
        if user.name == name:
            return user
    known = ", ".join(u.name for u in resolved.users[:10])
    more = ", ..." if len(resolved.users) > 10 else ""
    raise UsageError(f"no user {name!r} in the roster (users: {known}{more})")


def explain(resolved: Resolved, name: str) -> list[str]:
    user = find_user(resolved, name)
    column_set = resolved.column_set
    rows = []
    for field in [*column_set.columns, "extra"]:
        if field not in user.fields:
            continue
        for path, value in _leaves(user.fields[field], (field,)):
            if path[0] == "phones" and len(path) > 2 and path[2] not in column_set.phone_keys:
                continue
            found = user.origin(path)
            if found:
                layer, sub = found
                file, line, col = layer.position(sub)
                how = "computed in " if path in user.computed else ""
                if path in user.secret_sources:
                    how = f"{user.secret_sources[path]}, as set in "
                source = f"{how}{layer.label} ({file}:{line}:{col})"
            else:
                source = "?"
            rows.append((dotted(path), _shown(path, value), source))
    width = max(len(r[0]) for r in rows)
    value_width = min(max(len(r[1]) for r in rows), 48)
    header = f"user {user.name}, PBX {column_set.version}: value, then where it came from"
    return [header] + [f"{f:<{width}}  {v:<{value_width}}  {s}" for f, v, s in rows]


def explain_user(roster: Path, options: Options, user: str) -> tuple[list[str], list[Problem], int]:
    """`explain`: USER's lines; the problems to show with them (the user's own,
    and the warnings that hold for every user: the key, the secrets file); the
    exit code. RosterInvalid when there is nothing to explain yet."""
    resolved = run(roster, options, display=str(roster))
    mine = [p for p in resolved.problems if p.user == user or (p.user is None and not p.warning)]
    if resolved.column_set is None or (mine and all(u.name != user for u in resolved.users)):
        raise RosterInvalid(mine or list(resolved.problems))
    shown = [p for p in resolved.problems if (p.user == user or p.user is None) and p.code != "secret-unchecked"]
    return explain(resolved, user), shown, 1 if any(not p.warning for p in mine) else 0
