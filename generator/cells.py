"""Cell text: how a value is written in a CSV cell, JSON objects in the key
order a real PortSIP export has. Used by render, diff and import, and as
filters by the templates."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import lru_cache
from operator import itemgetter
from typing import Any


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


def pick(mapping: dict, keys: Iterable[str]) -> dict:
    return {k: mapping[k] for k in keys if k in mapping}


def pick_each(items: Iterable[dict], keys: Iterable[str]) -> list[dict]:
    keys = tuple(keys)
    wanted = _keyset(keys)
    return [item if item.keys() <= wanted else pick(item, keys) for item in items]


@lru_cache(maxsize=64)
def _keyset(keys: tuple[str, ...]) -> frozenset[str]:
    return frozenset(keys)
