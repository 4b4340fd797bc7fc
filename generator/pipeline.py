"""The stages in order, and nothing else:

  load -> validate -> resolve -> fill (secrets) -> check -> render

`run` takes a roster file and the options, and returns what the stages
made and every problem they found; it raises only UsageError (exit 2), for
what the command line asked that cannot be done. Writing is the commands'.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from generator.check import CROSS_USER_RULES, check, new_run, once_per_source, user_problems
from generator.columns import load_column_set, unknown_version, versions, with_extra_columns
from generator.errors import UsageError
from generator.load import Document, load_includes, read_yaml
from generator.model import ColumnSet, Problem, ResolvedUser
from generator.policy import from_roster
from generator.progress import Progress
from generator.render import Rendered, render
from generator.resolve import held_back, resolve
from generator.secrets.fill import fill
from generator.secrets.mask import masked
from generator.secrets.sources import (
    SecretSources,
    key_env_problems,
    key_warnings,
    load_secrets_file,
    secret_sources,
    unused_entries,
)
from generator.validate import validate


@dataclass(frozen=True, kw_only=True)
class Options:
    """How to run: everything but the roster itself, as the command line gave it."""

    version: str | None = None  # overrides the roster's pbx_version
    templates: Path | None = None  # a folder of column sets instead of the built-in ones
    secrets: Path | None = None  # the --secrets file
    key_file: Path | None = None  # the master key, instead of the environment
    include_root: Path | None = None  # where includes may come from (default: the roster's folder)
    redact: bool = False  # mask every secret in the output (so none need be at hand)
    allow_formulas: bool = False  # text cells may start with = + - @ (a spreadsheet runs them)
    lenient_secrets: bool = False  # a secret not at hand is a warning and a stand-in, not an error
    stand_ins: bool = False  # every secret source gives its stand-in, none is read (to compare sources)
    allow_env: frozenset[str] = frozenset()  # --allow-env: variables a roster may read beyond ROSTER_SECRET_*
    to_pbx: bool = False  # plan, apply: the demo key warns even on the shipped example


NOTHING_AT_HAND = SecretSources({}, None, "nothing (stand-ins only)", reads_env=False)


@dataclass(frozen=True)
class Resolved:
    """What the stages made of one roster: its users (those not held back by
    their own problems), and every problem, in file order."""

    document: Document | None
    included: tuple[Document, ...]
    column_set: ColumnSet | None
    users: tuple[ResolvedUser, ...]
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.warning]

    def rendered(self, exclude: frozenset[str] = frozenset(), progress: Progress | None = None) -> Rendered:
        """The CSV rows of the users not in `exclude`; only for a roster without errors."""
        return render([u for u in self.users if u.name not in exclude], self.column_set, progress)


def ordered(problems: list[Problem]) -> tuple[Problem, ...]:
    unique = dict.fromkeys(problems)  # one line per problem, first seen kept
    return tuple(sorted(unique, key=lambda p: (p.file, p.line, p.col, p.message)))


@contextmanager
def few_collections() -> Iterator[None]:
    """Python's cycle collector off for one run: a large roster allocates
    millions of small objects, and rescanning them all again and again cost
    about half the load time. The roster's data holds no cycles to collect."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _failed(document: Document | None, problems: list[Problem]) -> Resolved:
    return Resolved(document, (), None, (), ordered(problems))


def pick_version(document: Document, version: str | None, templates: Path | None) -> tuple[str | None, list]:
    """--pbx-version wins; else the roster's pbx_version, which must name a column set."""
    known = versions(templates)
    if version:
        return version, []
    chosen = document.data.get("pbx_version")
    if not chosen:
        raise UsageError(f"which PBX version? set pbx_version in the roster or pass "
                         f"--pbx-version ({', '.join(known)})")
    if str(chosen) not in known:
        line, col = document.where(("pbx_version",))
        message = unknown_version(str(chosen), known)
        return None, [Problem(file=document.file, line=line, col=col, code="pbx-version", field="pbx_version",
                              message=message)]
    return str(chosen), []


def run(path: Path, options: Options | None = None, display: str | None = None,
        progress: Progress | None = None) -> Resolved:
    """Every stage up to check, on one roster; problems are collected, not raised."""
    with few_collections():
        return _run(path, options or Options(), display or str(path), progress)


def _run(path: Path, options: Options, display: str, progress: Progress | None) -> Resolved:
    document, problems = read_yaml(path, "roster file", display)
    if document.data is None and problems:
        return _failed(document, problems)
    included, found = load_includes(document, path, options.include_root)
    problems += found
    validation = validate(document)
    problems += validation.problems
    blocking = validation.blocking or any(not p.warning for p in found)
    for shared in included:
        more = validate(shared, included=True)
        problems += more.problems
        blocking |= bool(more.problems)
    if blocking:
        return _failed(document, problems)
    version, found = pick_version(document, options.version, options.templates)
    if version is None:
        return _failed(document, problems + found)
    column_set, found = with_extra_columns(load_column_set(version, options.templates), document)
    policy, policy_problems = from_roster(document, column_set.version, column_set.password_min_length)
    problems += found + policy_problems
    given = (secret_sources(document, options.key_file, allowed_env=options.allow_env) if not options.stand_ins
             else NOTHING_AT_HAND)
    problems += key_env_problems(document, options.allow_env)
    if options.secrets is not None:
        secrets_file, found = load_secrets_file(options.secrets, str(options.secrets))
        given = replace(given, file=secrets_file)
        names = {str(u.get("name")) for u in document.data.get("users") or [] if isinstance(u, dict)}
        problems += found + unused_entries(names, given)
    users, found = resolve(document, included, validation.bad_users, progress)
    problems += found
    lenient = options.lenient_secrets or options.redact or options.stand_ins
    users, found = fill(users, given, policy, lenient=lenient, progress=progress)
    problems += found
    uses_key = any(ref.source_kind.made_here for user in users for ref in user.secret_sources.values())
    problems += key_warnings(path, given, options.key_file, options.secrets, uses_key, not options.to_pbx)
    models = frozenset(name for d in (*included, document) if isinstance(d.data, dict)
                       for name in (d.data.get("phone_models") or {}))
    held = held_back(document.data.get("users") or [], validation.bad_users)
    problems += check(users, column_set, policy, options.allow_formulas, progress, models, held)
    if validation.bad_users:
        problems += held_back_problems(document, included, validation, (given, policy, lenient, column_set),
                                       options.allow_formulas, models, problems)
    if options.redact:  # every secret is masked: one not at hand is no loss, and not worth a warning
        for i, user in enumerate(users):  # in place: the unmasked users go as the masked come
            users[i] = replace(user, fields=masked(user.fields))
        problems = [p for p in problems if p.code != "secret-unchecked"]
    return Resolved(document, tuple(included), column_set, tuple(users), ordered(problems))


def held_back_problems(document: Document, included: list[Document], validation, stages: tuple, allow_formulas: bool,
                       models: frozenset[str], known: list[Problem]) -> list[Problem]:
    """The problems of users held back by schema problems, in the fields that
    had none: each such user is resolved once more without its bad fields and
    checked on its own, so that a bad PIN does not hide a short password until
    the next run. Rules between users (duplicates, BLF targets) wait for the
    user to be whole; nothing of this reaches the output. A secret that
    cannot be had for a cause `known` already tells is not told again."""
    given, policy, lenient, column_set = stages
    entries = document.data.get("users") or []
    stripped, dropped = [], {}
    for i, entry in enumerate(entries):
        bad = validation.bad_fields.get(i)
        if bad is None or None in bad or "name" in bad or not isinstance(entry, dict):
            stripped.append(entry)
            continue
        stripped.append({key: value for key, value in entry.items() if key not in bad})
        dropped[i] = bad
    if not dropped:
        return []
    partial = replace(document, data={**document.data, "users": stripped})
    others = frozenset(range(len(entries))) - frozenset(dropped)
    users, problems = resolve(partial, included, others)
    users, found = fill(users, given, policy, lenient=lenient)
    problems += found
    run = new_run(column_set, policy, models, formulas=not allow_formulas)
    problems += once_per_source([p for user in users for p in user_problems(user, run)])
    problems += CROSS_USER_RULES["text"](users, run)  # check()'s own text rule, not a copy of it
    missing = {f"missing required field {name}" for names in dropped.values() for name in names}
    told = {(p.code, _cause(p.message)) for p in known if p.code.startswith("secret-")}
    return [p for p in problems if p.code != "blf-unknown" and p.message not in missing
            and (p.code, _cause(p.message)) not in told]


def _cause(message: str) -> str:
    return re.sub(r" \([\d,]+ secrets in all, the first shown here\)$", "", message)

