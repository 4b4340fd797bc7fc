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
  online_busy_forward_rule               -> busy_office_hours_forward_rule and
                                            busy_non_office_hours_forward_rule
                                            (online, on a call; the API's busy
                                            rules take no timeout)
A roster may write any of the API's own rules (busy_office_hours_forward_rule,
...), which win over the mapped ones. A rule whose action the API's rule does
not take (its schema's enum) is refused, located where the roster sets it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from typing import Any

from generator.model import Problem, ResolvedUser
from generator.resources import data_dir

MAPPED_RULES = {"online_no_answer_forward_rule": ("available_no_answer_forward_rule",),
                "online_busy_forward_rule": ("busy_office_hours_forward_rule", "busy_non_office_hours_forward_rule")}
BUSY_NOTE = ("online_busy_forward_rule is sent as the API's busy_office_hours_forward_rule and "
             "busy_non_office_hours_forward_rule (v22 has no online_busy rule; a user's own busy_* rule wins)")
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


def _rule_sources(fields: dict) -> dict[str, str]:
    """API rule -> the roster field it is taken from: a mapped CSV rule, or
    the API's own rule written in the roster (which wins)."""
    sources = {}
    for csv_name, api_names in MAPPED_RULES.items():
        if isinstance(fields.get(csv_name), dict):
            sources.update(dict.fromkeys(api_names, csv_name))
    for name in fields:
        if name.endswith("_forward_rule") and name not in MAPPED_RULES:
            sources[name] = name
    return sources


def _forward_rules(fields: dict) -> dict:
    return {api_name: fields[source] for api_name, source in _rule_sources(fields).items()}


def busy_mapped(fields: dict) -> bool:
    """Whether online_busy_forward_rule is sent for this user (as one busy rule at least)."""
    return "online_busy_forward_rule" in _rule_sources(fields).values()


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


def _actions(api_name: str) -> tuple[str, ...]:
    """The actions the API's rule takes; () when its schema names none."""
    rule = _properties(schemas()["create_user"]).get(api_name, {})
    return tuple(_properties(rule).get("action", {}).get("enum", ()))


def _unsupported(fields: dict) -> list[tuple[str, str]]:
    """(roster field, message) for each rule whose action the API's rule does not take."""
    found, said = [], set()
    for api_name, source in _rule_sources(fields).items():
        rule, actions = fields[source], _actions(api_name)
        action = rule.get("action") if isinstance(rule, dict) else None
        if actions and isinstance(action, str) and action not in actions and source not in said:
            said.add(source)
            fix = "use one of those" if source == api_name else \
                f"{source} is sent as {api_name}: write {api_name} with one of those instead"
            found.append((source, f"the v22 REST API's {api_name} has no action {action}; it takes "
                                  f"{', '.join(actions)}: {fix}"))
    return found


def refusals(users: list[ResolvedUser]) -> list[Problem]:
    """What a roster says that the API cannot express: located at the roster."""
    problems, seen = [], set()
    for user in users:
        for source, message in _unsupported(user.fields):
            found = user.origin((source,))
            problem = user.problem((source,), "api-unsupported", message)
            if found is not None and found[0].label != "user":  # a default or profile: said once, where it is
                problem = replace(problem, user=None)
            key = (problem.file, problem.line, problem.col, problem.user, problem.message)
            if key not in seen:
                seen.add(key)
                problems.append(problem)
    return problems
