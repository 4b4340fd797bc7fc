"""Full form to compact form: the inverse of expand.py.

Given users in the full form (dicts of roster fields, phones included), the
shortest roster that expands back to the same values: a value most users (or
phones) share moves to `defaults` (or `phone_defaults`, or the phone's model),
each user keeps only what differs, and a value is written in its compact form
only where that form expands back to exactly the same value. Pure functions:
no files, no CSV; `import` (an export) and adopting a live tenant both end here.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from generator import expand
from generator.check import MODEL_FIELDS
from generator.resolve import split_name
from generator.resources import builtin_defaults
from generator.sandbox import holds_template, is_template

IDENTITY = ("name", "display_name", "extension_number")  # never shared, written first


def compact_roster(users: list[dict], columns: list[str] | tuple[str, ...], version: str,
                   extra_columns: list[dict] | None = None) -> dict:
    """The compact roster document for `users` (resolved roster fields, phones
    included) on PBX `version`, whose column set has `columns`."""
    defaults, kept, phone_models = compact(users, columns)
    roster: dict[str, Any] = {"pbx_version": version}
    if extra_columns:
        roster["extra_columns"] = extra_columns
    if defaults:
        roster["defaults"] = defaults
    if phone_models:
        roster["phone_models"] = phone_models
    roster["users"] = kept
    return roster


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _most_common(values: list[Any]) -> tuple[Any, int]:
    counts = Counter(_key(v) for v in values)
    if not counts:
        return None, 0
    best, count = counts.most_common(1)[0]
    return json.loads(best), count


def _shared(items: list[dict], keys: list[str], below: dict) -> dict:
    """Values that more than half of `items` hold, where they differ from `below`."""
    out = {}
    for key in keys:
        values = [item[key] for item in items if key in item]
        value, count = _most_common(values)
        # text that looks like Jinja stays on its users, whose values are never evaluated: in defaults it would run
        if count * 2 > len(items) and _key(value) != _key(below.get(key)) and not holds_template(value):
            out[key] = value
    return out


def _template_syntax(text: str) -> bool:
    """Any brace at all: `{{`, `{%` and `{#` open Jinja, and a brace next to
    the text it is joined to (`{{ name }}@` + `{...`) could open one."""
    return is_template(text) or "{" in text or "}" in text


def _differs(item: dict, keys: list[str], below: dict) -> dict:
    return {k: item[k] for k in keys if k in item and _key(item[k]) != _key(below.get(k))}


def _email_template(users: list[dict]) -> str | None:
    """`{{ name }}@domain` when most users' email is their name at one domain."""
    domains = []
    for user in users:
        local, at, domain = str(user.get("email", "")).partition("@")
        # a domain with template syntax would run as a template in defaults, on every generate, plan and apply
        if at and local == user.get("name") and not _template_syntax(domain):
            domains.append(domain)
    domain, count = _most_common(domains)
    return "{{ name }}@" + domain if count * 2 > len(users) else None


def _lifted(compacted: Any, value: Any) -> Any:
    """A default's compact form, unless it holds template text its value did
    not (a default runs as a template; the PBX's text must never become one)."""
    if holds_template(compacted) and not holds_template(value):
        return value
    return compacted


def _compact_phones(users: list[dict], builtin: dict) -> tuple[dict, dict]:
    phones = [p for u in users for p in u.get("phones") or [] if isinstance(p, dict)]
    keys = list(dict.fromkeys(k for p in phones for k in p if k not in ("mac", "model")))
    # A model's vendor and provisioning file belong to the model: as a default
    # they would be given to a phone of another model added later.
    phone_defaults = _shared(phones, [k for k in keys if k not in MODEL_FIELDS], builtin)
    below = {**builtin, **phone_defaults}
    models: dict[str, dict] = {}
    for model in dict.fromkeys(p.get("model") for p in phones if isinstance(p.get("model"), str)):
        same = [p for p in phones if p.get("model") == model]
        common = {k: same[0][k] for k in keys if all(k in p and _key(p[k]) == _key(same[0][k]) for p in same)
                  and not holds_template(same[0][k])}
        models[model] = _differs(common, list(common), below)
    for user in users:
        if not isinstance(user.get("phones"), list):
            continue
        user["phones"] = [_phone(p, below, models) if isinstance(p, dict) else p for p in user["phones"]]
    return phone_defaults, {m: v for m, v in models.items() if v}


def _phone(phone: dict, below: dict, models: dict) -> dict:
    under = {**below, **models.get(phone.get("model"), {})}
    head = {k: phone[k] for k in ("mac", "model") if k in phone}
    return {**head, **_differs(phone, [k for k in phone if k not in head], under)}


def _compact_day(day: Any) -> Any:
    if not isinstance(day, dict) or set(day) != {"enabled", "ranges"}:
        return day
    ranges = day["ranges"]
    if not ranges:
        return "open" if day["enabled"] is True else "closed" if day["enabled"] is False else day
    if day["enabled"] is not True or not all(isinstance(r, dict) and set(r) == {"from", "to"} for r in ranges):
        return day
    return ", ".join(f"{r['from']}-{r['to']}" for r in ranges)


def _compact_week(week: dict) -> dict:
    """Days in the compact form, with weekdays/weekend where those days agree."""
    days = {d: _compact_day(week[d]) for d in expand.WEEKDAYS if d in week}
    out = {k: v for k, v in week.items() if k not in expand.WEEKDAYS}
    for shorthand, names in (("weekdays", expand.WEEKDAYS[:5]), ("weekend", expand.WEEKDAYS[5:])):
        values = [days.get(d) for d in names]
        if all(d in days for d in names) and all(_key(v) == _key(values[0]) for v in values):
            out[shorthand] = values[0]
        else:
            out.update({d: days[d] for d in names if d in days})
    return out


def _short_rule(rule: dict, below: Any) -> Any:
    """voicemail, hangup, ring or the number to call, where that word merged
    over the rule below (a mapping merges key by key) gives the rule back."""
    words = ["voicemail", "hangup", "ring"]
    if rule.get("action") == "FORWARD_TO_NUMBER" and isinstance(rule.get("number"), str) and rule["number"]:
        words.append(rule["number"])
    base = below if isinstance(below, dict) else {}
    for word in words:
        if {**base, **expand.forward_rule(word)} == rule:
            return word
    return {k: rule[k] for k in (*_RULE_ORDER, *rule) if k in rule}


def _compact_value(name: str, value: Any, extensions: dict[str, str], below: Any = None) -> Any:
    """The compact form of a value, used only if it expands back to the value
    (`below`: what the layers under this one give the field)."""
    if name == "office_hours" and isinstance(value, dict):
        candidate = "global" if expand.office_hours("global") == expand.office_hours(value) else _compact_week(
            {k: v for k, v in value.items() if k != "mode" or v != "CUSTOM"})
        return candidate if expand.office_hours(candidate) == expand.office_hours(value) else value
    if name in expand.FORWARD_RULES and isinstance(value, dict):
        return _short_rule(value, below)
    if name == "custom_forward_rules" and isinstance(value, list):
        return [_compact_rule(r) for r in value]
    if name == "blfs" and isinstance(value, list):
        return [_compact_blf(b, extensions) for b in value]
    return value


_RULE_ORDER = ("action", "timeout", "number", "caller_id", "type", "hours")


def _compact_rule(rule: Any) -> Any:
    """Hours compact, and days that are closed left out (a custom rule's
    missing days are closed); the number and caller id only when set."""
    if not isinstance(rule, dict) or not isinstance(rule.get("hours"), dict):
        return rule
    ordered = {k: rule[k] for k in (*_RULE_ORDER, *rule) if k in rule}
    hours = _compact_week(rule["hours"])
    for candidate_hours in ({k: v for k, v in hours.items() if v != "closed"}, hours):
        candidate = {k: v for k, v in {**ordered, "hours": candidate_hours}.items()
                     if not (k in ("number", "caller_id") and v == "")}
        if expand.custom_rule(candidate) == rule:
            return candidate
    return ordered


def _compact_blf(blf: Any, display_names: dict[str, str]) -> Any:
    """A BLF on a roster user's line, named as the roster would name it, is just the extension."""
    if not isinstance(blf, dict) or set(blf) != {"key", "value", "first_name", "last_name"}:
        return blf
    number = blf["value"]
    if blf["key"] != number or number not in display_names:
        return blf
    return number if split_name(display_names[number]) == (blf["first_name"], blf["last_name"]) else blf


def compact(users: list[dict], columns: list[str] | tuple[str, ...]) -> tuple[dict, list[dict], dict]:
    """(defaults, users, phone_models): shared values lifted, the rest kept,
    then each kept value in its compact form. `users` are left as they were."""
    users = [dict(u) for u in users]  # phones are replaced below, on these copies only
    builtin = expand.layer({k: v for k, v in builtin_defaults().data.items() if k != "phone_defaults"})
    phone_defaults, phone_models = _compact_phones(users, builtin_defaults().data.get("phone_defaults", {}))
    keys = [c for c in columns if c not in IDENTITY and c != "phones"] + ["extra"]
    defaults = _shared(users, keys, builtin)
    email = _email_template(users) if "email" in columns else None
    if email:
        defaults["email"] = email
        defaults = {k: defaults[k] for k in keys if k in defaults}
    display_names = {u["extension_number"]: str(u.get("display_name", "")) for u in users
                     if isinstance(u.get("extension_number"), str)}
    kept = []
    for user in users:
        below = {**builtin, **defaults}
        if email:
            below["email"] = email.replace("{{ name }}", str(user.get("name")))
        own = {k: user[k] for k in IDENTITY if k in user}
        own.update(_differs(user, keys, below))
        if user.get("phones"):
            own["phones"] = user["phones"]
        kept.append({k: _compact_value(k, v, display_names, below.get(k)) for k, v in own.items()})
    defaults = {k: _lifted(_compact_value(k, v, display_names, builtin.get(k)), v) for k, v in defaults.items()}
    if phone_defaults:
        defaults["phone_defaults"] = phone_defaults
    return defaults, kept, phone_models
