"""The vocabulary every stage shares: problems and their codes, secret fields,
layers, resolved users and column sets. A leaf: it imports nothing of ours,
so any stage may import it and it can never take part in an import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol

YamlPath = tuple[str | int, ...]
Level = Literal["error", "warning"]


class Located(Protocol):
    """What a layer or a column set needs of its loaded file (load.Document):
    its name and where each node was written. Named here, not imported, so
    that this module imports nothing of ours."""

    file: str

    @property
    def marks(self) -> dict[YamlPath, tuple[int, int]]: ...

    def where(self, path: YamlPath) -> tuple[int, int]: ...


@dataclass(frozen=True)
class Code:
    """A problem code's entry: the level its problems have, and what it means
    (one line, as docs/problems.md shows it)."""

    level: Level
    means: str


# Every problem has one of these codes: stable names to grep for, to assert in
# tests and to look up in docs/problems.md, whose table is made from this one
# (python -m generator.docs). A new rule adds a line here.
CODES: Mapping[str, Code] = MappingProxyType({
    "yaml-syntax": Code("error", "the file is not valid YAML, or not UTF-8"),
    "yaml-duplicate-key": Code("error", "a key written twice in one mapping"),
    "yaml-tag": Code("error", "a YAML tag this tool does not read (!!int, !vault ...)"),
    "yaml-limit": Code("error", "nesting, a value's length or alias expansion past the safe limit"),
    "include": Code("error", "an included file that is missing, outside the roster's folder, unreadable or a cycle"),
    "roster-shape": Code("error", "the roster (or an included file) is not a mapping"),
    "schema-type": Code("error", "a value of the wrong type"),
    "schema-enum": Code("error", "a value outside the allowed choices"),
    "schema-required": Code("error", "a field the PBX requires is missing once the layers are merged"),
    "schema-unknown-field": Code("error", "a field no PBX version has"),
    "schema-format": Code("error", "a value of the right type in the wrong format (pattern, length, range)"),
    "pbx-version": Code("error", "no column set for the PBX version asked for"),
    "pbx-unsupported": Code("error", "a field this PBX version has no column for"),
    "column-set": Code("error", "a column set (templates/<version>.yaml) that cannot be used"),
    "cell-template": Code("error", "a column's cell template that fails for a user"),
    "unknown-profile": Code("error", "a user names a profile no layer defines"),
    "unknown-phone-model": Code("error", "a phone whose model has no vendor or provisioning file in any layer"),
    "computed-value": Code("error", "a computed default (a template) that fails or gives too much"),
    "blf-unknown": Code("error", "a compact BLF names an extension no user in the roster has"),
    "reserved-name": Code("error", "a user name the PBX keeps for itself"),
    "duplicate": Code("error", "a name, extension or MAC address used twice"),
    "control-character": Code("error", "a control character (escaped or raw) in a value"),
    "formula": Code("error", "text a spreadsheet would run as a formula"),
    "office-hours": Code("error", "a time range that ends before it starts, or overlaps another"),
    "forward-number": Code("error", "a forward rule that needs a number and has none"),
    "target-unknown": Code("warning", "a forward or BLF target that looks like an extension but is not in the roster"),
    "policy": Code("error", "a password or PIN policy that cannot be met"),
    "secret-policy": Code("error", "a password or PIN that breaks the tenant's policy"),
    "secret-missing": Code("error", "a secret whose source cannot be read (no key, unset variable, no entry)"),
    "secret-refused": Code("error", "an environment variable a roster may not read (not ROSTER_SECRET_*, "
                                    "not --allow-env)"),
    "secret-unchecked": Code("warning", "a secret not at hand here, so not checked (validate, --redact)"),
    "secrets-file": Code("error", "the --secrets file is not shaped as the tool reads it"),
    "secrets-file-unused": Code("warning", "an entry in the --secrets file for a user the roster does not have"),
    "key-file": Code("warning", "the README's demo key on a real roster, or a key or secrets file others can read"),
    "api-unsupported": Code("error", "something the roster says that the PBX's REST API cannot express (plan/apply)"),
    "pbx-conflict": Code("error", "a name (in any case), extension or MAC another user on the PBX has already, "
                                  "left-alone users included: `plan` and `apply` refuse the plan before any write"),
    "literal-secret": Code("error", "a password or PIN written in the roster itself (--no-literal-secrets)"),
})


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with a roster, located in the file that caused it.

    Lines and columns are 1-based, as editors show them. `code` is one of CODES.
    """

    file: str
    line: int
    col: int
    code: str
    message: str
    user: str | None = None
    field: str | None = None
    level: Level = "error"

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown problem code {self.code!r}")

    @property
    def warning(self) -> bool:
        return self.level == "warning"

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}:{self.col}:"]
        if self.warning:
            parts.append("warning:")
        if self.user is not None:
            parts.append(f"user {self.user}:")
        if self.field:
            parts.append(f"{self.field}:")
        parts.append(" ".join(self.message.split()) if "\n" in self.message else self.message)
        parts.append(f"[{self.code}]")
        return " ".join(parts)  # always one line: problems are read, grepped and counted by the line


# ---- secrets ------------------------------------------------------------------

# Field -> kind, which decides how a value is generated and checked.
USER_SECRETS: Mapping[str, str] = MappingProxyType(
    {"password": "password", "extension_password": "password", "voicemail_pin": "pin"})
PHONE_SECRETS: Mapping[str, str] = MappingProxyType(
    {"password": "phone", "door_password1": "door", "door_password2": "door"})
SECRET_KEYS = frozenset(USER_SECRETS) | frozenset(PHONE_SECRETS)
# The same, in a fixed order: a set's order follows the string hash, which differs from run to run.
SECRET_ORDER = tuple(dict.fromkeys([*USER_SECRETS, *PHONE_SECRETS]))
MASK = "********"
# How a roster writes "this secret is in the --secrets file".
FROM_FILE: Mapping[str, bool] = MappingProxyType({"secrets_file": True})


@dataclass(frozen=True)
class SourceKind:
    """A kind of secret source, as the roster writes it: `{kind: NAME}` when it
    `takes_name`, else `{kind: true}`. How its value is read is
    secrets/fill.py's READERS, under the same name."""

    describe: str  # for messages, with {name}; never the value
    takes_name: bool = False
    made_here: bool = False  # derived from the master key: drawn until it meets the policy, tied to MAC and rotate
    reads_env: bool = False  # names an environment variable, which a roster may be refused


# Every kind of secret source: a new one is a line here and a reader in fill.READERS.
SOURCE_KINDS: Mapping[str, SourceKind] = MappingProxyType({
    "generate": SourceKind("generated from the master key", made_here=True),
    "env": SourceKind("environment variable {name}", takes_name=True, reads_env=True),
    "secrets_file": SourceKind("the secrets file"),
})


@dataclass(frozen=True)
class SecretRef:
    """A secret's source, standing in for its value until the secrets stage."""

    kind: str  # one of SOURCE_KINDS
    name: str = ""  # the variable, for a kind that takes a name (env)

    @property
    def source_kind(self) -> SourceKind:
        return SOURCE_KINDS[self.kind]

    def __str__(self) -> str:
        return self.source_kind.describe.format(name=self.name)


_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_NOT_HEX = re.compile(r"[^0-9a-f]")


def mac_key(mac: str) -> str:
    """A MAC address however written (upper case, '-', '.', bare digits) as 0c:38:3e:63:fe:e8."""
    if _CANONICAL_MAC.fullmatch(mac):
        return mac  # the common case, on every phone of a large roster
    digits = _NOT_HEX.sub("", mac.lower())
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


# ---- layers and users -----------------------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SHORTHANDS: Mapping[str, tuple[str, ...]] = MappingProxyType({"weekdays": WEEKDAYS[:5], "weekend": WEEKDAYS[5:]})
SHORTHAND_OF = MappingProxyType({day: name for name, days in SHORTHANDS.items() for day in days})


def dotted(path: YamlPath) -> str:
    """A data path as an admin writes it: phones[0].mac."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class Layer:
    """One source of values: its label, and where its data sits in which file.
    `data` is shared by every user the layer applies to: nothing writes to it."""

    label: str
    document: Located
    base: YamlPath
    data: dict
    evaluates: bool  # strings here may be Jinja templates
    template_keys: frozenset[str] = frozenset()  # top-level keys whose value holds a template

    def position(self, path: YamlPath) -> tuple[str, int, int]:
        line, col = self.document.where(_as_written(self.document, (*self.base, *path)))
        return self.document.file, line, col


def _as_written(document: Located, path: YamlPath) -> YamlPath:
    """A day that was written as `weekdays:` or `weekend:` is found there."""
    for i, part in enumerate(path):
        shorthand = SHORTHAND_OF.get(part)
        if shorthand and path[: i + 1] not in document.marks:
            written = (*path[:i], shorthand)
            if written in document.marks:
                return (*written, *path[i + 1 :])
    return path


def _has(data: Any, path: YamlPath) -> bool:
    """Whether `data` sets `path`; a list owns everything below it (lists replace)."""
    for part in path:
        if isinstance(data, list):
            return True
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def owner(layers: tuple[Layer, ...] | list[Layer], path: YamlPath) -> Layer | None:
    """The most specific layer that sets `path`."""
    for layer in reversed(layers):
        if _has(layer.data, path):
            return layer
    return None


NO_SOURCES: Mapping = MappingProxyType({})  # one empty mapping for every user, not one each
NO_PATHS: frozenset = frozenset()  # one empty set for every user and layer: each frozenset() is a new 216 bytes


@dataclass(frozen=True)
class ResolvedUser:
    """One user with every layer merged. Frozen: a stage that changes a user
    makes a new one (dataclasses.replace) with new containers where it writes,
    since `fields` shares nested values with the layers and other users."""

    index: int
    name: str
    fields: dict[str, Any]
    layers: tuple[Layer, ...]  # lowest first
    phone_layers: tuple[tuple[Layer, ...], ...] = ()
    computed: frozenset[YamlPath] = frozenset()  # paths whose value a template gave
    secret_sources: Mapping[YamlPath, SecretRef] = field(default_factory=lambda: NO_SOURCES)
    stand_ins: frozenset[YamlPath] = frozenset()  # secrets not at hand, given a stand-in

    def origin(self, path: YamlPath) -> tuple[Layer, YamlPath] | None:
        """The layer that gave the value at `path` (a path into `fields`)."""
        if len(path) > 2 and path[0] == "phones" and isinstance(path[1], int) \
                and path[1] < len(self.phone_layers):
            layer = owner(self.phone_layers[path[1]], path[2:])
            if layer:
                return layer, path[2:]
        layer = owner(self.layers, path)
        return (layer, path) if layer else None

    def problem(self, path: YamlPath, code: str, message: str, level: Level = "error") -> Problem:
        found = self.origin(path)
        layer, sub = found if found is not None else (self.layers[-1], ())
        file, line, col = layer.position(sub)
        return Problem(file=file, line=line, col=col, code=code, message=message, user=self.name,
                       field=dotted(path) or None, level=level)


@dataclass(frozen=True)
class HeldBack:
    """What the users held back by their own problems still validly tell the
    checks between users: their extensions, and whether any has none that is
    valid (then a target no user has may well be theirs)."""

    extensions: frozenset[str] = frozenset()
    some_unknown: bool = False

    def may_have(self, extension: str) -> bool:
        return self.some_unknown or extension in self.extensions


@dataclass(frozen=True)
class ColumnSet:
    """A PBX version's CSV: the columns in order, each cell's Jinja expression,
    and the keys each phone object gets."""

    version: str
    document: Located
    columns: tuple[str, ...]
    cells: tuple[str, ...]
    phone_keys: tuple[str, ...]
    password_min_length: int
    max_lengths: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # field -> characters

    @property
    def fields(self) -> tuple[str | None, ...]:
        """Per cell, the user field it is when it is exactly `user.<field>`
        (read directly, the common case); None where Jinja must evaluate it."""
        import re

        plain = re.compile(r"\s*user\.([A-Za-z_][A-Za-z0-9_]*)\s*")
        return tuple(m.group(1) if (m := plain.fullmatch(cell)) else None for cell in self.cells)


def counted(count: int, word: str, words: str | None = None) -> str:
    """A count with its noun in the right number: 1 user, 2 users."""
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def first_of(items: list[str], most: int) -> str:
    """The first `most` of `items` and how many more: "a, b and 3 more"."""
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


# What must not reach a terminal or a page raw: C0 and C1 controls, DEL, line
# and paragraph separators, bidi marks and overrides, and lone surrogates
# (which cannot even be written as UTF-8).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                          "\ud800-\udfff]")
_UNPRINTABLE_JSON = re.compile(_UNPRINTABLE.pattern.replace("\x00-\x1f", "", 1))


def _escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: object) -> str:
    """`text` with every character that could drive a terminal, reorder a
    line or break the output's encoding written as \\uXXXX."""
    return _UNPRINTABLE.sub(_escape, str(text))


def unprintable_in(text: str) -> bool:
    """Whether `text` holds a character printable() escapes (C0, C1, DEL,
    bidi controls, U+2028/2029, lone surrogates): text that must not be
    taken as it is."""
    return _UNPRINTABLE.search(text) is not None


def printable_json(text: str) -> str:
    """JSON (from json.dumps, ensure_ascii=False) with the same characters as
    \\u escapes: json escapes C0 itself, its own line breaks are layout, and
    an escape reads back as the very same string."""
    return _UNPRINTABLE_JSON.sub(_escape, text)
