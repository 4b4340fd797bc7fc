"""The roster schema, read once: the validators, and every fact other modules
need from it (which fields exist, which are required, what types they take).

Nothing else opens schemas/roster.schema.json. Each validator gets its own
parsed copy, and the facts are immutable, so no reader can change what
another one sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from generator.fastschema import Compiler, casefold_enum, compiled_pattern, evaluated_names, same
from generator.resources import data_dir

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError


@cache
def schema_text() -> str:
    return (data_dir("schemas") / "roster.schema.json").read_text("utf-8")


def schema_document() -> dict[str, Any]:
    """A fresh copy of the schema, the caller's to keep."""
    return json.loads(schema_text())


@dataclass(frozen=True)
class Facts:
    """What the schema says about fields, derived once."""

    top_fields: frozenset[str]
    user_fields: frozenset[str]  # userFields, what a layer may set
    user_only: frozenset[str]  # what only a user entry may set (profiles, rotate)
    phone_fields: frozenset[str]
    shared_fields: frozenset[str]  # what an included file may hold
    required_user: tuple[str, ...]
    required_phone: tuple[str, ...]
    field_kinds: Mapping[str, frozenset[str]]  # user field -> JSON types it may hold
    api_only: frozenset[str]  # user fields only the REST API takes (plan/apply); no CSV column has them
    forward_rules: tuple[str, ...]  # every *_forward_rule field, the CSV's four first
    user_enums: Mapping[str, tuple]  # user field -> its choices, for enum fields
    phone_enums: Mapping[str, tuple]  # phone key -> its choices (codecs: each item's)


def _definition(defs: dict, node: dict) -> dict:
    while "$ref" in node and node["$ref"].startswith("#/$defs/"):
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _kinds(spec: dict, defs: dict) -> set[str]:
    spec = _definition(defs, spec)
    kinds = set(spec["type"] if isinstance(spec.get("type"), list) else [spec["type"]] if "type" in spec else [])
    for branch in spec.get("anyOf", []) + spec.get("oneOf", []):
        kinds |= _kinds(branch, defs)
    if "enum" in spec:
        kinds.add("string")
    return kinds


def _enum(spec: dict, defs: dict) -> tuple | None:
    spec = _definition(defs, spec)
    if "enum" in spec:
        return tuple(spec["enum"])
    if "items" in spec and isinstance(spec["items"], dict):
        return _enum(spec["items"], defs)
    for branch in spec.get("anyOf", []):
        found = _enum(branch, defs)
        if found and all(isinstance(c, str) and c.isupper() for c in found):
            return found
    return None


def _enums(properties: dict, defs: dict) -> Mapping[str, tuple]:
    found = {name: _enum(spec, defs) for name, spec in properties.items()}
    return MappingProxyType({k: v for k, v in found.items() if v})


@cache
def facts() -> Facts:
    schema = schema_document()
    defs = schema["$defs"]
    user_fields = defs["userFields"]["properties"]
    resolved = defs["resolvedUser"]
    return Facts(
        top_fields=frozenset(schema["properties"]),
        user_fields=frozenset(user_fields),
        user_only=frozenset(defs["user"]["properties"]) - {"phone_defaults"},
        phone_fields=frozenset(defs["phone"]["properties"]),
        shared_fields=frozenset(defs["sharedFile"]["properties"]),
        required_user=tuple(resolved["required"]),
        required_phone=tuple(resolved["properties"]["phones"]["items"]["required"]),
        field_kinds=MappingProxyType({name: frozenset(_kinds(spec, defs)) for name, spec in user_fields.items()}),
        api_only=frozenset(name for name, spec in user_fields.items()
                           if spec.get("description", "").startswith("REST API only")),
        forward_rules=tuple(name for name in user_fields if name.endswith("_forward_rule")),
        user_enums=_enums(user_fields, defs),
        phone_enums=_enums(defs["phone"]["properties"], defs),
    )


def unknown_keys(error: ValidationError) -> list[str]:
    """The keys of the mapping an additional- or unevaluatedProperties error is
    about that its schema does not name: read from the data and the schema,
    never from jsonschema's wording (a key may hold a quote or a parenthesis)."""
    if not isinstance(error.instance, dict):
        return []
    defs = _defs()
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
    else:
        known = evaluated_names(error.schema, defs) or set()
    return [key for key in error.instance if key not in known]


@cache
def _defs() -> Mapping[str, Any]:
    return schema_document()["$defs"]


def _node(schema: dict, pointer: str | None) -> dict:
    node = schema
    for part in ["$defs", *pointer.split("/")] if pointer else []:
        node = node[part]
    return node


@cache
def validator(pointer: str | None = None) -> Draft202012Validator:
    """The whole roster schema, or the part of it at `#/$defs/<pointer>`, with
    ECMA pattern semantics and enums that ignore case (see ecma_pattern)."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    def pattern(_validator, wanted: str, instance: Any, _schema: dict) -> Iterator[ValidationError]:
        if isinstance(instance, str) and not compiled_pattern(wanted).search(instance):
            yield ValidationError(f"{instance!r} does not match {wanted!r}")

    def enum(_validator, choices: list, instance: Any, _schema: dict) -> Iterator[ValidationError]:
        if not any(same(casefold_enum(instance, choices), c) for c in choices):
            yield ValidationError(f"{instance!r} is not one of {choices!r}")

    checker = validators.extend(Draft202012Validator, {"pattern": pattern, "enum": enum})
    schema = schema_document()
    if pointer:
        shared = {k: v for k, v in schema.items() if k in ("$schema", "$id", "$defs")}
        schema = {**shared, "$ref": f"#/$defs/{pointer}"}
    return checker(schema)


@cache
def quick(pointer: str | None = None) -> Callable[[Any], bool]:
    """A fast yes/no for the same schema (see fastschema); "no" means: ask `validator`."""
    schema = schema_document()
    return Compiler(schema).compile(_node(schema, pointer))


def schema_errors(data: Any, pointer: str | None = None) -> Iterator[ValidationError]:
    """jsonschema's errors for `data`, skipped when the quick check passes it."""
    if quick(pointer)(data):
        return iter(())
    return validator(pointer).iter_errors(data)
