"""YAML as a person would write it, that the roster loader reads back to the
same data: block style for the outline, one line per small mapping, every
string YAML 1.1 or 1.2 could misread quoted. Used for imported and adopted
rosters and secrets files.

Written here rather than by PyYAML's emitter: the data is only mappings,
lists, text, whole numbers, true/false and null, and PyYAML's pure-Python
emitter took most of the time of adopting a large tenant (3 s for 1,000
users, now 0.4 s, the same bytes but that a long text is never folded at 100
columns); libyaml's cannot indent lists under their key.
tests/test_yamlout.py reads every form back through the roster loader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import yaml

from generator.model import FROM_FILE

INDENT = "  "

# Digits, numbers to call and MAC addresses: always quoted, since a YAML 1.2
# reader (yq) takes 0099 for 99 and 093513 for 93513.
_IDENTIFIER = re.compile(r"[+\-]?[0-9][0-9:.\-]*|[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")
# Plain text words a YAML 1.1 reader takes for true, false or null.
_WORDS = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null"])
# What a YAML 1.2 reader (yq) takes for a number where 1.1 sees text.
_NUMBER_12 = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
                        r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
# '?' too: PyYAML's pure-Python reader ends a plain value there in [ ] and { }.
_NO_PLAIN_IN_FLOW = frozenset(",?[]{}")
# The roster loader reads a longer run of digits as text (generator/load.py).
_MOST_DIGITS = 18
_SURROGATE = re.compile("[\ud800-\udfff]")
_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"
_ESCAPES = {"\0": "\\0", "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
            "\r": "\\r", "\x1b": "\\e", '"': '\\"', "\\": "\\\\", "\x85": "\\N", "\xa0": "\\_",
            "\u2028": "\\L", "\u2029": "\\P"}


def unwritable(value: Any) -> str | None:
    """What in `value` (nesting already bounded) to_yaml cannot write so
    that it reads back the same, as words for a message; None if nothing:
    for callers holding values from a file or a PBX, to leave them out
    rather than fail."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            if not all(isinstance(key, str) for key in item):
                return "a key that is not text"
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and _SURROGATE.search(item):
            return "a lone surrogate (half a UTF-16 pair)"
        elif isinstance(item, int) and not isinstance(item, bool) and len(str(abs(item))) > _MOST_DIGITS:
            return f"a whole number of more than {_MOST_DIGITS} digits"
        elif not isinstance(item, (str, int)) and item is not None:
            return f"a {'fraction' if isinstance(item, float) else type(item).__name__}, which a roster has none of"
    return None


def _plain(text: str, flow: bool) -> bool:
    """Whether `text` reads back as itself unquoted: it starts with no YAML
    indicator, holds nothing that ends a plain value (": ", " #", a flow
    mark in a flow collection), and no YAML 1.1 or 1.2 reader takes it for
    anything but text."""
    return text[:1] not in _INDICATORS and text.isprintable() and text == text.strip() \
        and ": " not in text and " #" not in text and not text.endswith(":") \
        and not (flow and _NO_PLAIN_IN_FLOW.intersection(text)) and text.lower() not in _WORDS \
        and not _NUMBER_12.fullmatch(text) and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}" if code < 0x10000 else f"\\U{code:08X}"


@lru_cache(maxsize=4096)
def _text(text: str, flow: bool = False) -> str:
    found = _SURROGATE.search(text)
    if found:  # no UTF-8 form and no YAML escape: the file would not read back
        raise ValueError(f"cannot write a lone surrogate (U+{ord(found.group()):04X}) as roster YAML")
    if not _IDENTIFIER.fullmatch(text) and _plain(text, flow):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return '"' + "".join(_escaped(c) for c in text) + '"'


def _scalar(value: Any, flow: bool) -> str:
    if isinstance(value, str):
        return _text(value, flow)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if len(str(abs(value))) > _MOST_DIGITS:
            raise ValueError(f"cannot write a whole number of more than {_MOST_DIGITS} digits as roster YAML")
        return str(value)
    raise TypeError(f"cannot write a {type(value).__name__} as roster YAML")


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (Mapping, list))


def _flow(value: Any) -> bool:
    """A small mapping or list of scalars reads best on one line."""
    if isinstance(value, Mapping):
        return not value or (len(value) <= 6 and all(_is_scalar(v) or v == FROM_FILE for v in value.values())
                             and len(json.dumps(value, default=dict)) < 90)
    return not value or (all(_is_scalar(v) for v in value) and len(json.dumps(value)) < 90)


def _inline(value: Any, flow: bool = False) -> str:
    """A scalar, or a collection on one line (flow style, `flow` inside it)."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_text(_key(k), True)}: {_inline(v, True)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v, True) for v in value) + "]"
    return _scalar(value, flow)


def _key(key: Any) -> str:
    """A mapping key, which the loader reads back only as text."""
    if not isinstance(key, str):
        raise TypeError(f"cannot write a {type(key).__name__} key as roster YAML")
    return key


def _mapping(value: Mapping, indent: str, out: list[str], first: str | None = None) -> None:
    """Block mapping lines at `indent`; the first line starts with `first`
    (a list's "- ") where given."""
    for key, item in value.items():
        lead, first = (indent if first is None else first), None
        head = f"{lead}{_text(_key(key))}:"
        if _is_scalar(item) or _flow(item):
            out.append(f"{head} {_inline(item)}")
        else:
            out.append(head)
            _block(item, indent + INDENT, out)


def _sequence(value: list, indent: str, out: list[str]) -> None:
    for item in value:
        if _is_scalar(item) or _flow(item):
            out.append(f"{indent}- {_inline(item)}")
        elif isinstance(item, Mapping):
            _mapping(item, indent + INDENT, out, first=f"{indent}- ")
        else:
            out.append(f"{indent}-")
            _sequence(item, indent + INDENT, out)


def _block(value: Mapping | list, indent: str, out: list[str]) -> None:
    (_mapping if isinstance(value, Mapping) else _sequence)(value, indent, out)


def dump(data: Any) -> str:
    """The YAML of `data`, block style for the outline, ending in a newline."""
    if _is_scalar(data) or not data:
        return _inline(data) + "\n"
    out: list[str] = []
    _block(data, "", out)
    return "\n".join(out) + "\n"


def to_yaml(data: Any, comment: str = "") -> str:
    """YAML that the roster loader reads back to `data`: every string that
    YAML could read as something else (0101, 10:20:30, no) is quoted."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return header + _space_users(dump(data))


def _space_users(text: str) -> str:
    """A blank line between users, as a person would write it."""
    head, found, users = text.partition("\nusers:\n")
    return head + found + users.replace("\n  - name:", "\n\n  - name:")
