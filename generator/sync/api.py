"""What PortSIP's REST API (v22) takes, read from its own OpenAPI document
(schemas/portsip-v22-api.json, a copy of the paths a sync uses): request
bodies are shaped by the schema of their operation, so a body never holds a
field PortSIP does not name there.

How the CSV's forward rules reach the API, which has rules per presence status
and none named online_*:
  offline_office_hours_forward_rule      -> the same name
  offline_non_office_hours_forward_rule  -> the same name
  online_no_answer_forward_rule          -> available_no_answer_forward_rule
                                            (online, available, not answering)
  online_busy_forward_rule               -> nothing: the API has no busy-line
                                            rule; set on purpose, it is refused
A roster may write any of the API's own rules (busy_office_hours_forward_rule,
...), which win over the mapped ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from typing import Any

from generator.model import Problem, ResolvedUser
from generator.resources import data_dir

MAPPED_RULES = {"online_no_answer_forward_rule": "available_no_answer_forward_rule"}
UNMAPPED_RULES = ("online_busy_forward_rule",)
# What the API cannot change in place on a phone: a new value means delete and create.
PHONE_KEYS = ("mac", "vendor", "model", "filename")
# Changed through their own endpoints, never in an update body.
SEPARATE = {"password": "password", "extension_password": "extension_password", "role": "role"}


@cache
def document() -> Mapping[str, Any]:
    return json.loads((data_dir("schemas") / "portsip-v22-api.json").read_text("utf-8"))


def _body_schema(path: str, method: str = "post") -> dict:
    return document()["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


@cache
def schemas() -> dict[str, dict]:
    return {
        "create_user": _body_schema("/users"),
        "update_user": _body_schema("/users/{id}"),
        "create_phone": _body_schema("/users/{id}/phones"),
        "update_phone": _body_schema("/users/{id}/phones/{phone_id}"),
    }


def _properties(schema: dict) -> dict:
    props = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        props.update(_properties(part))
    return props


def shape(value: Any, schema: dict) -> Any:
    """`value` with only what `schema` names: unknown keys dropped at every
    depth (a timeout on a rule the API gives none, a CSV-only field)."""
    props = _properties(schema)
    if isinstance(value, dict) and props:
        return {k: shape(v, props[k]) for k, v in value.items() if k in props}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [shape(v, schema["items"]) for v in value]
    return value


def _forward_rules(fields: dict) -> dict:
    rules = {}
    for csv_name, api_name in MAPPED_RULES.items():
        if isinstance(fields.get(csv_name), dict):
            rules[api_name] = fields[csv_name]
    for name, value in fields.items():
        if name.endswith("_forward_rule") and name not in MAPPED_RULES and name not in UNMAPPED_RULES:
            rules[name] = value
    return rules


def user_body(fields: dict) -> dict:
    """The create body of a resolved user (its phones go separately)."""
    merged = {**{k: v for k, v in fields.items() if not k.endswith("_forward_rule")}, **_forward_rules(fields)}
    return shape(merged, schemas()["create_user"])


def phone_body(phone: dict) -> dict:
    """A phone's create body; an unset door password is left out (the API wants 4-8 digits)."""
    return shape({k: v for k, v in phone.items() if not (k.startswith("door_password") and v in ("", None))},
                 schemas()["create_phone"])


def updatable(kind: str) -> frozenset[str]:
    return frozenset(_properties(schemas()[f"update_{kind}"]))


def refusals(users: list[ResolvedUser]) -> list[Problem]:
    """What a roster says that the API cannot express: located at the roster."""
    problems, seen = [], set()
    for user in users:
        for name in UNMAPPED_RULES:
            found = user.origin((name,))
            if found is None or found[0].label == "built-in":
                continue
            problem = user.problem((name,), "api-unsupported",
                                             f"the v22 REST API has no {name}: write the API's own rules instead "
                                             f"(busy_office_hours_forward_rule, busy_non_office_hours_forward_rule,"
                                             f" busy_no_answer_forward_rule)")
            if found[0].label != "user":  # a default or profile: said once, where it is written
                problem = replace(problem, user=None)
            if (problem.file, problem.line, problem.col, problem.user) not in seen:
                seen.add((problem.file, problem.line, problem.col, problem.user))
                problems.append(problem)
    return problems
