"""The one problem type every stage reports, and the exceptions that carry them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a roster, located in the YAML that caused it.

    Lines and columns are 1-based, as editors show them.
    """

    file: str
    line: int
    col: int
    user: str | None
    field: str | None
    message: str
    warning: bool = False

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}:{self.col}:"]
        if self.warning:
            parts.append("warning:")
        if self.user is not None:
            parts.append(f"user {self.user}:")
        if self.field:
            parts.append(f"{self.field}:")
        parts.append(" ".join(self.message.split()) if "\n" in self.message else self.message)
        return " ".join(parts)  # always one line: problems are read, grepped and counted by the line


class RosterToolError(Exception):
    """Base of every error this tool raises on purpose."""


class UsageError(RosterToolError):
    """The command line asked for something that cannot be done (exit 2)."""


class RosterInvalid(RosterToolError):
    """The roster has problems; each one is a located Problem (exit 1)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the roster")


def brief(value: object, limit: int = 60) -> str:
    """repr() of a value, cut short: a message must stay one readable line
    even when the roster holds a megabyte-long string."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def dotted(path) -> str:
    """A data path as an admin writes it: phones[0].mac."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
