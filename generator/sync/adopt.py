"""Adoption, vendor-neutral: what every target's roster_fields gives
(pbx.base.Adopted and its Notes) put in a person's order and said briefly."""

from __future__ import annotations

import re

from generator.model import first_of, printable
from generator.pbx.base import Adopted, Note

_INDEXED = re.compile(r"\[[^]]*\]")
MAX_NAMED = 5  # users named per summary line; the rest are counted
MAX_FIELD = 64  # characters of a field name shown: the PBX's keys are as long as it likes
MAX_FIELDS = 20  # fields named per reason (a PBX may send thousands of unknown keys); the rest are counted


def _field(name: str) -> str:
    return name if len(name) <= MAX_FIELD else f"{name[:MAX_FIELD]}... ({len(name):,} characters)"


def _users(users: list[str]) -> str:
    return f"{len(users)} user{'' if len(users) == 1 else 's'}: {first_of(users, MAX_NAMED)}"


def summary(notes: list[Note]) -> list[str]:
    """Notes said once per field and reason, with how many users and the
    first few by name: a tenant of 1,000 users gives a screen, not 20,000
    lines. Most users first; every line printable. A field name is cut at
    MAX_FIELD characters, and past MAX_FIELDS fields of one reason the rest
    are one line, counted."""
    # users kept in dicts (insertion-ordered sets): a look-up each, not a scan of the users so far
    groups: dict[tuple[str, str], dict[str, None]] = {}
    for note in notes:
        groups.setdefault((_field(_INDEXED.sub("[]", note.field)), note.message), {})[note.user] = None
    lines, told = [], {}
    rest: dict[str, tuple[set[str], dict[str, None]]] = {}
    for (where, message), users in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        told[message] = told.get(message, 0) + 1
        if told[message] > MAX_FIELDS:
            fields, others = rest.setdefault(message, (set(), {}))
            fields.add(where)
            others.update(users)
            continue
        lines.append(printable(f"{where}: {message} ({_users(list(users))})"))
    for message, (fields, users) in rest.items():
        lines.append(printable(f"{len(fields):,} more fields: {message} ({_users(list(users))})"))
    return lines


def extension_order(users: list[Adopted]) -> list[Adopted]:
    """Users as a person lists them: by extension number (as a number, then as typed)."""
    def key(user: Adopted) -> tuple:
        extension = str((user.fields or {}).get("extension_number", ""))
        return (int(extension) if extension.isdigit() else -1, extension, user.name)
    return sorted(users, key=key)
