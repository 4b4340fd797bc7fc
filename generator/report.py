"""Problems as text for people, JSON for scripts, or GitHub workflow commands
that put each problem on its line of a pull request."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict

from generator.model import Problem


def as_text(problems: Iterable[Problem]) -> str:
    return "".join(f"{problem}\n" for problem in problems)


def as_json(problems: Iterable[Problem]) -> str:
    """A list of {file, line, col, code, level, user, field, message}: stable, for other tools."""
    return json.dumps([asdict(p) for p in problems], indent=2, ensure_ascii=False) + "\n"


def _escape(text: str, property_value: bool = False) -> str:
    # GitHub's escaping for workflow command data and properties.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def as_github(problems: Iterable[Problem]) -> str:
    lines = []
    for p in problems:
        who = " ".join(part for part in (f"user {p.user}:" if p.user else "", f"{p.field}:" if p.field else "") if part)
        message = f"{who} {p.message}" if who else p.message
        properties = f"file={_escape(p.file, True)},line={p.line},col={p.col},title={_escape(p.code, True)}"
        lines.append(f"::{p.level} {properties}::{_escape(message)}\n")
    return "".join(lines)


RENDER = {"text": as_text, "json": as_json, "github": as_github}
