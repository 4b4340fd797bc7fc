"""Stage 4, check: each resolved user against the PBX's field rules, then the
rules that span users. Every problem is located at the YAML that gave the value.

Rules that JSON Schema can say (types, enums, lengths, patterns, ranges)
live in schemas/roster.schema.json and were checked layer by layer; the
fields every user needs once merged are its `resolvedUser` definition. The
rest are the functions here, each listed under an id in FIELD_RULES (run on
each user) or CROSS_USER_RULES (run on all users at once): a new rule is a
function and a line in one of them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from generator.load import value_at
from generator.memo import ByIdentity
from generator.model import SECRET_KEYS, WEEKDAYS, ColumnSet, HeldBack, Problem, ResolvedUser, dotted, mac_key
from generator.policy import Policy, account_words
from generator.policy import faults as policy_faults
from generator.progress import Progress
from generator.schema import facts, schema_errors
from generator.secrets.fill import secret_at, secret_paths
from generator.validate import code_of, describe

NOTHING_HELD = HeldBack()
RESERVED_NAMES = frozenset({"admin", "system", "administrator", "root"})
NOT_COLUMNS = frozenset({"extra", "rotate"})  # user fields that are not a column of their own

Issue = tuple[tuple, str, str]  # (path into the user's fields, code, message)


MODEL_FIELDS = ("vendor", "filename")  # what a phone model tells: the provisioning template


def _model_message(model: str, missing: list[str], phone_models: frozenset[str]) -> str:
    close = difflib.get_close_matches(model, phone_models, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    known = ", ".join(sorted(phone_models)) or "none"
    return (f"phone model {model!r} has no {' or '.join(missing)}: {hint}give them under "
            f"phone_models[{model!r}] (known models: {known})")


# Where a phone's field may be given: a starter roster (init) has no phone_defaults yet.
PHONE_LAYERS = " (give it in the phone, its model under phone_models, or defaults.phone_defaults)"


def schema_issues(user: ResolvedUser, phone_models: frozenset[str] = frozenset()) -> Iterator[Issue]:
    """What the roster's schema check could not see: required fields, which may
    come from any layer (a phone's vendor and filename from its model), and
    values that templates computed. Every other value
    was validated in its layer, and merging valid layers keeps them valid."""
    known = facts()
    fields = user.fields
    for name in known.required_user:
        if name not in fields:
            yield (), "schema-required", f"missing required field {name}"
    for i, phone in enumerate(fields.get("phones") or []):
        model_missing = [name for name in MODEL_FIELDS if name not in phone]
        if model_missing and isinstance(phone.get("model"), str):
            yield ("phones", i, "model"), "unknown-phone-model", _model_message(phone["model"], model_missing,
                                                                               phone_models)
        for name in known.required_phone:
            if name not in phone and not (name in model_missing and isinstance(phone.get("model"), str)):
                yield ("phones", i), "schema-required", f"missing required field {name}{PHONE_LAYERS}"
    for path in dict.fromkeys(p[:3] if p[0] == "phones" else p[:1] for p in user.computed):
        if path[0] == "phones":
            pointer, value = f"phone/properties/{path[2]}", fields["phones"][path[1]][path[2]]
        else:
            pointer, value = f"userFields/properties/{path[0]}", fields[path[0]]
        for error in schema_errors(value, pointer):
            for where, message, leaf in describe(error, path):
                yield where, code_of(leaf), message


def name_issues(fields: dict) -> Iterator[Issue]:
    name = fields.get("name")
    if isinstance(name, str) and name.lower() in RESERVED_NAMES:
        yield ("name",), "reserved-name", f"{name!r} is reserved for the system administrator"


def secret_issues(user: ResolvedUser, policy: Policy) -> Iterator[Issue]:
    """Passwords and PINs against the tenant's policy, whatever their source.
    Skipped: a source that could not be filled (reported already) or got a
    stand-in, and generated values (drawn until they pass these same rules).
    A value the roster's author cannot see (environment, secrets file) is not
    held against the user's name, extension or email: the author chooses
    those, and the verdict would tell which guesses the secret contains."""
    account = None
    for path, kind in secret_paths(user.fields):
        value = secret_at(user.fields, path)
        source = user.secret_sources.get(path)
        if not isinstance(value, str) or path in user.stand_ins or (source and source.source_kind.made_here):
            continue
        if source is not None:  # read from outside the roster: its author does not see the value
            words = []
        else:
            if account is None:
                account = account_words(user.fields)
            words = account
        for fault in policy_faults(kind, value, policy, words):
            yield path, "secret-policy", fault


def _day_issues(path: tuple, day: dict) -> Iterator[Issue]:
    # HH:MM compares correctly as text. Malformed ranges (only a computed value
    # can get here with one) are the schema check's to report.
    ranges = [(i, s["from"], s["to"]) for i, s in enumerate(day.get("ranges") or [])
              if isinstance(s, dict) and isinstance(s.get("from"), str) and isinstance(s.get("to"), str)]
    for i, start, end in ranges:
        if start >= end:
            yield (*path, "ranges", i), "office-hours", f"{start}-{end}: 'from' must be earlier than 'to'"
    ordered = sorted(ranges, key=lambda r: r[1])
    for (_, start, end), (later, next_start, next_end) in zip(ordered, ordered[1:]):
        if next_start < end:
            yield (*path, "ranges", later), "office-hours", f"{start}-{end} and {next_start}-{next_end} overlap"


def _week_issues(path: tuple, week: object) -> Iterator[Issue]:
    if not isinstance(week, dict):
        return
    for name in WEEKDAYS:
        if isinstance(week.get(name), dict):
            yield from _day_issues((*path, name), week[name])


def hours_issues(fields: dict, week_faults: ByIdentity) -> Iterator[Issue]:
    """`week_faults`: a week's issues, worked out once per shared week."""
    weeks = [(("office_hours",), fields.get("office_hours"))]
    weeks += [(("custom_forward_rules", i, "hours"), rule.get("hours"))
              for i, rule in enumerate(fields.get("custom_forward_rules") or []) if isinstance(rule, dict)]
    for path, week in weeks:
        for sub, code, message in week_faults(week):
            yield (*path, *sub), code, message


def _rules(fields: dict) -> Iterator[tuple[tuple, dict]]:
    """The four standard forward rules and the custom ones, with their paths."""
    numbered = [((name,), fields.get(name)) for name in facts().forward_rules]
    numbered += [(("custom_forward_rules", i), r) for i, r in enumerate(fields.get("custom_forward_rules") or [])]
    return ((path, rule) for path, rule in numbered if isinstance(rule, dict))


def forward_issues(fields: dict) -> Iterator[Issue]:
    for path, rule in _rules(fields):
        if rule.get("action") == "FORWARD_TO_NUMBER" and not rule.get("number"):
            yield path, "forward-number", "FORWARD_TO_NUMBER needs a number to forward to"


def version_issues(user: ResolvedUser, column_set: ColumnSet, places: tuple[frozenset, frozenset]) -> Iterator[Issue]:
    """Fields the roster sets on purpose that this PBX version has no place for."""
    columns, phone_keys = places
    for name in user.fields:
        if name not in columns and _set_on_purpose(user, (name,)):
            yield (name,), "pbx-unsupported", f"not supported by PBX {column_set.version} (no such column)"
    for i, phone in enumerate(user.fields.get("phones") or []):
        for key in phone:
            if key not in phone_keys and _set_on_purpose(user, ("phones", i, key)):
                yield ("phones", i, key), "pbx-unsupported", f"not supported by PBX {column_set.version}"


def length_issues(fields: dict, column_set: ColumnSet) -> Iterator[Issue]:
    """Limits this PBX version sets beyond the schema's (templates/<version>.yaml, max_lengths)."""
    for name, limit in column_set.max_lengths.items():
        value = fields.get(name)
        if isinstance(value, str) and len(value) > limit:
            yield (name,), "schema-format", f"must be at most {limit} characters long on PBX {column_set.version}"


def _set_on_purpose(user: ResolvedUser, path: tuple) -> bool:
    found = user.origin(path)
    return found is not None and found[0].label != "built-in"


@dataclass
class Run:
    """What one check run works out once rather than per user."""

    column_set: ColumnSet
    policy: Policy
    places: tuple[frozenset, frozenset]  # the fields and phone keys the version has a place for
    week_faults: ByIdentity
    phone_models: frozenset[str] = frozenset()  # the models some layer defines
    formulas: bool = True  # whether text a spreadsheet would run is refused (not --allow-formulas)
    held: HeldBack = NOTHING_HELD  # what the users held back still tell the rules across users


def new_run(column_set: ColumnSet, policy: Policy, phone_models: frozenset[str] = frozenset(),
            formulas: bool = True, held: HeldBack = NOTHING_HELD) -> Run:
    places = (frozenset(column_set.columns) | NOT_COLUMNS | facts().api_only, frozenset(column_set.phone_keys))
    return Run(column_set, policy, places, ByIdentity(lambda week: list(_week_issues((), week))), phone_models,
               formulas, held)


# The field rules, in the order their problems are told: id -> (user, run) -> issues.
FIELD_RULES: Mapping[str, Callable[[ResolvedUser, Run], Iterable[Issue]]] = MappingProxyType({
    "required": lambda user, run: schema_issues(user, run.phone_models),
    "reserved-name": lambda user, run: name_issues(user.fields),
    "secret-policy": lambda user, run: secret_issues(user, run.policy),
    "office-hours": lambda user, run: hours_issues(user.fields, run.week_faults),
    "forward-number": lambda user, run: forward_issues(user.fields),
    "pbx-unsupported": lambda user, run: version_issues(user, run.column_set, run.places),
    "max-length": lambda user, run: length_issues(user.fields, run.column_set),
})


def user_problems(user: ResolvedUser, run: Run) -> list[Problem]:
    issues = [issue for rule in FIELD_RULES.values() for issue in rule(user, run)]
    return [user.problem(path, code, message + _from_source(user, path)) for path, code, message in issues]


# OWASP's CSV-injection list (= + - @ tab CR), their full-width forms, and the
# same behind characters a spreadsheet may skip (space, NBSP, U+3000, line
# feed, zero-width space, byte-order mark): what LibreOffice or Excel runs
# varies, so everything any of them might run is refused.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_SKIPPED = " \u00a0\u3000\n\u200b\ufeff"


def _is_formula(value: str) -> bool:
    return value.startswith(FORMULA_STARTS) or value.lstrip(_SKIPPED).startswith(FORMULA_STARTS)
# Numbers to call, and secrets, are not free text: "+1555..." is a number.
NOT_FREE_TEXT = frozenset({"number", "caller_id", "key", "value"}) | SECRET_KEYS


def _formula_message(value: str) -> str:
    first = value.lstrip(_SKIPPED)[:1] if not value.startswith(FORMULA_STARTS) else value[:1]
    return (f"starts with {first!r}: a spreadsheet would run it as a formula (change it, or pass --allow-formulas "
            "to generate or validate)")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_MESSAGE = "holds a control character (such as a line break, ESC or NUL): remove it"
_CONTROL_NAMES = {"\t": "a tab", "\n": "a line break", "\r": "a carriage return (CR)", "\x1b": "an escape (ESC)",
                  "\x00": "a NUL"}


def _control_message(text: str, secret: bool) -> str:
    """Names the character (never for a secret, whose characters are not told)."""
    found = _CONTROL.search(text).group()
    if secret:
        return _CONTROL_MESSAGE
    name = _CONTROL_NAMES.get(found, f"a control character (U+{ord(found):04X})")
    return f"holds {name}: remove it"
# Either rule's concern, in one search: a formula start (behind what a
# spreadsheet skips), or a control character anywhere. Most text has neither.
_SUSPECT = re.compile("^[" + re.escape(_SKIPPED) + "]*[" + re.escape("".join(FORMULA_STARTS)) + "]|"
                      + _CONTROL.pattern)


def _holds_suspect(value: object) -> bool:
    """Whether any text below `value` is suspect: strings are tested in a loop,
    so a layer with none (nearly all) costs one call per mapping or list."""
    search = _SUSPECT.search
    for inner in value.values() if type(value) is dict else value:
        if type(inner) is str:
            if search(inner):
                return True
        elif type(inner) in (dict, list) and _holds_suspect(inner):
            return True
    return False


def _suspects(value: object, path: tuple = (), free: bool = True,
              no_cell: frozenset[str] = frozenset()) -> Iterator[tuple[tuple, str, bool]]:
    """(path, text, free) for each text below `value` that either rule may
    refuse; `free` is False below a key that holds a number to call or a
    secret, which may start with '+', and below a top-level key in `no_cell`."""
    if isinstance(value, str):
        if _SUSPECT.search(value):
            yield path, value, free
    elif isinstance(value, (dict, list)):
        for key, inner in value.items() if isinstance(value, dict) else enumerate(value):
            yield from _suspects(inner, (*path, key), free and key not in NOT_FREE_TEXT and key not in no_cell)


_USER_READ = re.compile(r"\buser\b(?:\s*\.\s*([A-Za-z_]\w*))?")


def never_in_cells(column_set: ColumnSet) -> frozenset[str]:
    """API-only fields that no cell of this CSV reads: a spreadsheet never sees
    them, so they are no formula (an E.164 number starts with '+'). A cell that
    reads the user other than as `user.<field>` (`user['x']`, `user.items()`)
    may read any field, and then every field keeps the rule."""
    fields = facts().user_fields
    read = set()
    for cell in column_set.cells:
        for match in _USER_READ.finditer(cell):
            if match.group(1) not in fields:
                return frozenset()
            read.add(match.group(1))
    return facts().api_only - read


def _text_faults(text: str, free: bool, formulas: bool, secret: bool = True) -> Iterator[tuple[str, str]]:
    """(code, message) for what is wrong with one text:
    - a formula: a spreadsheet runs a cell that starts with = + - @ (a tab, a
      CR, and more: see FORMULA_STARTS) as a formula;
    - a control character (NUL, ESC, BEL, a line break, bidi overrides),
      however the YAML wrote it ("\\x1b" in double quotes too): it reaches
      terminals, spreadsheets and the PBX as it is. Never quoted: it may be a secret."""
    if formulas and free and _is_formula(text):
        yield "formula", _formula_message(text)
    if _CONTROL.search(text):
        yield "control-character", _control_message(text, secret)


def _is_secret(path: tuple) -> bool:
    return any(isinstance(part, str) and part in SECRET_KEYS for part in path)


def text_problems(users: list[ResolvedUser], formulas: bool = True,
                  no_cell: frozenset[str] = frozenset()) -> Iterator[Problem]:
    """Problems of text values, found where they are written: every value comes
    from a layer or a template, so each layer is read once (a default's problem
    is reported once, at the default, not per user), then each computed value.
    `no_cell`: user fields no CSV cell holds, which may look like a formula."""
    seen: set[int] = set()
    for user in users:
        user_layers = len(user.layers)
        for n, layer in enumerate([*user.layers, *(layer for layers in user.phone_layers for layer in layers)]):
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            owned = layer.label == "user"
            if not _holds_suspect(layer.data):
                continue
            for path, text, free in _suspects(layer.data, no_cell=no_cell if n < user_layers else frozenset()):
                for code, message in _text_faults(text, free, formulas, _is_secret(path)):
                    file, line, col = layer.position(path)
                    where = (*layer.base[2:], *path) if owned else (*layer.base, *path)
                    yield Problem(file=file, line=line, col=col, code=code, user=user.name if owned else None,
                                  field=dotted(where), message=message)
        for path in user.computed:
            value = value_at(user.fields, path)
            if isinstance(value, str):
                free = path[-1] not in NOT_FREE_TEXT and path[0] not in no_cell
                for code, message in _text_faults(value, free, formulas, _is_secret(path)):
                    yield user.problem(path, code, message)


def once_per_source(problems: list[Problem]) -> list[Problem]:
    """A value from one environment variable breaks the policy the same way for
    every user it serves (no rule looks at the user: see secret_issues): said
    once, at the first place, with no count. A count, like a verdict per user,
    would tell an attacker who chooses the users something of the value."""
    out, shared = [], {}
    for problem in problems:
        if problem.code == "secret-policy" and "(the value from environment variable" in problem.message:
            shared.setdefault(problem.message, []).append(problem)
        else:
            out.append(problem)
    out.extend(same[0] for same in shared.values())
    return out


def _from_source(user: ResolvedUser, path: tuple) -> str:
    source = user.secret_sources.get(path)
    return f" (the value from {source})" if source else ""


def _duplicates(users, keys_of) -> Iterator[Problem]:
    # Names, extensions and MACs have no built-in value: both sides are in the roster file.
    first_seen: dict[str, tuple[ResolvedUser, tuple]] = {}
    for user in users:
        for path, key in keys_of(user):
            if key not in first_seen:
                first_seen[key] = (user, path)
                continue
            other, other_path = first_seen[key]
            line = other.problem(other_path, "duplicate", "").line
            yield user.problem(path, "duplicate", f"already used by user {other.name} (line {line})")


def _names(user):
    if isinstance(user.fields.get("name"), str):
        yield ("name",), user.fields["name"].lower()


def _extensions(user):
    if isinstance(user.fields.get("extension_number"), str):
        yield ("extension_number",), user.fields["extension_number"]


def _macs(user):
    for i, phone in enumerate(user.fields.get("phones") or []):
        if isinstance(phone.get("mac"), str):
            yield ("phones", i, "mac"), mac_key(phone["mac"])


def targets_of(fields: dict) -> Iterator[tuple[tuple, str]]:
    """Numbers a call or a BLF key of a user's fields may go to (a voicemail
    rule's number names a mailbox), with their paths."""
    for path, rule in _rules(fields):
        if rule.get("action") in ("FORWARD_TO_NUMBER", "FORWARD_TO_VOICEMAIL"):
            yield (*path, "number"), str(rule.get("number", ""))
    for i, blf in enumerate(fields.get("blfs") or []):
        if isinstance(blf, dict):
            yield ("blfs", i, "value"), str(blf.get("value", ""))


def unknown_targets(users: list[ResolvedUser], held: HeldBack = NOTHING_HELD) -> Iterator[tuple[ResolvedUser, tuple,
                                                                                               str]]:
    """(user, path, number) of every forward or BLF target that looks like one
    of our extensions (no '+', of a length some extension has) but is not in
    the roster. The lengths are those extensions have, not the range between
    the shortest and longest: one 64-digit extension must not make every
    outside number look like ours. A held-back user's extension counts;
    while one has no valid extension, nothing is found (the target may be theirs)."""
    if held.some_unknown:
        return
    extensions = {u.fields.get("extension_number") for u in users} | held.extensions
    lengths = {len(e) for e in extensions if isinstance(e, str)}
    for user in users:
        for path, number in targets_of(user.fields):
            if number.isdigit() and len(number) in lengths and number not in extensions:
                yield user, path, number


def target_warnings(users: list[ResolvedUser], held: HeldBack = NOTHING_HELD) -> Iterator[Problem]:
    """A forward or BLF target that looks like one of our extensions but is
    not in the roster (unknown_targets): a warning, since queues, ring groups
    and users made in the portal are valid targets. Once per number, at its
    first use, with how many other places name it: a queue many users
    forward to is one warning, not hundreds."""
    found: dict[str, list[tuple[ResolvedUser, tuple]]] = {}
    for user, path, number in unknown_targets(users, held):
        found.setdefault(number, []).append((user, path))
    for number, places in found.items():
        user, path = places[0]
        more = len(places) - 1
        also = f" (also named in {more} more place{'s' * (more != 1)})" if more else ""
        yield user.problem(path, "target-unknown", f"{number} is not an extension in this roster{also}",
                           level="warning")


def check(users: list[ResolvedUser], column_set: ColumnSet, policy: Policy, allow_formulas: bool = False,
          progress: Progress | None = None, phone_models: frozenset[str] = frozenset(),
          held: HeldBack = NOTHING_HELD) -> list[Problem]:
    """Every problem of every user, then those between users."""
    run = new_run(column_set, policy, phone_models, formulas=not allow_formulas, held=held)
    problems = []
    for done, user in enumerate(users):
        if progress:
            progress.tick("checking users", done, len(users))
        problems += user_problems(user, run)
    problems = once_per_source(problems)
    for rule in CROSS_USER_RULES.values():
        problems.extend(rule(users, run))
    return problems


# The rules across users, in the order their problems are told: id -> (users, run) -> problems.
CROSS_USER_RULES: Mapping[str, Callable[[list[ResolvedUser], Run], Iterable[Problem]]] = MappingProxyType({
    "text": lambda users, run: text_problems(users, formulas=run.formulas, no_cell=never_in_cells(run.column_set)),
    "duplicate-name": lambda users, run: _duplicates(users, _names),
    "duplicate-extension": lambda users, run: _duplicates(users, _extensions),
    "duplicate-mac": lambda users, run: _duplicates(users, _macs),
    "target-unknown": lambda users, run: target_warnings(users, run.held),
})
