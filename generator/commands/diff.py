"""`diff`: what a change to a roster (or between two CSVs) does to the PBX:
the two sides read as tables and compared (commands/tables.py), shown by the
one renderer per format (compare/formats.py) in terminal text, markdown for
a pull request, or json for a script. Secret values never reach these: a
changed secret shows as changed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from generator.commands.generate import generate
from generator.commands.revision import at_revision, exists_at
from generator.commands.tables import Table, compare, is_csv, read_table
from generator.errors import UsageError
from generator.pipeline import Options

if TYPE_CHECKING:
    from generator.commands.sync import Say


def table(path: Path, options: Options, display: str) -> Table:
    """A roster or a CSV as a table of cells, for comparing. A roster's secrets
    that cannot be had here become stand-ins: only whether they changed matters."""
    if is_csv(path):
        try:
            with open(path, "rb") as handle:
                return read_table(handle.read().decode("utf-8"), display)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {display}: {getattr(exc, 'strerror', None) or exc}") from exc
    generated = generate(path, replace(options, lenient_secrets=True), display)
    made = read_table(generated.text(), display)
    # a secret not at hand is the "not compared" note, not a warning per user
    made.warnings = [p for p in generated.warnings if p.code != "secret-unchecked"]
    return made


def table_at(path: Path, options: Options, rev: str | None) -> Table:
    if rev is None:
        if not path.exists():
            raise UsageError(f"no file at {path}")
        return table(path, options, str(path))
    with at_revision(path, rev) as old:
        return table(old, options, f"{path} at {rev}")


def tables(old: Path, new: Path | None, options: Options, base: str | None) -> tuple[Table, Table]:
    """The two sides of a diff. A roster new since `base` is compared with an
    empty one of the same columns: every user is an addition."""
    after = table_at(new or old, options, None)
    if base is not None and new is None and not exists_at(old, base):
        return Table(f"{old} at {base} (not there yet)", list(after.columns), {}), after
    return table_at(old, options, base), after


def run_diff(old: Path, new: Path | None, base: str | None, options: Options, exit_code: bool, say: Say) -> int:
    """`diff`: the two sides read and compared; each warning told once (a
    roster compared with itself at --base warns once, from its side now), then
    the plan in the chosen format; the exit code (2 differences under --exit-code)."""
    if (base is None) == (new is None):
        raise UsageError("give OLD and NEW, or --base REV and one roster")
    before, after = tables(old, new, options, base)
    plan = compare(before, after)
    say.problems(list(dict.fromkeys([*(before.warnings if base is None else []), *after.warnings])))
    say.plan(plan)
    return 2 if exit_code and not plan.empty else 0
