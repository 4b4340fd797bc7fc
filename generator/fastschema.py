"""A quick yes/no answer to "is this value valid?" for the roster schema.

jsonschema is exact and words its errors well, but walking a large roster
with it costs seconds. Valid rosters are the common case, so the schema is
compiled once into plain Python predicates that answer only yes or no; a "no"
sends the value to jsonschema for the located, worded report. The predicates
know only the keywords the roster schema uses: any other keyword compiles to
"no", so an unknown rule can never be skipped, only checked slowly. Patterns
and enums mean here what they mean to the validator in schema.py (ECMA `$`,
enums whatever their case); a property test holds the two to agreement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

Check = Callable[[Any], bool]

_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}
_IGNORED = frozenset({"description", "title", "examples", "default", "x-error", "$comment", "$schema", "$id",
                      "$defs"})
_NUMBER = _TYPES["number"]


def evaluated_names(node: dict, defs: dict) -> set[str] | None:
    """Property names a schema node (with what it refers to) evaluates; None
    when that depends on the value (an anyOf with properties)."""
    names = set(node.get("properties", {}))
    if "$ref" in node:
        inner = evaluated_names(defs.get(node["$ref"].rsplit("/", 1)[-1], {}), defs)
        if inner is None:
            return None
        names |= inner
    if any("properties" in b or "$ref" in b for b in node.get("anyOf", [])):
        return None
    return names


def _never(_value: Any) -> bool:
    return False


def same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def ecma_pattern(pattern: str) -> str:
    """A JSON Schema pattern (ECMA-262) as a Python regex with the same meaning:
    ECMA's `$` matches only at the very end, Python's also before a final
    newline, which would let "jim\\n" pass a name pattern."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "]":
            in_class = False
            out.append(char)
        elif char == "$" and not in_class:
            out.append(r"\Z")
        else:
            out.append(char)
    return "".join(out)


@cache
def compiled_pattern(pattern: str) -> re.Pattern:
    return re.compile(ecma_pattern(pattern))


def casefold_enum(value: Any, choices: list) -> Any:
    """The documented spelling of `value` among `choices`, whatever its case; else `value`."""
    if isinstance(value, str):
        for choice in choices:
            if isinstance(choice, str) and choice.casefold() == value.casefold():
                return choice
    return value


class Compiler:
    def __init__(self, schema: dict):
        self.defs = schema.get("$defs", {})
        self.refs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        name = pointer.rsplit("/", 1)[-1]
        if not pointer.startswith("#/$defs/") or name not in self.defs:
            return _never
        if name not in self.refs:
            self.refs[name] = _never  # a placeholder while compiling, for recursive definitions
            compiled = self.compile(self.defs[name])
            self.refs[name] = compiled
        return lambda v: self.refs[name](v)

    def compile(self, node: Any) -> Check:
        if node is True:
            return lambda v: True
        if not isinstance(node, dict):
            return _never
        checks = []
        for keyword, arg in node.items():
            if keyword in _IGNORED or keyword in ("properties", "additionalProperties", "required"):
                continue
            build = getattr(self, "k_" + keyword.replace("$", "dollar_"), None)
            if build is None:
                return _never  # a rule this module does not know: jsonschema decides
            checks.append(build(arg, node))
        if {"properties", "additionalProperties", "required"} & node.keys():
            checks.append(self.k_object(node))
        return _all(checks)

    # ---- keywords -----------------------------------------------------------------

    def k_dollar_ref(self, arg: str, _node: dict) -> Check:
        return self.ref(arg)

    def k_type(self, arg: Any, _node: dict) -> Check:
        kinds = [_TYPES[t] for t in (arg if isinstance(arg, list) else [arg])]
        return lambda v: any(k(v) for k in kinds)

    def k_enum(self, arg: list, _node: dict) -> Check:
        exact = frozenset(e for e in arg if isinstance(e, str))  # the common case: spelt as documented

        def check(v: Any) -> bool:
            if type(v) is str and v in exact:
                return True
            return any(same(casefold_enum(v, arg), e) for e in arg)

        return check

    def k_const(self, arg: Any, _node: dict) -> Check:
        return lambda v: same(v, arg)

    def k_pattern(self, arg: str, _node: dict) -> Check:
        search = compiled_pattern(arg).search
        return lambda v: not isinstance(v, str) or search(v) is not None

    def k_minLength(self, arg: int, _node: dict) -> Check:  # noqa: N802 - the keyword's name
        return lambda v: not isinstance(v, str) or len(v) >= arg

    def k_maxLength(self, arg: int, _node: dict) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, str) or len(v) <= arg

    def k_minimum(self, arg: float, _node: dict) -> Check:
        return lambda v: not _NUMBER(v) or v >= arg

    def k_maximum(self, arg: float, _node: dict) -> Check:
        return lambda v: not _NUMBER(v) or v <= arg

    def k_minProperties(self, arg: int, _node: dict) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, dict) or len(v) >= arg

    def k_maxProperties(self, arg: int, _node: dict) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, dict) or len(v) <= arg

    def k_items(self, arg: Any, _node: dict) -> Check:
        item = self.compile(arg)
        return lambda v: not isinstance(v, list) or all(item(x) for x in v)

    def k_anyOf(self, arg: list, _node: dict) -> Check:  # noqa: N802
        branches = [self.compile(b) for b in arg]
        return lambda v: any(b(v) for b in branches)

    def k_unevaluatedProperties(self, arg: Any, node: dict) -> Check:  # noqa: N802
        names = evaluated_names(node, self.defs)
        if arg is not False or names is None:
            return _never
        return lambda v: not isinstance(v, dict) or all(k in names for k in v)

    def k_object(self, node: dict) -> Check:
        props = {k: self.compile(s) for k, s in node.get("properties", {}).items()}
        required = tuple(node.get("required", ()))
        extra = node.get("additionalProperties", True)
        other = None if extra is True else self.compile(extra)

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                rule = props.get(key, other)
                if rule is not None and not rule(value):
                    return False
            return all(k in v for k in required)

        return check


def _all(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)
