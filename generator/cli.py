"""The command line: parse options, call a command, print what it returned,
and turn that into an exit code.

Exit 0: done. Exit 1: the roster (or a column template) has problems, each
printed as file:line:col. Exit 2: bad usage (unknown option, missing file,
unknown PBX version). Exit 130: interrupted; nothing written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from generator import version as tool_version
from generator.commands.options import Login, Pace, Rules, Sources
from generator.compare.formats import FORMATS
from generator.errors import RosterInvalid, UsageError
from generator.model import Problem, counted

EXIT_CODES = "Exit codes: 0 done; 1 problems in a roster (nothing written); 2 bad usage; 130 interrupted."
# A PBX that cannot be reached or read (a refused login too) is said as bad usage (commands.sync).
PBX_USAGE = ("2 bad usage", "2 bad usage, or a PBX that cannot be reached or read (a refused login included)")

app = typer.Typer(
    add_completion=True,
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Turn a YAML roster into the PortSIP PBX bulk-import CSV (v16 or v22).",
    epilog="\b\nQuick start:\n  portsip-roster init -o roster.yaml        # a commented starter roster\n"
           "  portsip-roster validate roster.yaml       # every problem, as file:line:col\n"
           "  portsip-roster generate roster.yaml -o users.csv\n\n"
           "Docs: README.md and docs/ in the project (docs/commands.md lists every command); "
           "`portsip-roster COMMAND -h` for one.",
)


class ProblemFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


DiffFormat = Enum("DiffFormat", {name: name for name in FORMATS}, type=str)  # diff's and plan's: the one registry


def _complete_version(ctx: typer.Context, incomplete: str) -> list[str]:
    """The PBX versions there are column sets for (--templates DIR's when given first): what a shell completes."""
    from generator.commands.setup import pbx_versions

    templates = ctx.params.get("templates")
    return [v for v in pbx_versions(templates if isinstance(templates, Path) else None) if v.startswith(incomplete)]


RostersArg = Annotated[list[Path], typer.Argument(help="Roster YAML files.", show_default=False, metavar="ROSTER...")]
RosterArg = Annotated[Path, typer.Argument(help="The roster YAML file.", show_default=False, metavar="ROSTER")]
VersionOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer reads this annotation at runtime on Python 3.10
    typer.Option("--pbx-version", metavar="v16|v22", help="Overrides pbx_version in the roster.",
                 autocompletion=_complete_version),
]
TemplatesOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--templates", metavar="DIR", help="Folder of column sets (<version>.yaml) to use instead of the "
                 "built-in ones.", exists=True, file_okay=False),
]
SecretsOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--secrets", metavar="FILE", help="YAML file of secrets by user name, for fields written "
                 "{secrets_file: true}; a pipe such as <(sops -d secrets.enc.yaml) works.", dir_okay=False),
]
KeyFileOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--key-file", metavar="FILE", help="File holding the master key for {generate: true} secrets "
                 "(default: the environment variable the roster names, else PORTSIP_ROSTER_KEY).", dir_okay=False),
]
AllowEnvOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--allow-env", metavar="NAME", help="Let the roster read this environment variable with "
                 "{env: NAME} (repeatable); ROSTER_SECRET_* are allowed anyway, PORTSIP_* and the key's never."),
]


IncludeRootOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--include-root", metavar="DIR", file_okay=False,
                 help="Let include: reach files anywhere below DIR (default: the roster's own folder)."),
]
AllowFormulasOpt = Annotated[bool, typer.Option(
    "--allow-formulas", metavar="",
    help="Let text cells start with = + - @ (a spreadsheet runs such a cell as a formula).")]
FormatOpt = Annotated[ProblemFormat, typer.Option(
    "--format", help="How problems are printed: text (stderr), json or github (workflow commands, stdout).")]


# The login, pace, sync-rule and roster-source options, each written once: a
# command names a group by annotating one parameter with the group's class
# (commands/options.py) and gets the group's options in that place, handed
# back to it as one value.
_GROUPS: dict[type, dict[str, object]] = {}  # class -> {its field: the option's annotation}


def _grouped(command: Callable) -> Callable:
    """`command` with each group-annotated parameter spread into that group's
    options, defaults from the group's class (typer reads the signature);
    called with the options gathered back into one value."""
    import dataclasses
    import functools
    import inspect

    signature = inspect.signature(command, eval_str=True)
    params, spread = [], {}
    for param in signature.parameters.values():
        options = _GROUPS.get(param.annotation)
        if options is None:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))  # typer passes every one by name
            continue
        spread[param.name] = param.annotation
        defaults = {f.name: f.default for f in dataclasses.fields(param.annotation)}
        params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                     default=defaults[name]) for name, annotation in options.items()]

    @functools.wraps(command)
    def gathered(**given):
        for name, made in spread.items():
            given[name] = made(**{key: given.pop(key) for key in _GROUPS[made]})
        return command(**given)

    gathered.__signature__ = signature.replace(parameters=params)
    gathered.__annotations__ = {p.name: p.annotation for p in params}
    del gathered.__wrapped__  # typer reads the signature above, not the command's own
    return gathered


_GROUPS[Sources] = {"templates": TemplatesOpt, "secrets": SecretsOpt, "key_file": KeyFileOpt,
                    "allow_env": AllowEnvOpt}


def _say(problems: list[Problem], style: ProblemFormat = ProblemFormat.text) -> None:
    if not problems:
        return
    from generator.report import RENDER

    stream = sys.stderr if style is ProblemFormat.text else sys.stdout
    stream.write(RENDER[style.value](problems))


def _run(action: Callable[[], int | None], style: ProblemFormat = ProblemFormat.text, usage_code: int = 2,
         nothing: str = "nothing written", interrupted: str = "") -> None:
    """Run a command body; map this tool's errors to messages and exit codes.
    `usage_code`: 1 under --exit-code, where 2 means "there are changes";
    `nothing`: what a refused roster leaves undone, in the command's words."""
    try:
        code = action() or 0
    except RosterInvalid as exc:
        _say(exc.problems, style)
        errors = sum(not p.warning for p in exc.problems)
        print(f"{counted(errors, 'problem')}; {nothing}.", file=sys.stderr)
        code = 1
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = usage_code
    except KeyboardInterrupt:
        print(f"interrupted; {interrupted or nothing}", file=sys.stderr)
        code = 130
    raise typer.Exit(code)


# click's UsageError, whether typer vendors click (0.20 on) or uses it (before).
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _Command(typer.core.TyperCommand):
    """Help as an admin reads it: arguments by their metavar (ROSTER..., [NEW]),
    with no type tag (<list[Path]>) and no braces in the usage line."""

    def _arguments(self, ctx) -> list:
        return [p for p in self.get_params(ctx) if p.param_type_name == "argument"]

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [self.options_metavar or "", *(p.metavar or p.name.upper() for p in self._arguments(ctx))]

    def format_options(self, ctx, formatter) -> None:
        arguments = [(p.metavar or p.name.upper(), (p.help or "") + ("  [required]" if p.required else ""))
                     for p in self._arguments(ctx)]
        options = [record for p in self.get_params(ctx) if p.param_type_name == "option"
                   and (record := p.get_help_record(ctx)) is not None]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class _DetailedExitCode(_Command):
    """A command with --exit-code, where exit 2 means "there are changes" (as
    Terraform's -detailed-exitcode): bad usage that the option parser finds
    exits 1 there, like every other error."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        detailed = "--exit-code" in args  # read first: parsing consumes the list
        try:
            return super().parse_args(ctx, args)
        except _USAGE_ERROR as exc:
            if detailed:
                exc.exit_code = 1
            raise


DETAILED_EXIT = ("With --exit-code (as Terraform's -detailed-exitcode): 0 nothing to do, 2 changes, 1 any error, "
                 "bad usage included.")


def _progress():
    from generator.progress import Progress

    return Progress(sys.stderr)


def _show_version(value: bool) -> None:
    if value:
        print(f"portsip-roster {tool_version()}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", metavar="", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Turn a YAML roster into the PortSIP PBX bulk-import CSV (v16 or v22)."""


@app.command(epilog=EXIT_CODES)
@_grouped
def generate(
    rosters: RostersArg,
    pbx_version: VersionOpt = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", metavar="FILE",  # noqa: UP045
                                                   help="Write here (atomically) instead of stdout.")] = None,
    out_dir: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--out-dir", metavar="DIR", file_okay=False,
        help="Write one CSV per roster here, named after the roster (rosters/acme.yaml -> acme.csv).")] = None,
    check: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--check", metavar="FILE|DIR", help="Write nothing; exit 1 with the differences when this CSV (or, for "
        "several rosters, this folder's CSVs) is not what the roster generates.")] = None,
    since: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--since", metavar="REV|FILE", show_default=False,
        help="Only users new since this git revision of the roster, or since this older roster or CSV.")] = None,
    bom: Annotated[bool, typer.Option("--bom", metavar="",
                                      help="Start the file with a UTF-8 byte-order mark, for Excel.")] = False,
    redact: Annotated[bool, typer.Option("--redact", metavar="",
                                         help="Mask every password and PIN: a copy for review.")] = False,
    *,
    sources: Sources,
    include_root: IncludeRootOpt = None,
    allow_formulas: AllowFormulasOpt = False,
    problem_format: FormatOpt = ProblemFormat.text,
) -> None:
    """Write the import CSV for every user in each ROSTER.

    Examples:

    \b
      portsip-roster generate roster.yaml -o users.csv
      portsip-roster generate rosters/*.yaml --out-dir build/
      portsip-roster generate roster.yaml --check users.csv
      portsip-roster generate roster.yaml --since main -o new-users.csv
    """
    from generator.commands.generate import (
        check_report,
        generate_all,
        output_paths,
        refuse_inputs_as_outputs,
        write_all,
    )

    options = sources.options(version=pbx_version, include_root=include_root, redact=redact,
                              allow_formulas=allow_formulas)
    templates, secrets, key_file = sources.templates, sources.secrets, sources.key_file

    def action() -> int:
        targets = output_paths(rosters, output, out_dir, check)
        if problem_format is not ProblemFormat.text and None in targets:
            raise UsageError(f"--format {problem_format.value} prints on stdout, where the CSV goes: add -o FILE")
        refuse_inputs_as_outputs(rosters, targets, secrets, key_file, templates)
        results = generate_all(rosters, options, since, _progress())
        refuse_inputs_as_outputs([*rosters, *(f for r in results for f in r.included)], targets)
        for result in results:
            _say(result.warnings, problem_format)
        if check is not None:
            flags = {"--pbx-version": pbx_version, "--templates": templates, "--secrets": secrets,
                     "--key-file": key_file, "--include-root": include_root, "--allow-formulas": allow_formulas,
                     "--bom": bom, "--redact": redact}
            said, code = check_report(results, targets, check, bom, flags)
            for stream, text in said:
                print(text, end="", file=sys.stdout if stream == "out" else sys.stderr)
            return code
        for line in write_all(results, targets, since, bom):
            print(line, file=sys.stderr)
        return 0

    _run(action, problem_format)


@app.command(epilog=EXIT_CODES)
@_grouped
def validate(
    rosters: RostersArg,
    pbx_version: VersionOpt = None,
    *,
    sources: Sources,
    include_root: IncludeRootOpt = None,
    no_literal_secrets: Annotated[bool, typer.Option(
        "--no-literal-secrets", metavar="", help="Fail when the roster itself holds any password or PIN.")] = False,
    allow_formulas: AllowFormulasOpt = False,
    problem_format: FormatOpt = ProblemFormat.text,
) -> None:
    """Check each ROSTER and print every problem as file:line:col; writes nothing.

    Exit 0 when all are valid (warnings are printed), 1 when any has problems.
    A secret that cannot be had here (no master key, an unset variable, no
    --secrets file) is a warning, so that CI can validate without secrets.
    """
    from generator.commands.validate import validate_all

    def action() -> int:
        options = sources.options(version=pbx_version, include_root=include_root, allow_formulas=allow_formulas,
                                  lenient_secrets=True)
        results = validate_all(rosters, options, no_literal_secrets, _progress())
        _say([p for resolved in results for p in resolved.warnings], problem_format)
        for resolved in results:
            print(f"{resolved.document.file}: {counted(len(resolved.users), 'user')}, valid for PBX "
                  f"{resolved.column_set.version}", file=sys.stderr)
        return 0

    _run(action, problem_format)


@app.command(cls=_DetailedExitCode, epilog=f"{EXIT_CODES} {DETAILED_EXIT}")
@_grouped
def diff(
    old: Annotated[Path, typer.Argument(help="The old roster or CSV (with --base: the roster).", show_default=False,
                                         metavar="OLD")],
    new: Annotated[Optional[Path], typer.Argument(  # noqa: UP045
        help="The new roster or CSV; not with --base.", show_default=False, metavar="[NEW]")] = None,
    base: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--base", metavar="REV", help="Compare the roster at this git revision (e.g. main) with the file as it is "
        "now.")] = None,
    output_format: Annotated[DiffFormat, typer.Option(
        "--format", help="text (terminal), markdown (a pull-request comment) or json (scripts).")] = DiffFormat.text,
    exit_code: Annotated[bool, typer.Option("--exit-code", metavar="", help="Exit 2 when anything differs, 0 when "
                                            "nothing does, 1 on any error (bad usage too).")] = False,
    pbx_version: VersionOpt = None,
    *,
    sources: Sources,
) -> None:
    """Show what a change does to the PBX: users added, removed and changed.

    Changes are listed field by field. Secrets are never shown, only that they changed.

    Examples:

    \b
      portsip-roster diff old.yaml roster.yaml
      portsip-roster diff --base main roster.yaml --format markdown
      portsip-roster diff export.csv users.csv
    """
    from generator.commands.diff import run_diff

    def action() -> int:
        return run_diff(old, new, base, sources.options(version=pbx_version), exit_code, _Said(output_format.value))

    _run(action, usage_code=1 if exit_code else 2)


@app.command(epilog=EXIT_CODES)
@_grouped
def explain(
    roster: RosterArg,
    user: Annotated[str, typer.Argument(help="The user's name.", show_default=False, metavar="USER")],
    pbx_version: VersionOpt = None,
    *,
    sources: Sources,
) -> None:
    """Show USER fully resolved, each value with the layer and line it came from.

    Passwords and PINs are masked; their source is shown instead.
    """
    from generator.commands.explain import explain_user

    def action() -> int:
        options = sources.options(version=pbx_version, redact=True)  # secrets are masked anyway: none need be at hand
        lines, problems, code = explain_user(roster, options, user)
        print("\n".join(lines))
        _say(problems)
        return code

    _run(action)


@app.command(epilog="Exit codes: 0 done.")
def schema() -> None:
    """Print the roster JSON Schema (draft 2020-12), for editors and CI.

    Example:

    \b
      portsip-roster schema > roster.schema.json
    """
    from generator.commands.setup import schema_text

    print(schema_text())


@app.command(epilog="Exit codes: 0 done; 1 a broken column set; 2 an unknown PBX version.")
def columns(
    pbx_version: Annotated[str, typer.Argument(help="The PBX version.", show_default=False, metavar="v16|v22",
                                               autocompletion=_complete_version)],
    templates: TemplatesOpt = None,
) -> None:
    """Print the CSV columns of a PBX version, one per line, in order."""
    from generator.commands.setup import column_names

    def action() -> None:
        print("\n".join(column_names(pbx_version, templates)))

    _run(action)


PbxOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--pbx", metavar="URL", envvar="PORTSIP_URL", show_envvar=True,
    help="The API's base URL, as in PortSIP's OpenAPI servers entry: https://pbx.example.com:8887/api.")]
UsernameOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--username", metavar="NAME", envvar="PORTSIP_USERNAME", show_envvar=True, help="The admin account to sign in as.")]
DomainOpt = Annotated[str, typer.Option(
    "--domain", metavar="DOMAIN", envvar="PORTSIP_DOMAIN", show_envvar=True, help="The tenant's SIP domain.")]
PasswordFileOpt = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--password-file", metavar="FILE", dir_okay=False,
    help="A file holding the account's password (else PORTSIP_PASSWORD; never a flag's value).")]
CaFileOpt = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--ca-file", metavar="FILE", dir_okay=False, help="Trust this CA too (a PBX with a certificate of its own CA).")]
InsecureOpt = Annotated[bool, typer.Option(
    "--insecure", metavar="", help="Do not verify the PBX's TLS certificate (warned about on every run).")]
AllowHttpOpt = Annotated[bool, typer.Option(
    "--allow-http", metavar="", help="Allow a plain http:// PBX URL (the password and secrets cross the network as "
    "they are; warned about on every run).")]
BaseOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--base", metavar="REV", help="The roster's last applied git revision: secrets whose source, rotation or MAC "
    "changed since then are changed on the PBX.")]
PruneOpt = Annotated[bool, typer.Option(
    "--prune", metavar="", help="Delete PBX users the roster does not name, and PBX phones a user's phones: list "
    "lacks (a user with no phones: key keeps them).")]
AllowReplaceOpt = Annotated[bool, typer.Option(
    "--allow-replace", metavar="", help="Let apply replace (delete, then make again) every user whose extension "
    "changed, and every phone whose MAC, vendor, model or file changed; without it, or --replace NAME, such a user "
    "is held back.")]
ReplaceOpt = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
    "--replace", metavar="NAME", help="Let apply replace this user, or its phones (repeat for more); others are "
    "held back.")]
MaxDeletesOpt = Annotated[int, typer.Option(
    "--max-deletes", metavar="PCT", min=0, max=100,
    help="Refuse a plan deleting more than PCT% of the PBX's users (at least 1 unless 0; a phone counts as a user) "
    "without --force.")]
MaxReplacesOpt = Annotated[int, typer.Option(
    "--max-replaces", metavar="PCT", min=0, max=100,
    help="Refuse a plan replacing more than PCT% of the PBX's users (at least 1 unless 0; a phone counts as a user) "
    "without --force.")]
MaxUpdatesOpt = Annotated[int, typer.Option(
    "--max-updates", metavar="PCT", min=0, max=100,
    help="Refuse a plan updating more than PCT% of the PBX's users (at least 1 unless 0) without --force.")]
ForceOpt = Annotated[bool, typer.Option(
    "--force", metavar="", help="Go past the --max-deletes/--max-replaces/--max-updates thresholds.")]
ParallelOpt = Annotated[int, typer.Option("--parallel", metavar="N", min=1, max=32,
                                          help="Requests at once.")]
RateOpt = Annotated[float, typer.Option(
    "--rate", metavar="N", min=0.1, max=1000, help="A ceiling: at most N requests a second. Under it the rate adapts: "
    "it starts just under PortSIP's 10,000 a minute (22.1.7 on) and slows down on a 429.")]
LogOpt = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--log", metavar="FILE", dir_okay=False,
    help="Append one JSON line per request (method, path, status, user; never a secret or a token).")]


_GROUPS[Login] = {"pbx": PbxOpt, "username": UsernameOpt, "domain": DomainOpt, "password_file": PasswordFileOpt,
                  "ca_file": CaFileOpt, "insecure": InsecureOpt, "allow_http": AllowHttpOpt}
_GROUPS[Rules] = {"base": BaseOpt, "prune": PruneOpt, "allow_replace": AllowReplaceOpt, "replace": ReplaceOpt,
                  "max_deletes": MaxDeletesOpt, "max_replaces": MaxReplacesOpt, "max_updates": MaxUpdatesOpt,
                  "force": ForceOpt}
_GROUPS[Pace] = {"parallel": ParallelOpt, "rate": RateOpt, "log": LogOpt}


class _AdoptLogin(Login):
    """The login options with import's own --pbx: it reads no PORTSIP_URL, or
    every `import export.csv` with that set would be "an export or a PBX, not both"."""


AdoptPbxOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--pbx", metavar="URL", help="Adopt the running tenant instead of an export: read every user and phone "
    "from the PBX's API (its base URL, as for plan; the same login options).")]
_GROUPS[_AdoptLogin] = {**_GROUPS[Login], "pbx": AdoptPbxOpt}


@app.command("import", epilog=EXIT_CODES.replace("(nothing written)", "(the roster is written; fix them in it), "
                                                  "or with --pbx a plan after adoption that is not empty")
                                       .replace(*PBX_USAGE))
@_grouped
def import_(
    output: Annotated[Path, typer.Option("-o", "--output", metavar="ROSTER", help="The roster to write.",
                                         show_default=False)],
    export: Annotated[Optional[Path], typer.Argument(  # noqa: UP045
        help="A PortSIP user export (CSV, v16 or v22); or --pbx URL instead.", show_default=False,
        metavar="[EXPORT]")] = None,
    secrets_out: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--secrets-out", metavar="FILE", help="Where the export's passwords and PINs go (default: ROSTER's name "
        "with .secrets.yaml); keep it out of git.")] = None,
    literal_secrets: Annotated[bool, typer.Option(
        "--literal-secrets", metavar="", help="Keep passwords and PINs in the roster itself (not for git).")] = False,
    force: Annotated[bool, typer.Option("--force", metavar="", help="Overwrite ROSTER and the secrets file.")] = False,
    templates: TemplatesOpt = None,
    *,
    login: _AdoptLogin,
    pace: Pace,
) -> None:
    """Turn a PortSIP export, or a running tenant (--pbx), into a compact roster.

    From an export: after writing, it generates the roster and compares it with the export, cell for cell.
    From the PBX (adoption): secrets only in the secrets file; after writing, it plans the roster against the
    tenant as read, which should leave nothing to do.

    Examples:

    \b
      portsip-roster import export.csv -o roster.yaml
      PORTSIP_PASSWORD=... portsip-roster import --pbx https://pbx:8887/api --username admin -o roster.yaml
    """
    from generator.commands.importing import import_to
    from generator.compare.formats import as_text

    if export is not None and login.pbx:
        _run(lambda: _usage("import reads an export or a PBX, not both: drop EXPORT or --pbx"))
    if export is None and not login.pbx:
        _run(lambda: _usage("import what? name an EXPORT (a PortSIP user export, CSV) or pass --pbx URL"))
    if login.pbx:
        def adopting() -> int:
            from generator.commands.adopting import run_adopt

            if literal_secrets:
                raise UsageError("--literal-secrets: adoption never writes a secret into the roster")
            secrets_file = secrets_out or output.with_suffix(".secrets.yaml")
            return run_adopt(login, pace, output, secrets_file, force, templates, _Said())

        _run_sync(adopting)

    def action() -> int:
        secrets_file = None if literal_secrets else secrets_out or output.with_suffix(".secrets.yaml")
        result = import_to(export, output, secrets_file, templates, force)
        for warning in result.imported.warnings:
            print(f"{export}: warning: {warning}", file=sys.stderr)
        kept = f"; secrets in {result.secrets_file} (yours only: keep it out of git)" if result.secrets_file else ""
        _warn_if_left_to_git(result.secrets_file, "the secrets file")
        print(f"wrote {output} ({counted(result.imported.users, 'user')}, PBX {result.imported.version}){kept}",
              file=sys.stderr)
        if result.problems:
            _say(result.problems)
            print(f"{output} is written, but the export's values break the rules above: fix them in the roster",
                  file=sys.stderr)
            return 1
        if not result.plan.empty:
            print(as_text(result.plan), end="")
            print("warning: generating the roster does not give the export back exactly (above)", file=sys.stderr)
            return 1
        for kind, count in result.normalised.items():
            print(f"note: {kind} ({count}x): PortSIP's documented spelling", file=sys.stderr)
        print(f"checked: generating {output} gives back every cell of {export}"
              + (", spellings put right as noted" if result.normalised else ""), file=sys.stderr)
        return 0

    _run(action)


def _usage(message: str) -> None:
    raise UsageError(message)


@app.command(epilog="Exit codes: 0 done; 2 the file cannot be written.")
def keygen(
    output: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "-o", "--output", metavar="FILE", help="Write the key to a new FILE, readable by you only.")] = None,
) -> None:
    """Print a new random master key for generated secrets.

    Example:

    \b
      portsip-roster keygen -o ~/.config/portsip/acme.key
    """
    from generator.commands.setup import new_key, write_key

    key = new_key()

    def action() -> None:
        if output is None:
            print(key)
            return
        print(write_key(output, key), file=sys.stderr)
        _warn_if_left_to_git(output, "the key")

    _run(action)


class _Said:
    """A sync's words as it goes: problems and lines on stderr, the plan on stdout in `style`."""

    def __init__(self, style: str = "text"):
        self.style = style

    def problems(self, problems: list[Problem]) -> None:
        _say(problems)

    def line(self, text: str) -> None:
        print(text, file=sys.stderr)

    def plan(self, made) -> None:
        from generator.commands.sync import shown
        from generator.compare.formats import wants_colour

        print(shown(made, self.style, wants_colour(sys.stdout, os.environ)), end="")

    def confirm(self) -> bool:
        if not sys.stdin.isatty():
            raise UsageError("apply changes the PBX: pass --yes where nobody can answer (CI)")
        return input("Apply these changes? [y/N] ").strip().lower() in ("y", "yes")

    def progress(self):
        return _progress()


@app.command("plan", cls=_DetailedExitCode,
             epilog=EXIT_CODES.replace("1 problems in a roster (nothing written)",
                                       "1 problems in a roster or clashes with the PBX's users (nothing sent), or a "
                                       "plan past its thresholds").replace(*PBX_USAGE) + f" {DETAILED_EXIT}")
@_grouped
def plan_command(
    roster: RosterArg,
    login: Login,
    rules: Rules,
    output_format: Annotated[DiffFormat, typer.Option(
        "--format", help="text (terminal), markdown (a pull-request comment) or json (stable, for tools).")
    ] = DiffFormat.text,
    out: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--out", metavar="FILE", dir_okay=False, help="Save the plan for `apply --plan FILE`.")] = None,
    exit_code: Annotated[bool, typer.Option(
        "--exit-code", metavar="", help="Exit 2 when there is anything to do, 0 when nothing, 1 on any error (a bad "
        "roster, bad usage, the PBX).")] = False,
    *,
    pace: Pace,
    sources: Sources,
) -> None:
    """Show what `apply` would change on the PBX: users to create, update, replace or delete.

    Reads the PBX; changes nothing. Secrets are never shown or read back.

    Example:

    \b
      PORTSIP_PASSWORD=... portsip-roster plan roster.yaml --pbx https://pbx:8887/api --username admin
    """
    from generator.commands.sync import run_plan

    def action() -> int:
        return run_plan(roster, sources.options(), login, rules, pace, out, _Said(output_format.value), exit_code)

    _run_sync(action, usage_code=1 if exit_code else 2)


def _run_sync(action: Callable[[], int | None], usage_code: int = 2, interrupted: str = "") -> None:
    from generator.commands.sync import StalePlan, pbx_errors_as_usage

    def guarded() -> int | None:
        try:
            return pbx_errors_as_usage(action)
        except StalePlan as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    _run(guarded, usage_code=usage_code, nothing="nothing sent to the PBX",
         interrupted=interrupted or "nothing changed on the PBX")


@app.command("apply", epilog=EXIT_CODES.replace("1 problems in a roster (nothing written)",
                                                "1 problems in a roster or clashes with the PBX's users (nothing "
                                                "sent), a stale --plan, a plan past its thresholds (nothing sent), "
                                                "a change the PBX refused, or a user held back")
                                       .replace("130 interrupted.", "130 interrupted; 143 stopped by SIGTERM (130 "
                                                "by Ctrl-C): the users in flight finished, no other started.")
                                       .replace(*PBX_USAGE))
@_grouped
def apply_command(
    roster: RosterArg,
    login: Login,
    rules: Rules,
    saved: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--plan", metavar="FILE", dir_okay=False,
        help="Apply exactly this saved plan; refused if the roster or the PBX changed since.")] = None,
    yes: Annotated[bool, typer.Option("--yes", metavar="", help="Do not ask (for CI).")] = False,
    *,
    pace: Pace,
    sources: Sources,
) -> None:
    """Make the PBX's users match the roster.

    Shows the plan and asks on a terminal; --yes for CI. A user the PBX refuses
    does not stop the others; run apply again once the cause is fixed.

    Example:

    \b
      portsip-roster apply roster.yaml --pbx https://pbx:8887/api --username admin --yes
    """
    from generator.commands.sync import run_apply

    def action() -> int:
        return run_apply(roster, sources.options(), login, rules, pace, saved, yes, _Said())

    _run_sync(action)


def _warn_if_left_to_git(path: Path | None, what: str) -> None:
    from generator.commands.revision import left_to_git_warning

    warning = left_to_git_warning(path, what)
    if warning is not None:
        print(warning, file=sys.stderr)




@app.command(epilog="Exit codes: 0 done; 2 the file exists (without --force), cannot be written, or an unknown "
             "PBX version.")
def init(
    output: Annotated[Path, typer.Option("-o", "--output", metavar="FILE", help="Where to write the roster.")
                      ] = Path("roster.yaml"),
    pbx_version: Annotated[str, typer.Option("--pbx-version", metavar="v16|v22", help="The PBX version.",
                                             autocompletion=_complete_version)] = "v22",
    force: Annotated[bool, typer.Option("--force", metavar="", help="Overwrite FILE.")] = False,
) -> None:
    """Write a commented starter roster to edit (two users, generated secrets).

    Example:

    \b
      portsip-roster init -o roster.yaml --pbx-version v22
    """

    def action() -> None:
        from generator.commands.setup import write_starter

        print(write_starter(output, pbx_version, force), file=sys.stderr)

    _run(action)


for _info in app.registered_commands:  # every command, without touching each one's decorator
    if _info.cls in (None, typer.core.TyperCommand):
        _info.cls = _Command


def main() -> None:
    app(prog_name="portsip-roster")
