"""Stage 2, validate: the roster file against schemas/roster.schema.json.

Problems are reported at the YAML node that caused them, in words an admin
can act on rather than jsonschema's own phrasing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from generator.errors import Problem, brief, dotted
from generator.fastschema import Compiler
from generator.load import Document, YamlPath, value_at
from generator.resources import roster_schema
from generator.sandbox import is_template

if TYPE_CHECKING:  # jsonschema is imported only when a value fails the quick check
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
from generator.secrets import SECRET_KEYS

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


@cache
def validator(pointer: str | None = None) -> Draft202012Validator:
    """The whole roster schema, or the part of it at `#/$defs/<pointer>`."""
    from jsonschema import Draft202012Validator

    schema = roster_schema()
    if pointer:
        shared = {k: v for k, v in schema.items() if k in ("$schema", "$id", "$defs")}
        schema = {**shared, "$ref": f"#/$defs/{pointer}"}
    return Draft202012Validator(schema)


@cache
def quick(pointer: str | None = None) -> Callable[[Any], bool]:
    """A fast yes/no for the same schema (see fastschema); "no" means: ask `validator`."""
    schema = roster_schema()
    node = schema
    for part in ["$defs", *pointer.split("/")] if pointer else []:
        node = node[part]
    return Compiler(schema).compile(node)


def schema_errors(data: Any, pointer: str | None = None) -> Iterable[ValidationError]:
    """jsonschema's errors for `data`, skipped when the quick check passes it."""
    if quick(pointer)(data):
        return ()
    return validator(pointer).iter_errors(data)


@cache
def _fields(kind: str) -> frozenset[str]:
    defs = roster_schema()["$defs"]
    if kind == "phone":
        return frozenset(defs["phone"]["properties"])
    return frozenset(defs["userFields"]["properties"]) | {"profiles", "phone_defaults"}


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
        branch = roster_schema()["$defs"][branch["$ref"].rsplit("/", 1)[-1]]
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


def _unexpected(error: ValidationError) -> list[str]:
    # jsonschema names the unexpected keys only in its message.
    inside = re.search(r"\((.*)\)", error.message)
    return re.findall(r"'([^']*)'", inside.group(1)) if inside else []


def _message(error: ValidationError, path: YamlPath, custom: str | None) -> str:
    value, kind = error.instance, error.validator
    if kind == "type":
        wanted = error.validator_value
        words = [_TYPE_WORDS.get(w, w) for w in (wanted if isinstance(wanted, list) else [wanted])]
        return f"must be {' or '.join(words)}{_shown(path, value)}"
    if kind == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return f"must be one of {choices}{_shown(path, value)}"
    if kind == "required":
        missing = re.match(r"'([^']*)'", error.message)
        return f"missing required field {missing.group(1) if missing else error.message}"
    if custom:
        return f"{custom}{_shown(path, value)}"
    if kind == "minimum":
        return f"must be at least {error.validator_value}{_shown(path, value)}"
    if kind == "maximum":
        return f"must be at most {error.validator_value}{_shown(path, value)}"
    if kind == "minLength":
        return f"must be at least {error.validator_value} characters long"
    if kind == "maxLength":
        return f"must be at most {error.validator_value} characters long"
    return error.message


def _suggest(name: str, path: YamlPath) -> str:
    in_phone = any(part in _PHONE_PARENTS for part in path)
    if len(path) == 1:
        candidates = frozenset(roster_schema()["properties"])
    else:
        candidates = _fields("phone" if in_phone else "user")
    if not in_phone and len(path) > 1 and name in _fields("phone"):
        return " (a phone setting: put it in phone_defaults or on a phone)"
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
            for name in _unexpected(leaf):
                yield (*path, name), f"unknown field {brief(name)}{_suggest(name, (*path, name))}", leaf
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
        yield from ((e, ()) for e in validator().iter_errors(data))
        return
    yield from ((e, ()) for e in schema_errors({**data, "users": []}))
    for i, user in enumerate(users):
        yield from ((e, ("users", i)) for e in schema_errors(user, "user"))


@dataclass
class Validation:
    """Schema problems, and which users they hold back.

    A problem outside `users:` (defaults, profiles, phone_models) holds back
    everyone; a problem inside one user holds back only that user, so the
    other users still go through the field rules in the same run.
    """

    problems: list[Problem] = field(default_factory=list)
    bad_users: set[int] = field(default_factory=set)
    blocking: bool = False


def validate(document: Document, included: bool = False) -> Validation:
    """The roster, or (`included`) a file it includes, against the schema."""
    data = document.data
    if data is None and not included:
        message = "the roster is empty: it needs a users: list"
        return Validation([Problem(document.file, 1, 1, None, None, message)], blocking=True)
    if data is None:
        return Validation()
    if not isinstance(data, dict):
        kind = "an included file" if included else "the roster"
        message = f"{kind} must be a mapping with defaults:, profiles: and {'phone_models:' if included else 'users:'}"
        return Validation([Problem(document.file, 1, 1, None, None, message)], blocking=True)
    result = Validation()
    for error, base in _errors(data, included):
        for path, message, leaf in describe(error, base):
            if _computed_later(data, path, leaf):
                continue
            unknown = leaf.validator in ("additionalProperties", "unevaluatedProperties")
            line, col = document.where(path, key=unknown)
            user, field_path = subject(data, path)
            result.problems.append(Problem(document.file, line, col, user, field_path or None, message))
            if len(path) >= 2 and path[0] == "users" and isinstance(path[1], int):
                result.bad_users.add(path[1])
            else:
                result.blocking = True
    return result
