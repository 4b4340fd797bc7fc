"""Stage 2, validate: the roster file against schemas/roster.schema.json.

Problems are reported at the YAML node that caused them, in words an admin
can act on rather than jsonschema's own phrasing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from generator.errors import brief
from generator.load import Document, value_at
from generator.model import SECRET_KEYS, Problem, YamlPath, dotted
from generator.sandbox import is_template
from generator.schema import facts, quick, schema_errors, unknown_keys, validator

if TYPE_CHECKING:  # jsonschema is imported only when a value fails the quick check
    from jsonschema.exceptions import ValidationError

_TYPE_WORDS = {
    "boolean": "true or false",
    "integer": "a whole number",
    "string": "text",
    "array": "a list",
    "object": "a mapping",
}
_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


_PHONE_PARENTS = frozenset({"phones", "phone_defaults", "phone_models"})


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "unknown")


def _shown(path: YamlPath, value: Any) -> str:
    if path and path[-1] in SECRET_KEYS:
        return ""
    if isinstance(value, (dict, list)):
        return ""
    return f" (got {brief(value)})"


def _accepts(branch: dict, value: Any) -> bool:
    if "$ref" in branch:
        branch = validator().schema["$defs"][branch["$ref"].rsplit("/", 1)[-1]]
    wanted = branch.get("type")
    if wanted is None:
        return "enum" in branch and isinstance(value, str)
    kinds = wanted if isinstance(wanted, list) else [wanted]
    kind = _json_type(value)
    return kind in kinds or (kind == "integer" and "number" in kinds)


def _branch_errors(error: ValidationError) -> list[ValidationError] | None:
    """For an anyOf, the errors of the one branch shaped like the value, if only one is."""
    branches = error.schema.get(error.validator, [])
    fitting = [i for i, branch in enumerate(branches) if _accepts(branch, error.instance)]
    if len(fitting) != 1:
        return None
    return [e for e in error.context if e.relative_schema_path[0] == fitting[0]]


def _message(error: ValidationError, path: YamlPath, custom: str | None) -> str:
    value, kind = error.instance, error.validator
    if kind == "type":
        wanted = error.validator_value
        words = [_TYPE_WORDS.get(w, w) for w in (wanted if isinstance(wanted, list) else [wanted])]
        hint = " (remove the '- ' before its keys: they make a list)" if isinstance(value, list) and \
            wanted == "object" else ""
        if path == ("pbx_version",) and isinstance(value, int):
            hint = f" (did you mean v{value}?)"
        return f"must be {' or '.join(words)}{_shown(path, value)}{hint}"
    if kind == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return f"must be one of {choices}{_shown(path, value)}{_enum_hint(path, value)}"
    if kind == "required":
        missing = [name for name in error.validator_value if name not in (error.instance or {})]
        return f"missing required field {missing[0] if missing else '?'}"
    if custom:
        midnight = " (a day ends at 23:59: write 23:59 for midnight)" if "24:00" in str(value) else ""
        return f"{custom}{_shown(path, value)}{midnight}"
    if kind == "minimum":
        return f"must be at least {error.validator_value}{_shown(path, value)}"
    if kind == "maximum":
        return f"must be at most {error.validator_value}{_shown(path, value)}"
    if kind == "minLength":
        return f"must be at least {error.validator_value} characters long"
    if kind == "maxLength":
        return f"must be at most {error.validator_value} characters long"
    return error.message


def _enum_hint(path: YamlPath, value: Any) -> str:
    """PortSIP's guide calls voicemail_play_datetime TRUE/FALSE; its export and API write a clock."""
    if path and path[-1] == "voicemail_play_datetime" and str(value).strip().upper() in ("TRUE", "FALSE"):
        return (" (the guide's TRUE/FALSE: FALSE is DISABLE; for TRUE pick the clock the date and time are "
                "read in, 12_HOUR_CLOCK or 24_HOUR_CLOCK)")
    return ""


def _suggest(name: str, path: YamlPath) -> str:
    in_phone = any(part in _PHONE_PARENTS for part in path)
    known = facts()
    if len(path) == 1:
        candidates = known.top_fields
    else:
        candidates = known.phone_fields if in_phone else known.user_fields | known.user_only | {"phone_defaults"}
    if not in_phone and len(path) > 1 and name in known.phone_fields:
        return " (a phone setting: put it in phone_defaults or on a phone)"
    same = [c for c in candidates if c.casefold() == name.casefold()]  # enable_DND is enable_dnd, not enabled
    close = same or difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.'-]{1,40}")


def _plain(name: Any) -> bool:
    return isinstance(name, str) and _PLAIN_KEY.fullmatch(name) is not None


def _key_shown(name: Any) -> str:
    """An unknown key is named only when it looks like a field name: a file
    included by mistake (a key file, /etc/shadow) is not echoed line by line."""
    return repr(name) if _plain(name) else "(a key that is no field name)"


_CODES = {"type": "schema-type", "enum": "schema-enum", "const": "schema-enum", "required": "schema-required",
          "additionalProperties": "schema-unknown-field", "unevaluatedProperties": "schema-unknown-field"}


def code_of(error: ValidationError) -> str:
    return _CODES.get(error.validator, "schema-format")


def _flatten(
    errors: Iterable[ValidationError], custom: str | None = None
) -> Iterable[tuple[ValidationError, str | None]]:
    """Leaf errors, each with the nearest x-error wording above it."""
    for error in errors:
        wording = error.schema.get("x-error", custom) if isinstance(error.schema, dict) else custom
        if error.validator in ("anyOf", "oneOf"):
            inner = _branch_errors(error)
            if inner:
                yield from _flatten(inner, wording)
                continue
        yield error, wording


def describe(
    error: ValidationError, base: YamlPath = ()
) -> Iterable[tuple[YamlPath, str, ValidationError]]:
    """(path, message, leaf error) for one jsonschema error, paths below `base`."""
    for leaf, wording in _flatten([error]):
        path = (*base, *leaf.absolute_path)
        if leaf.validator in ("additionalProperties", "unevaluatedProperties"):
            for name in unknown_keys(leaf):
                yield (*path, name), f"unknown field {_key_shown(name)}{_suggest(str(name), (*path, name))}", leaf
        else:
            yield path, _message(leaf, path, wording), leaf


def subject(data: Any, path: YamlPath) -> tuple[str | None, str]:
    """Who a roster path belongs to: (user name, field path below the user)."""
    if len(path) >= 2 and path[0] == "users" and isinstance(path[1], int):
        users = data.get("users") if isinstance(data, dict) else None
        entry = users[path[1]] if isinstance(users, list) and path[1] < len(users) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        user = str(name) if isinstance(name, (str, int)) else f"#{path[1] + 1}"
        return user, dotted(path[2:])
    return None, dotted(path)


# Where a field's value may be a template, and how deep its fields start.
_COMPUTING_LAYERS = {"defaults": 2, "profiles": 3, "phone_models": 3}


def _computed_later(data: Any, path: YamlPath, leaf: ValidationError) -> bool:
    """A template string in a text field of defaults, a profile or a phone model
    is checked once computed, per user; only a list or mapping it cannot be is
    reported now."""
    if leaf.validator in ("additionalProperties", "unevaluatedProperties"):
        return False
    depth = _COMPUTING_LAYERS.get(path[0]) if path else None
    if depth is None or len(path) < depth or not is_template(value_at(data, path)):
        return False
    if leaf.validator == "type":
        wanted = leaf.validator_value if isinstance(leaf.validator_value, list) else [leaf.validator_value]
        return not {"array", "object"} & set(wanted)
    return True


def _errors(data: dict, included: bool) -> Iterable[tuple[ValidationError, YamlPath]]:
    """Every schema error, with the path it is below. Only the parts the quick
    check rejects are walked by jsonschema: the roster without its users, and
    each rejected user on its own."""
    if included:
        yield from ((e, ()) for e in schema_errors(data, "sharedFile"))
        return
    if quick()(data):
        return
    users = data.get("users")
    if not isinstance(users, list):
        yield from ((e, ()) for e in schema_errors(data))
        return
    yield from ((e, ()) for e in schema_errors({**data, "users": []}))
    for i, user in enumerate(users):
        yield from ((e, ("users", i)) for e in schema_errors(user, "user"))


@dataclass(frozen=True)
class Validation:
    """Schema problems, and which users they hold back.

    A problem outside `users:` (defaults, profiles, phone_models) holds back
    everyone (`blocking`); a problem inside one user holds back only that
    user, so the other users still go through the field rules in the same run.
    """

    problems: tuple[Problem, ...] = ()
    bad_users: frozenset[int] = frozenset()
    blocking: bool = False
    # Per held-back user, the fields its problems are in (None: the entry as a
    # whole), so that the rest of the user can still be checked in this run.
    bad_fields: dict[int, frozenset] = field(default_factory=dict)


def _shape_problem(document: Document, included: bool) -> Problem:
    if document.data is None:
        message = "the roster is empty: it needs a users: list"
    elif included:
        message = "is not a shared roster file: expected a mapping of defaults:, profiles: and phone_models:"
    else:
        message = "the roster must be a mapping with defaults:, profiles: and users:"
    return Problem(file=document.file, line=1, col=1, code="roster-shape", message=message)


def validate(document: Document, included: bool = False) -> Validation:
    """The roster, or (`included`) a file it includes, against the schema."""
    data = document.data
    if data is None and included:
        return Validation()
    if not isinstance(data, dict):
        return Validation((_shape_problem(document, included),), blocking=True)
    problems, bad_users, blocking, bad_fields = [], set(), False, {}
    for error, base in _errors(data, included):
        for path, message, leaf in describe(error, base):
            if _computed_later(data, path, leaf):
                continue
            unknown = leaf.validator in ("additionalProperties", "unevaluatedProperties")
            line, col = document.where(path, key=unknown)
            user, field_path = subject(data, path if not unknown or _plain(path[-1]) else path[:-1])
            problems.append(Problem(file=document.file, line=line, col=col, code=code_of(leaf), message=message,
                                    user=user, field=field_path or None))
            if len(path) >= 2 and path[0] == "users" and isinstance(path[1], int):
                bad_users.add(path[1])
                bad_fields.setdefault(path[1], set()).add(path[2] if len(path) > 2 else None)
            else:
                blocking = True
    return Validation(tuple(problems), frozenset(bad_users), blocking,
                      {i: frozenset(names) for i, names in bad_fields.items()})
