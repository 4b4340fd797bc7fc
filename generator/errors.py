"""The errors this tool raises on purpose, and how a value is shown in a message."""

from __future__ import annotations

from generator.model import Problem


class UsageError(Exception):
    """The command line asked for something that cannot be done (exit 2)."""


class RosterInvalid(Exception):
    """The roster has problems; each one is a located Problem (exit 1)."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'' if count == 1 else 's'} in the roster")


def brief(value: object, limit: int = 60) -> str:
    """repr() of a value, cut short: a message must stay one readable line
    even when the roster holds a megabyte-long string."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return "(a very long number)"  # repr() of a huge int raises past 4,300 digits
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"
