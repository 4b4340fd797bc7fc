"""`validate`: every problem of every roster, writing nothing."""

from __future__ import annotations

from pathlib import Path

from generator.errors import RosterInvalid
from generator.pipeline import Options, Resolved, ordered, run
from generator.progress import Progress
from generator.secrets.lint import literal_problems


def validate_all(rosters: list[Path], options: Options, no_literal_secrets: bool = False,
                 progress: Progress | None = None) -> list[Resolved]:
    """Every roster checked; the errors of all of them in one RosterInvalid
    (with the warnings, so that nothing is lost)."""
    results, problems = [], []
    for roster in rosters:
        resolved = run(roster, options, str(roster), progress)
        documents = [d for d in (resolved.document, *resolved.included) if d is not None]
        literals = [p for d in documents for p in literal_problems(d)] if no_literal_secrets else []
        if resolved.errors or literals:
            problems += ordered([*resolved.problems, *literals])
        results.append(resolved)
    if problems:
        raise RosterInvalid(problems)
    return results
