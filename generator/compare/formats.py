"""What every renderer of a comparison shares: the one list of format names
the CLI offers, what may reach a terminal or a page (printable, md), and
whether to colour."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from generator.compare import FORMAT_NAMES
from generator.compare.changes import ZEROS_NOTE, Change, zeros_dropped


def registry(as_text: Callable, as_markdown: Callable, as_json: Callable) -> dict[str, Callable]:
    """A renderer per format name: one registry shape for diff and plan."""
    return dict(zip(FORMAT_NAMES, (as_text, as_markdown, as_json)))


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


def printable_json(text: str) -> str:
    """JSON (from json.dumps, ensure_ascii=False) with the same characters as
    \\u escapes: json escapes C0 itself, its own line breaks are layout, and
    an escape reads back as the very same string."""
    return _UNPRINTABLE_JSON.sub(_escape, text)


def dumped(data: Any) -> str:
    """Stable, printable JSON of a model's data, with its final newline."""
    return printable_json(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"


def md(text: object) -> str:
    """Text that GitHub shows as itself: no link, image, mention or HTML can
    come from a roster value (a display name such as [approve](https://...))."""
    flat = str(text).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    inline = _MARKUP.sub(lambda m: f"&#{ord(m.group())};", printable(flat))
    return _LINE_START.sub(lambda m: f"{m.group(1)}&#{ord(m.group(2))};", inline)
