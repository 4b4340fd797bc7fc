"""Compact forms to the canonical form, one layer at a time, before any merge.

Every compact form here expands to exactly what the CSV cell will hold, so a
layer written canonically passes through unchanged. See README "Compact forms".
"""

from __future__ import annotations

import re
from typing import Any

from generator.fastschema import casefold_enum
from generator.model import PHONE_SECRETS, SECRET_KEYS, WEEKDAYS, mac_key
from generator.model import SHORTHANDS as _SHORTHANDS
from generator.schema import facts
from generator.secrets.sources import as_ref

_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-]?)[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}|[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){2}")
_RANGE = re.compile(r"^\s*(\d\d:\d\d)\s*-\s*(\d\d:\d\d)\s*$")

# The only values the PBX reads as numbers. Anywhere else an integer the YAML
# loader produced was typed as digits and is text (extension, PIN, MAC...).
NUMBER_KEYS = frozenset(
    {"timeout", "wan_port_id", "wan_port_priority", "pc_port_id", "pc_port_priority"}
)

# The CSV's four forward rules; the REST API's others (plan/apply) take the same forms.
FORWARD_RULES = (
    "online_no_answer_forward_rule",
    "online_busy_forward_rule",
    "offline_office_hours_forward_rule",
    "offline_non_office_hours_forward_rule",
)
_RULE_WORDS = {"voicemail": "FORWARD_TO_VOICEMAIL", "hangup": "HANGUP", "ring": "RING_ANYWAY"}


def as_text(value: Any, key: str | int | None = None) -> Any:
    """Copy `value`, turning integers into the digits they were typed as."""
    if isinstance(value, dict):
        return {k: as_text(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and key not in NUMBER_KEYS:
        return str(value)
    return value


def day(value: Any) -> Any:
    """A compact day to {enabled, ranges}; anything else (a full form, a
    computed value) passes through for the checks to judge."""
    if not isinstance(value, str):
        return value
    word = value.strip()
    if word in ("closed", "open"):
        return {"enabled": word == "open", "ranges": []}
    spans = [_RANGE.match(part) for part in word.split(",")]
    if not all(spans):
        return value
    return {"enabled": True, "ranges": [{"from": m.group(1), "to": m.group(2)} for m in spans]}


def week(value: dict) -> dict:
    """Days as written; `weekdays`/`weekend` first so that a named day wins."""
    out = {k: v for k, v in value.items() if k not in _SHORTHANDS and k not in WEEKDAYS}
    for shorthand, days in _SHORTHANDS.items():
        if shorthand in value:
            out.update({d: day(value[shorthand]) for d in days})
    out.update({d: day(value[d]) for d in WEEKDAYS if d in value})
    return out


def full_week(value: dict) -> dict:
    """A week with every day present; days not written are closed."""
    days = week(value)
    closed = {"enabled": False, "ranges": []}
    return {d: days.get(d, closed) for d in WEEKDAYS}


def office_hours(value: Any) -> Any:
    if value in ("global", "GLOBAL"):  # the tenant's hours, days as the export writes them
        return {"mode": "GLOBAL", **{d: {"enabled": True, "ranges": []} for d in WEEKDAYS}}
    if not isinstance(value, dict):
        return value
    if value == {"mode": "GLOBAL"}:  # the guide's form: whole, so no layer below adds its own days
        return office_hours("global")
    expanded = week(value)
    if any(d in expanded for d in WEEKDAYS):
        expanded.setdefault("mode", "CUSTOM")
    return expanded


def forward_rule(value: Any) -> Any:
    if isinstance(value, dict):
        return value
    if value in _RULE_WORDS:
        return {"action": _RULE_WORDS[value], "number": ""}
    return {"action": "FORWARD_TO_NUMBER", "number": str(value)}


def custom_rule(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    rule = {"number": "", "caller_id": "", **value}
    hours = value.get("hours", {})
    rule["hours"] = full_week(hours) if isinstance(hours, dict) else hours
    return rule


def canonical_mac(value: Any) -> Any:
    """A MAC written as 0C-38-3E-63-FE-E8, 0c38.3e63.fee8 or 0c383e63fee8 as
    0c:38:3e:63:fe:e8; anything else is left for the schema check to refuse."""
    if not isinstance(value, str):
        return value
    canonical = mac_key(value)
    return canonical if canonical is value or _MAC.fullmatch(value) else value


def _spelled(value: dict, enums) -> dict:
    """Enum values in the documented spelling (the guide writes "English" where the API says ENGLISH)."""
    present = enums.keys() & value.keys()
    if not present:
        return value
    out = dict(value)
    for key in present:  # only existing keys change: the order stays the file's
        choices, current = enums[key], out[key]
        out[key] = [casefold_enum(v, choices) for v in current] if isinstance(current, list) \
            else casefold_enum(current, choices)
    return out


def phone(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = _with_refs(_spelled(value, facts().phone_enums), PHONE_SECRETS)
    if "mac" in out:
        out["mac"] = canonical_mac(out["mac"])
    return out


# PortSIP's own roles (the guide); a role in another case is taken for one of
# them, not for a custom role: the API knows custom roles, but "admin" beside
# "Admin" is a slip far more often than a role of its own.
KNOWN_ROLES = ("StandardUser", "StandardInternationalUser", "QueueManager", "Admin")


def layer(value: dict) -> dict:
    """One layer (built-in, defaults, a profile, a user) in canonical form.

    Compact BLFs (an extension number) stay strings: only the whole roster can
    fill them in, which resolve does.
    """
    out = _with_refs(_spelled(as_text(value), facts().user_enums))
    if isinstance(out.get("phone_defaults"), dict):
        out["phone_defaults"] = phone(out["phone_defaults"])
    if isinstance(out.get("phones"), list):
        out["phones"] = [phone(p) for p in out["phones"]]
    if "office_hours" in out:
        out["office_hours"] = office_hours(out["office_hours"])
    if "role" in out:
        out["role"] = casefold_enum(out["role"], KNOWN_ROLES)
    for name in facts().forward_rules:
        if name in out:
            out[name] = forward_rule(out[name])
    if isinstance(out.get("custom_forward_rules"), list):
        out["custom_forward_rules"] = [custom_rule(r) for r in out["custom_forward_rules"]]
    return out


def _with_refs(value: dict, keys=SECRET_KEYS) -> dict:
    """Secret sources as SecretRef values, which merge as a whole."""
    return {k: as_ref(v) if k in keys else v for k, v in value.items()}
