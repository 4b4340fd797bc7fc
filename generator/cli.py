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

from generator import __version__
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


def _say(problems: list[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def _run(action: Callable[[], int | None]) -> None:
    """Run a command body; map this tool's errors to messages and exit codes."""
    try:
        code = action() or 0
    except RosterInvalid as exc:
        _say(exc.problems)
        errors = sum(not p.warning for p in exc.problems)
        print(f"{errors} problem(s); nothing written.", file=sys.stderr)
        code = 1
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    raise typer.Exit(code)


def _show_version(value: bool) -> None:
    if value:
        print(f"portsip-roster {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Turn a YAML roster into the PortSIP PBX bulk-import CSV (v16 or v22)."""


@app.command()
def generate(
    roster: RosterArg,
    pbx_version: VersionOpt = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output",  # noqa: UP045
                                                   help="Write here (atomically) instead of stdout.")] = None,
    bom: Annotated[bool, typer.Option("--bom", help="Start the file with a UTF-8 byte-order mark, for Excel.")] = False,
    redact: Annotated[bool, typer.Option("--redact", help="Mask every password and PIN: a copy for review.")] = False,
    templates: TemplatesOpt = None,
    secrets: SecretsOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Write the import CSV for every user in ROSTER.

    Example: portsip-roster generate roster.yaml --pbx-version v22 -o users.csv
    """
    from generator.pipeline import Options
    from generator.pipeline import generate as build
    from generator.write import write_atomic, write_stdout

    options = Options(pbx_version, templates, secrets, key_file, bom, redact)

    def action() -> None:
        text, warnings, count = build(roster, options, display=str(roster))
        _say(warnings)
        if output is None:
            write_stdout(text)
            return
        try:
            write_atomic(output, text)
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}") from exc
        print(f"wrote {output} ({count} users)", file=sys.stderr)

    _run(action)


@app.command()
def validate(
    roster: RosterArg,
    pbx_version: VersionOpt = None,
    templates: TemplatesOpt = None,
    secrets: SecretsOpt = None,
    key_file: KeyFileOpt = None,
    no_literal_secrets: Annotated[bool, typer.Option(
        "--no-literal-secrets", help="Fail when the roster itself holds any password or PIN.")] = False,
) -> None:
    """Check ROSTER and print every problem as file:line:col; writes nothing.

    Exit 0 when valid (warnings are printed), 1 when there are problems.
    """
    from generator.pipeline import Options, resolve_roster
    from generator.secrets import literal_problems

    def action() -> int:
        resolved = resolve_roster(roster, Options(pbx_version, templates, secrets, key_file), display=str(roster))
        literals = literal_problems(resolved.document) if no_literal_secrets else []
        if resolved.errors or literals:
            raise RosterInvalid(sorted({*resolved.problems, *literals}, key=lambda p: (p.line, p.col, p.message)))
        _say(resolved.warnings)
        print(f"{roster}: {len(resolved.users)} users, valid for PBX {resolved.column_set.version}",
              file=sys.stderr)
        return 0

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
        resolved = resolve_roster(roster, Options(pbx_version, templates, secrets, key_file), display=str(roster))
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


@app.command()
def keygen() -> None:
    """Print a new random master key for generated secrets.

    Example: portsip-roster keygen > ~/.config/portsip/acme.key
    """
    import secrets

    print(secrets.token_urlsafe(32))


def main() -> None:
    app(prog_name="portsip-roster")

