"""`generate`: the CSV of each roster, written whole or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from generator.errors import RosterInvalid, UsageError
from generator.model import Problem, printable
from generator.pipeline import Options, few_collections, run
from generator.progress import Progress
from generator.render import Rendered
from generator.write import csv_chunks

DEFAULT = Options()


@dataclass
class Generated:
    """A checked roster ready to be written. The rows are made while the
    text is written (`chunks`), so a large CSV is never all in memory; a cell
    template that fails shows in `rendered.problems` once they are used up."""

    roster: Path
    rendered: Rendered
    warnings: list[Problem]
    included: tuple[Path, ...] = ()  # the files the roster includes: inputs, never an output

    @property
    def count(self) -> int:
        return len(self.rendered.users)

    def chunks(self, bom: bool = False) -> Iterator[str]:
        return csv_chunks(self.rendered.header, self.rendered.rows(), bom)

    def text(self, bom: bool = False) -> str:
        """The whole CSV; RosterInvalid when a cell template fails."""
        with few_collections():
            text = "".join(self.chunks(bom))
        if self.rendered.problems:
            raise RosterInvalid(self.rendered.problems)
        return text


def generate(path: Path, options: Options = DEFAULT, display: str | None = None,
             exclude: frozenset[str] = frozenset(), progress: Progress | None = None) -> Generated:
    """The rows to write and the warnings; RosterInvalid when there is any error."""
    resolved = run(path, options, display, progress)
    if resolved.errors:
        raise RosterInvalid(list(resolved.problems))
    return Generated(path, resolved.rendered(exclude, progress), resolved.warnings,
                     tuple(Path(document.file) for document in resolved.included))


def generate_all(rosters: list[Path], options: Options, since: str | None = None,
                 progress: Progress | None = None) -> list[Generated]:
    """Every roster, or none: the problems of all of them in one RosterInvalid.

    `since` is an older roster or CSV file, or else a git revision of each
    roster; users whose names it has are checked but not written."""
    results, problems = [], []
    for roster in rosters:
        try:
            existing: frozenset[str] = frozenset()
            if since is not None:
                from generator.commands.tables import names_at  # git and CSV reading: only for --since

                old = Path(since)
                existing = frozenset(names_at(old, None) if old.is_file() else names_at(roster, since))
            results.append(generate(roster, options, str(roster), existing, progress))
        except RosterInvalid as exc:
            problems += exc.problems
    if problems:
        raise RosterInvalid(problems)
    return results


def output_paths(rosters: list[Path], output: Path | None, out_dir: Path | None, check: Path | None) -> list:
    """Where each roster's CSV goes (None: stdout), or is compared with for --check."""
    if output is not None and out_dir is not None:
        raise UsageError("give -o FILE or --out-dir DIR, not both")
    if len(rosters) == 1 and out_dir is None:
        return [check or output]
    if output is not None:
        raise UsageError("-o takes one roster; for several, use --out-dir DIR")
    folder = check or out_dir
    if folder is None:
        raise UsageError("several rosters need --out-dir DIR (one CSV per roster), or --check DIR")
    stems = [r.stem for r in rosters]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise UsageError(f"two rosters would write the same file: {', '.join(c + '.csv' for c in clash)}")
    return [folder / f"{stem}.csv" for stem in stems]


@dataclass
class Freshness:
    """How a CSV on disk compares with what its roster generates."""

    target: Path
    roster: Path | None  # None: a CSV no roster makes any more
    state: str  # "current", "stale", "missing" or "orphan"
    plan: object = None  # for a stale file: what differs (a tables.Plan; empty when only the bytes do)


def freshness(result: Generated, target: Path, bom: bool = False) -> Freshness:
    from generator.commands.tables import compare, read_table  # only for --check

    if not target.exists():
        return Freshness(target, result.roster, "missing")
    try:
        with open(target, "rb") as handle:
            current = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {target}: {exc.strerror}") from exc
    text = result.text(bom)
    if current == text.encode("utf-8"):
        return Freshness(target, result.roster, "current")
    plan = compare(read_table(current.decode("utf-8", "replace"), str(target)), read_table(text, str(result.roster)))
    return Freshness(target, result.roster, "stale", plan)


def orphans(folder: Path, targets: list[Path]) -> list[Freshness]:
    """CSVs in a --check folder that no roster makes any more."""
    if not folder.is_dir():
        return []
    made = {t.resolve() for t in targets}
    return [Freshness(p, None, "orphan") for p in sorted(folder.glob("*.csv")) if p.resolve() not in made]


def refuse_inputs_as_outputs(rosters: list[Path], targets: list, *inputs: Path | None) -> None:
    """`generate r.yaml -o r.yaml` would replace the roster with its CSV."""
    from generator.write import same_file

    read = [*rosters, *(p for p in inputs if p is not None)]
    for target in targets:
        for source in read:
            inside = source.is_dir() and target is not None and same_file(target.parent, source)
            if target is not None and (same_file(target, source) or inside):
                raise UsageError(f"{target} is one of the inputs ({source}); write the CSV somewhere else")


def again(roster: Path, target: Path, flags: dict) -> str:
    """The command line that makes `target` from `roster` with this run's options, to copy and run."""
    import shlex

    words = ["portsip-roster", "generate", str(roster), "-o", str(target)]
    for flag, value in flags.items():
        if value is True:
            words.append(flag)
        elif value not in (None, False):
            words += [flag, str(value)]
    return "  run: " + shlex.join(words)


def check_report(results: list[Generated], targets: list, check: Path, bom: bool,
                 flags: dict | None = None) -> tuple[list[tuple[str, str]], int]:
    """`generate --check`: what to print, in order, as (stream, text) with
    stream "out" (the differences) or "err" (each file's verdict); and the
    exit code (1 when any file is stale, missing or no roster's any more)."""
    from generator.compare.formats import as_text

    found = [freshness(result, target, bom) for result, target in zip(results, targets)]
    if len(results) > 1 or check.is_dir():
        found += orphans(check, targets)
    said: list[tuple[str, str]] = []
    stale = 0
    for item in found:
        # file names come from the folder (a committed file may be named anything): escaped like all else
        target, roster = printable(str(item.target)), printable(str(item.roster))
        if item.state == "current":
            said.append(("err", f"{target}: up to date with {roster}\n"))
            continue
        stale += 1
        if item.state == "missing":
            said.append(("err", f"{target}: missing; generate it from {roster}\n"))
            said.append(("err", printable(again(item.roster, item.target, flags or {})) + "\n"))
        elif item.state == "orphan":
            said.append(("err", f"{target}: no roster makes this file any more; delete it\n"))
        else:
            same = f"{target}: the same cells, but other bytes (quoting, BOM or line ends)\n"
            said.append(("out", same if item.plan.empty else as_text(item.plan)))
            said.append(("err", f"{target}: stale; regenerate it from {roster}\n"))
            said.append(("err", printable(again(item.roster, item.target, flags or {})) + "\n"))
    return said, 1 if stale else 0


def write_all(results: list[Generated], targets: list, since: str | None, bom: bool) -> Iterator[str]:
    """Each CSV written (atomically; None: stdout), then what was written, in
    words; RosterInvalid when a cell template fails (that file not written)."""
    from generator.write import write_output

    for result, target in zip(results, targets):
        with few_collections():  # rows are made while they are written
            write_output(target, result.chunks(bom), ok=lambda r=result: not r.rendered.problems)
        if result.rendered.problems:
            raise RosterInvalid(result.rendered.problems)
        count = f"{result.count} user{'' if result.count == 1 else 's'}{f' new since {since}' if since else ''}"
        if target is not None:
            yield f"wrote {target} ({count})"
        elif since:
            yield count
