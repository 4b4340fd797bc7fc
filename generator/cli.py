"""The command line: parse options, call the pipeline, turn the result into an exit code.

Exit 0: done. Exit 1: the roster (or a column template) has problems, each
printed as file:line:col. Exit 2: bad usage (unknown option, missing file,
unknown PBX version).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from generator import version as tool_version
from generator.errors import Problem, RosterInvalid, UsageError
from generator.render import load_column_set
from generator.resources import roster_schema

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn a YAML roster into the PortSIP PBX bulk-import CSV (v16 or v22).",
)

RosterArg = Annotated[Path, typer.Argument(help="The roster YAML file.", show_default=False)]
VersionOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer reads this annotation at runtime on Python 3.10
    typer.Option("--pbx-version", help="v16 or v22; overrides pbx_version in the roster."),
]
TemplatesOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--templates", help="Folder of column sets (<version>.yaml) to use instead of the built-in ones.",
                 exists=True, file_okay=False),
]
SecretsOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--secrets", help="YAML file of secrets by user name, for fields written {secrets_file: true}.",
                 dir_okay=False),
]
KeyFileOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--key-file", help="File holding the master key for {generate: true} secrets "
                 "(default: the environment variable the roster names, else PORTSIP_ROSTER_KEY).", dir_okay=False),
]
AllowFormulasOpt = Annotated[bool, typer.Option(
    "--allow-formulas", help="Let text cells start with = + - @ (a spreadsheet runs such a cell as a formula).")]


def _say(problems: list[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def _run(action: Callable[[], int | None]) -> None:
    """Run a command body; map this tool's errors to messages and exit codes."""
    from generator import progress

    try:
        with progress.reporting():
            code = action() or 0
    except RosterInvalid as exc:
        _say(exc.problems)
        errors = sum(not p.warning for p in exc.problems)
        print(f"{errors} problem(s); nothing written.", file=sys.stderr)
        code = 1
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted; nothing written", file=sys.stderr)
        code = 130
    raise typer.Exit(code)


def _show_version(value: bool) -> None:
    if value:
        print(f"portsip-roster {tool_version()}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Turn a YAML roster into the PortSIP PBX bulk-import CSV (v16 or v22)."""


RostersArg = Annotated[list[Path], typer.Argument(help="Roster YAML files.", show_default=False)]


@app.command()
def generate(
    rosters: RostersArg,
    pbx_version: VersionOpt = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output",  # noqa: UP045
                                                   help="Write here (atomically) instead of stdout.")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--out-dir", help="Write one CSV per roster here, named after the roster (rosters/acme.yaml -> acme.csv).",
        file_okay=False)] = None,
    check: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--check", help="Write nothing; exit 1 with the differences when this CSV (or, for several rosters, "
        "this folder's CSVs) is not what the roster generates.")] = None,
    since: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--since", help="Only users new since this git revision of the roster, or since this older roster or CSV.",
        show_default=False)] = None,
    bom: Annotated[bool, typer.Option("--bom", help="Start the file with a UTF-8 byte-order mark, for Excel.")] = False,
    redact: Annotated[bool, typer.Option("--redact", help="Mask every password and PIN: a copy for review.")] = False,
    templates: TemplatesOpt = None,
    secrets: SecretsOpt = None,
    key_file: KeyFileOpt = None,
    allow_formulas: AllowFormulasOpt = False,
) -> None:
    """Write the import CSV for every user in each ROSTER.

    Examples: portsip-roster generate roster.yaml -o users.csv;
    portsip-roster generate rosters/*.yaml --out-dir build/;
    portsip-roster generate roster.yaml --check users.csv;
    portsip-roster generate roster.yaml --since main -o new-users.csv
    """
    from generator.pipeline import Options, generate_all

    options = Options(pbx_version, templates, secrets, key_file, bom, redact, allow_formulas=allow_formulas)

    def action() -> int:
        targets = _targets(rosters, output, out_dir, check)
        results = generate_all(rosters, options, since)
        for result in results:
            _say(result.generated.warnings)
        if check is not None:
            return _check(results, targets)
        _write(results, targets, since)
        return 0

    _run(action)


def _targets(rosters: list[Path], output: Path | None, out_dir: Path | None, check: Path | None) -> list:
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


def _write(results: list, targets: list, since: str | None) -> None:
    from generator.pipeline import few_collections
    from generator.write import write_atomic, write_stdout

    for result, target in zip(results, targets):
        new = f" new since {since}" if since else ""
        try:
            with few_collections():  # rows are made while they are written
                if target is None:
                    write_stdout(result.generated.chunks())
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_atomic(target, result.generated.chunks())
        except OSError as exc:
            raise UsageError(f"cannot write {target or 'stdout'}: {exc.strerror}") from exc
        count = f"{result.generated.count} users{new}"
        if target is not None:
            print(f"wrote {target} ({count})", file=sys.stderr)
        elif since:
            print(count, file=sys.stderr)


def _check(results: list, targets: list) -> int:
    from generator.diff import as_text
    from generator.pipeline import freshness

    stale = 0
    for result, target in zip(results, targets):
        found = freshness(result, target)
        if found.state == "current":
            print(f"{target}: up to date with {found.roster}", file=sys.stderr)
            continue
        stale += 1
        if found.state == "missing":
            print(f"{target}: missing; generate it from {found.roster}", file=sys.stderr)
            continue
        same = f"{target}: the same cells, but other bytes (quoting, BOM or line ends)\n"
        print(same if found.plan.empty else as_text(found.plan), end="")
        print(f"{target}: stale; regenerate it from {found.roster}", file=sys.stderr)
    return 1 if stale else 0


@app.command()
def validate(
    rosters: RostersArg,
    pbx_version: VersionOpt = None,
    templates: TemplatesOpt = None,
    secrets: SecretsOpt = None,
    key_file: KeyFileOpt = None,
    no_literal_secrets: Annotated[bool, typer.Option(
        "--no-literal-secrets", help="Fail when the roster itself holds any password or PIN.")] = False,
    allow_formulas: AllowFormulasOpt = False,
) -> None:
    """Check each ROSTER and print every problem as file:line:col; writes nothing.

    Exit 0 when all are valid (warnings are printed), 1 when any has problems.
    A secret that cannot be had here (no master key, an unset variable, no
    --secrets file) is a warning, so that CI can validate without secrets.
    """
    from generator.pipeline import Options, validate_all

    def action() -> int:
        options = Options(pbx_version, templates, secrets, key_file, allow_formulas=allow_formulas,
                          lenient_secrets=True)
        for resolved in validate_all(rosters, options, no_literal_secrets):
            _say(resolved.warnings)
            print(f"{resolved.document.file}: {len(resolved.users)} users, valid for PBX "
                  f"{resolved.column_set.version}", file=sys.stderr)
        return 0

    _run(action)


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The old roster or CSV (with --base: the roster).", show_default=False)],
    new: Annotated[Optional[Path], typer.Argument(  # noqa: UP045
        help="The new roster or CSV; not with --base.", show_default=False)] = None,
    base: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--base", help="Compare the roster at this git revision (e.g. main) with the file as it is now.")] = None,
    output_format: Annotated[str, typer.Option(
        "--format", help="text (terminal), markdown (a pull-request comment) or json (scripts).")] = "text",
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when anything differs.")] = False,
    pbx_version: VersionOpt = None,
    templates: TemplatesOpt = None,
    secrets: SecretsOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Show what a change does to the PBX: users added, removed and changed.

    Changes are listed field by field. Secrets are never shown, only that they changed.

    Examples: portsip-roster diff old.yaml roster.yaml;
    portsip-roster diff --base main roster.yaml --format markdown;
    portsip-roster diff export.csv users.csv
    """
    from generator.diff import FORMATS, compare
    from generator.pipeline import Options, table_at

    def action() -> int:
        if output_format not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
        if (base is None) == (new is None):
            raise UsageError("give OLD and NEW, or --base REV and one roster")
        options = Options(pbx_version, templates, secrets, key_file)
        before = table_at(old, options, base)
        after = table_at(new or old, options, None)
        plan = compare(before, after)
        print(FORMATS[output_format](plan), end="")
        return 1 if exit_code and not plan.empty else 0

    _run(action)


@app.command()
def explain(
    roster: RosterArg,
    user: Annotated[str, typer.Argument(help="The user's name.", show_default=False)],
    pbx_version: VersionOpt = None,
    templates: TemplatesOpt = None,
    secrets: SecretsOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Show USER fully resolved, each value with the layer and line it came from.

    Passwords and PINs are masked; their source is shown instead.
    """
    from generator.explain import explain as lines
    from generator.pipeline import Options, resolve_roster

    def action() -> int:
        options = Options(pbx_version, templates, secrets, key_file, lenient_secrets=True)  # secrets are masked
        resolved = resolve_roster(roster, options, display=str(roster))
        mine = [p for p in resolved.problems if p.user == user]
        if mine and all(u.name != user for u in resolved.users):
            raise RosterInvalid(mine)  # held back by schema problems: nothing to explain yet
        print("\n".join(lines(resolved, user)))
        _say(mine)
        return 1 if any(not p.warning for p in mine) else 0

    _run(action)


@app.command()
def schema() -> None:
    """Print the roster JSON Schema (draft 2020-12), for editors and CI.

    Example: portsip-roster schema > roster.schema.json
    """
    print(json.dumps(roster_schema(), indent=2, ensure_ascii=False))


@app.command()
def columns(
    pbx_version: Annotated[str, typer.Argument(help="v16 or v22.", show_default=False)],
    templates: TemplatesOpt = None,
) -> None:
    """Print the CSV columns of a PBX version, one per line, in order."""

    def action() -> None:
        print("\n".join(load_column_set(pbx_version, templates).columns))

    _run(action)


@app.command("import")
def import_(
    export: Annotated[Path, typer.Argument(help="A PortSIP user export (CSV, v16 or v22).", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="The roster to write.", show_default=False)],
    secrets_out: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--secrets-out", help="Where the export's passwords and PINs go (default: ROSTER's name with "
        ".secrets.yaml); keep it out of git.")] = None,
    literal_secrets: Annotated[bool, typer.Option(
        "--literal-secrets", help="Keep passwords and PINs in the roster itself (not for git).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite ROSTER and the secrets file.")] = False,
    templates: TemplatesOpt = None,
) -> None:
    """Turn a PortSIP export into a compact roster that gives the export back.

    After writing, it generates the roster and compares it with the export, cell for cell.

    Example: portsip-roster import export.csv -o roster.yaml
    """
    from generator.diff import as_text
    from generator.pipeline import import_to

    def action() -> int:
        secrets_file = None if literal_secrets else secrets_out or output.with_suffix(".secrets.yaml")
        result = import_to(export, output, secrets_file, templates, force)
        for warning in result.imported.warnings:
            print(f"{export}: warning: {warning}", file=sys.stderr)
        kept = f"; secrets in {result.secrets_file} (yours only: keep it out of git)" if result.secrets_file else ""
        print(f"wrote {output} ({result.imported.users} users, PBX {result.imported.version}){kept}", file=sys.stderr)
        if result.problems:
            _say(result.problems)
            print(f"{output} is written, but the export's values break the rules above: fix them in the roster",
                  file=sys.stderr)
            return 1
        if not result.plan.empty:
            print(as_text(result.plan), end="")
            print("warning: generating the roster does not give the export back exactly (above)", file=sys.stderr)
            return 1
        print(f"checked: generating {output} gives back every cell of {export}", file=sys.stderr)
        return 0

    _run(action)


@app.command()
def keygen() -> None:
    """Print a new random master key for generated secrets.

    Example: portsip-roster keygen > ~/.config/portsip/acme.key
    """
    import secrets

    print(secrets.token_urlsafe(32))


def main() -> None:
    app(prog_name="portsip-roster")

