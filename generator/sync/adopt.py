"""Adoption, vendor-neutral: what every target's roster_fields gives
(pbx.base.Adopted and its Notes) put in a person's order and said briefly."""

from __future__ import annotations

import re

from generator.model import printable
from generator.pbx.base import Adopted, Note

_INDEXED = re.compile(r"\[[^]]*\]")
MAX_NAMED = 5  # users named per summary line; the rest are counted


def summary(notes: list[Note]) -> list[str]:
    """Notes said once per field and reason, with how many users and the
    first few by name: a tenant of 1,000 users gives a screen, not 20,000
    lines. Most users first; every line printable."""
    groups: dict[tuple[str, str], list[str]] = {}
    for note in notes:
        users = groups.setdefault((_INDEXED.sub("[]", note.field), note.message), [])
        if note.user not in users:
            users.append(note.user)
    lines = []
    for (where, message), users in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        named = ", ".join(users[:MAX_NAMED]) + (f" and {len(users) - MAX_NAMED} more" if len(users) > MAX_NAMED else "")
        count = f"{len(users)} user{'' if len(users) == 1 else 's'}"
        lines.append(printable(f"{where}: {message} ({count}: {named})"))
    return lines


def extension_order(users: list[Adopted]) -> list[Adopted]:
    """Users as a person lists them: by extension number (as a number, then as typed)."""
    def key(user: Adopted) -> tuple:
        extension = str((user.fields or {}).get("extension_number", ""))
        return (int(extension) if extension.isdigit() else -1, extension, user.name)
    return sorted(users, key=key)
