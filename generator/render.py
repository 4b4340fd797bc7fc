"""Stage 5, render: resolved users to CSV rows through a version's column set.

A column set is `templates/<version>.yaml`: the columns in order, each with a
Jinja expression for its cell, compiled once. A cell that is just
`user.<field>` (most of them) is read without Jinja; the others run in the
sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from generator.cells import cell_text, to_json
from generator.memo import ByIdentity
from generator.model import ColumnSet, Problem, ResolvedUser
from generator.progress import Progress
from generator.sandbox import begin, end, expression


class _Row:
    """Renders rows of one column set: plain `user.<field>` cells are read
    directly, the rest evaluated by their compiled Jinja expression. JSON text
    is remembered per value object, since users share the values of the layers
    they merged (a default's office hours are one object for every user)."""

    def __init__(self, column_set: ColumnSet):
        self.column_set = column_set
        self.plan = [(name, None if name else expression(cell)) for name, cell in
                     zip(column_set.fields, column_set.cells)]
        self.json = ByIdentity(to_json)
        self.templated = any(name is None for name, _ in self.plan)  # worked out once, not per row

    def text(self, value: Any) -> str:
        return self.json(value) if isinstance(value, (dict, list)) else cell_text(value)

    def __call__(self, user: ResolvedUser) -> list[str]:
        if not self.templated:
            return self._cells(user)  # no template: nothing to bound
        # One bound for the row's templates together (time and work: sandbox.begin).
        saved = begin()
        try:
            return self._cells(user)
        finally:
            end(saved)

    def _cells(self, user: ResolvedUser) -> list[str]:
        fields, keys, text = user.fields, self.column_set.phone_keys, self.text
        row = []
        for name, compiled in self.plan:
            # A missing field fails here as Jinja's StrictUndefined would.
            value = fields[name] if name is not None else compiled(user=fields, phone_keys=keys)
            row.append(value if type(value) is str else text(value))
        return row


def _failing_columns(user: ResolvedUser, column_set: ColumnSet, error: Exception) -> list[Problem]:
    """Which cells fail for this user; only run once a row has failed."""
    problems = []
    for i, (name, cell) in enumerate(zip(column_set.columns, column_set.cells)):
        saved = begin()
        try:
            cell_text(expression(cell)(user=user.fields, phone_keys=column_set.phone_keys))
        except Exception as exc:  # noqa: BLE001 - an admin's template may raise anything
            line, col = column_set.document.where(("columns", i, "cell"))
            problems.append(Problem(file=column_set.document.file, line=line, col=col, code="cell-template",
                                    user=user.name, field=name, message=f"cell template failed: {exc}"))
        finally:
            end(saved)
    # Never lose a row silently, even if no single cell fails on its own.
    return problems or [Problem(file=column_set.document.file, line=1, col=1, code="cell-template",
                                user=user.name, message=f"row failed: {error}")]


@dataclass
class Rendered:
    """Rows made as they are asked for, so a large CSV is never all in memory.
    A cell template that fails is a problem here: once one has, no more rows
    are given (the writer keeps nothing), and every other user is still tried
    so that all failures are known once `rows` is used up."""

    column_set: ColumnSet
    users: list[ResolvedUser]
    progress: Progress | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def header(self) -> list[str]:
        return list(self.column_set.columns)

    def rows(self) -> Iterator[list[str]]:
        self.problems.clear()
        row = _Row(self.column_set)
        for done, user in enumerate(self.users):
            if self.progress:
                self.progress.tick("writing users", done, len(self.users))
            try:
                made = row(user)
            except Exception as exc:  # noqa: BLE001 - located per column below
                self.problems.extend(_failing_columns(user, self.column_set, exc))
                continue
            if not self.problems:
                yield made


def render(users: list[ResolvedUser], column_set: ColumnSet, progress: Progress | None = None) -> Rendered:
    return Rendered(column_set, users, progress)
