"""Adopting a running PortSIP tenant (PortSip.roster_fields): what the PBX gives for one user (GET
/users/{id} and the items of GET /users/{id}/phones) back to roster fields,
the inverse of api.user_body / phone_body.

Rules, the other way round from api.py:
  available_no_answer_forward_rule  -> online_no_answer_forward_rule
  busy_office_hours_forward_rule and
  busy_non_office_hours_forward_rule -> online_busy_forward_rule when both are
                                       there and equal, else their own names
  offline_* and every other rule     -> the same name (the roster takes the API's)

Everything the PBX sends is hostile input: a value that does not fit the
roster's schema is left out and said (a Note naming the user and field,
escaped when shown), never passed through. A secret never reaches the
fields: one the PBX answered goes to `secrets` (the shape of a --secrets
file entry) and the roster says {secrets_file: true}; one it did not answer
is {generate: true} (a plan without --base never compares the secrets of a
user already on the PBX, so adopting touches none).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from generator.model import FROM_FILE, PHONE_SECRETS, USER_SECRETS, mac_key, unprintable_in
from generator.pbx.base import Adopted, Note
from generator.pbx.portsip.api import MAPPED_RULES, _properties, document, schemas, shape
from generator.resources import builtin_defaults
from generator.schema import quick, schema_document

GENERATE = {"generate": True}
MAX_DEPTH = 8  # a PortSIP value nests 4 levels; deeper is hostile, and not walked further
MAX_SECRET = 128  # characters of an answered password kept; longer is no PortSIP password
ONLINE_BUSY = "online_busy_forward_rule"
BUSY = MAPPED_RULES[ONLINE_BUSY]
NO_ANSWER = MAPPED_RULES["online_no_answer_forward_rule"][0]
EMPTY = ("", None, [], {})  # a value the roster loses nothing by leaving out
_PIN = re.compile(r"[0-9]{6,10}")
_DOOR = re.compile(r"[0-9]{4,8}")


@cache
def _roster_user_keys() -> tuple[str, ...]:
    return tuple(schema_document()["$defs"]["userFields"]["properties"])


@cache
def _roster_phone_keys() -> tuple[str, ...]:
    return tuple(schema_document()["$defs"]["phone"]["properties"])


@cache
def answered_only(kind: str) -> frozenset[str]:
    """What the API's GET answer of a "user" or "phone" names and no request
    takes (created_at, avatar_file_url, a phone's url): the PBX's own
    bookkeeping, which no roster holds and no plan compares; left out unsaid."""
    path = {"user": "/users/{id}", "phone": "/users/{id}/phones/{phone_id}"}[kind]
    answer = document()["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return frozenset(_properties(answer)) - set(_properties(schemas()[f"create_{kind}"]))


def _fits(pointer: str, value: Any) -> bool:
    return quick(pointer)(value)


def _depth(value: Any) -> int:
    """How deep lists and mappings nest, walked without recursion (up to MAX_DEPTH + 1)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _has_control(value: Any) -> bool:
    """Whether a string anywhere in `value` (nesting already bounded) holds a control character."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and unprintable_in(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _checked(value: Any, pointer: str, user: str, where: str, notes: list[Note]) -> bool:
    """Whether `value` fits the roster's schema at `pointer`; said when it does not."""
    if _depth(value) > MAX_DEPTH:
        notes.append(Note(user, where, f"nests deeper than {MAX_DEPTH} levels, which no PortSIP value does; left "
                                       f"out of the roster"))
        return False
    if _has_control(value):
        notes.append(Note(user, where, "holds a control character (a line break, an escape), which the roster "
                                       "refuses; left out of the roster"))
        return False
    if not _fits(pointer, value):
        notes.append(Note(user, where, "not a value the roster takes (see schemas/roster.schema.json); left out of "
                                       "the roster: set it there by hand"))
        return False
    return True


def _user_schema_keys() -> set[str]:
    return set(_properties(schemas()["create_user"]))


def _rules(detail: dict) -> dict:
    """The API's forward rules as the roster writes them (each shaped to the API's own rule)."""
    props = _properties(schemas()["create_user"])
    given = {k: shape(v, props[k]) for k, v in detail.items() if k.endswith("_forward_rule") and k in props
             and isinstance(v, dict)}
    out = {}
    if NO_ANSWER in given:
        out["online_no_answer_forward_rule"] = given.pop(NO_ANSWER)
    if all(b in given for b in BUSY) and given[BUSY[0]] == given[BUSY[1]]:
        out[ONLINE_BUSY] = given.pop(BUSY[0])
        given.pop(BUSY[1])
    out.update(given)
    return out


def _secret(key: str, value: Any) -> bool:
    """Whether an answered secret is one the roster can keep (in the secrets file)."""
    if not isinstance(value, str) or not value:
        return False
    if key == "voicemail_pin":
        return bool(_PIN.fullmatch(value))
    if key.startswith("door_password"):
        return bool(_DOOR.fullmatch(value))
    return len(value) <= MAX_SECRET and not unprintable_in(value)


def _take_secrets(where: dict, keys, path: str, out: dict, secrets: dict, unanswered: list[str],
                  optional: frozenset[str], user: str, notes: list[Note]) -> None:
    """Each secret of `where` into `secrets` (and {secrets_file: true} into
    `out`) or, not answered, {generate: true}; an optional one (a door
    password) not answered is left out, as the PBX has none."""
    for key in keys:
        value = where.get(key)
        if _secret(key, value):
            secrets[key] = value
            out[key] = dict(FROM_FILE)
            continue
        if value not in (None, ""):  # answered, but no value PortSIP takes: never shown
            notes.append(Note(user, f"{path}{key}", "the PBX answered a value that is no valid secret; not kept"
                                                    + ("" if key in optional else ": the roster generates it")))
        if key not in optional:
            out[key] = dict(GENERATE)
            unanswered.append(f"{path}{key}")


def _phone(phone: dict, user: str, notes: list[Note], secrets: dict, unanswered: list[str]) -> dict | None:
    mac = phone.get("mac")
    if not isinstance(mac, str) or not _fits("phone/properties/mac", mac):
        notes.append(Note(user, "phones", "a phone without a MAC address the roster takes; left out of the roster"))
        return None
    key = mac_key(mac)
    where = f"phones[{key}]."
    out: dict[str, Any] = {}
    for name, value in phone.items():
        if name in answered_only("phone") or name in PHONE_SECRETS:
            continue
        if name not in _roster_phone_keys():
            if value in EMPTY:
                continue  # nothing the roster loses
            notes.append(Note(user, f"{where}{name}", "the roster has no key for it; left out of the roster"))
        elif _checked(value, f"phone/properties/{name}", user, f"{where}{name}", notes):
            out[name] = key if name == "mac" else value  # as the roster writes a MAC (a plan compares mac_key)
    own: dict[str, Any] = {}
    _take_secrets(phone, PHONE_SECRETS, where, out, own, unanswered, frozenset({"door_password1", "door_password2"}),
                  user, notes)
    if own:
        secrets.setdefault("phones", {})[key] = own
    return out


def _unanswered_defaults(detail: dict, fields: dict, phones: list[dict], user: str) -> list[Note]:
    """What the roster's built-in defaults will set that the PBX did not answer
    (a plan shows each as a change from null)."""
    builtin = builtin_defaults().data
    api = _user_schema_keys()
    sent = {k for k in builtin if k in api and not k.endswith("_forward_rule")}
    notes = [Note(user, k, f"the PBX did not answer it; the roster's built-in default ({builtin[k]!r}) is sent on "
                           f"the next apply") for k in sorted(sent) if k not in detail and k not in fields
             and builtin[k] not in ("", [], {})]
    for csv_name, api_names in MAPPED_RULES.items():
        for api_name in api_names:
            if api_name not in detail and csv_name not in fields and api_name not in fields:
                notes.append(Note(user, api_name, f"the PBX did not answer it; the roster's built-in {csv_name} "
                                                  f"is sent as it on the next apply"))
    for name in ("offline_office_hours_forward_rule", "offline_non_office_hours_forward_rule"):
        if name not in detail:
            notes.append(Note(user, name, "the PBX did not answer it; the roster's built-in rule is sent on the next "
                                          "apply"))
    for i, rule in enumerate(fields.get("custom_forward_rules") or []):
        if isinstance(rule, dict) and "hours" not in rule:  # the roster's custom rule always has its seven days
            notes.append(Note(user, f"custom_forward_rules[{i}].hours",
                              "the PBX did not answer them; the roster writes every day closed, sent next apply"))
    phone_builtin = builtin.get("phone_defaults") or {}
    for phone in phones:
        where = f"phones[{mac_key(str(phone.get('mac', '')))}]"
        for key in sorted(phone_builtin):
            if key not in phone and key not in PHONE_SECRETS and phone_builtin[key] not in ("", [], {}):
                notes.append(Note(user, f"{where}.{key}", f"the PBX did not answer it; the roster's built-in default "
                                                          f"({phone_builtin[key]!r}) is sent on the next apply"))
    return notes


def adopt(detail: dict, phones: list[dict]) -> Adopted:
    """One PBX user (`detail`: GET /users/{id}; `phones`: the items of GET
    /users/{id}/phones) as roster fields, its secrets apart, and notes."""
    name = detail.get("name")
    shown = name if isinstance(name, str) else "(no name)"
    notes: list[Note] = []
    for key in ("name", "extension_number"):
        value = detail.get(key)
        if not isinstance(value, str) or not _fits(f"userFields/properties/{key}", value):
            notes.append(Note(shown[:64], key, "not one the roster takes; the user is left out of the roster"))
            return Adopted(shown, None, notes=notes)
    fields: dict[str, Any] = {"name": name, "extension_number": detail["extension_number"]}
    values = {**{k: v for k, v in detail.items() if not k.endswith("_forward_rule")}, **_rules(detail)}
    roster_keys = _roster_user_keys()
    for key, value in values.items():
        if key in fields or key in answered_only("user") or key == "phones" or key in USER_SECRETS:
            continue  # phones: read from their own path
        if key not in roster_keys or key == "extra":
            if value in EMPTY:
                continue  # nothing the roster loses
            notes.append(Note(name, key, "the roster has no key for it; left out of the roster"))
            continue
        if key == "outbound_caller_ids" and isinstance(value, list):
            value = _caller_ids(value, name, notes)
        if _checked(value, f"userFields/properties/{key}", name, key, notes):
            fields[key] = value
    secrets: dict[str, Any] = {}
    unanswered: list[str] = []
    _take_secrets(detail, USER_SECRETS, "", fields, secrets, unanswered, frozenset(), name, notes)
    kept = [p for p in (_phone(p, name, notes, secrets, unanswered) for p in phones if isinstance(p, dict)) if p]
    macs = [mac_key(p["mac"]) for p in kept]
    if len(set(macs)) < len(macs):
        notes.append(Note(name, "phones", "the PBX lists one MAC on two phones; only the first is kept"))
        kept = [p for i, p in enumerate(kept) if mac_key(p["mac"]) not in macs[:i]]
    fields["phones"] = kept
    notes += _unanswered_defaults(detail, fields, kept, name)
    order = {k: i for i, k in enumerate(("name", *roster_keys))}
    fields = {k: fields[k] for k in sorted(fields, key=lambda k: order.get(k, len(order)))}
    return Adopted(name, fields, secrets, unanswered, notes)


def _caller_ids(items: list, user: str, notes: list[Note]) -> list:
    """Outbound caller ids with only the keys the API names for one."""
    schema = _properties(schemas()["create_user"])["outbound_caller_ids"]
    shaped = shape(items, schema)
    if shaped != items:
        notes.append(Note(user, "outbound_caller_ids", "keys the API does not name for a caller id left out"))
    return shaped


