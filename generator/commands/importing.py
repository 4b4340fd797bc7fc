"""`import`: a PortSIP export (CSV) to a compact roster.

Every cell is read back to the value the roster would hold, then the roster
is made small: a value most users (or phones) share moves to `defaults` (or
`phone_defaults`, or the phone's model), each user keeps only what differs,
and values are written in their compact forms wherever the compact form
expands back to exactly the same value. Secrets go to a separate file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from generator import expand
from generator.check import MODEL_FIELDS
from generator.commands.diff import table
from generator.commands.generate import generate
from generator.commands.tables import (
    MAX_JSON_DEPTH,
    Change,
    Plan,
    canonical_header,
    compare,
    csv_rows,
    nests_too_deep,
    read_table,
)
from generator.errors import RosterInvalid, UsageError
from generator.model import ColumnSet, Problem, counted, mac_key
from generator.pipeline import Options
from generator.policy import PinPolicy
from generator.render import load_column_set, versions
from generator.resolve import split_name
from generator.resources import builtin_defaults
from generator.sandbox import is_template
from generator.schema import facts
from generator.secrets.fill import secret_at, secret_paths
from generator.write import check_output, same_file, write_atomic

FROM_FILE = {"secrets_file": True}
IDENTITY = ("name", "display_name", "extension_number")  # never shared, written first


@dataclass
class Export:
    header: list[str]
    rows: list[list[str]]
    resaved: bool = False  # the file bears a spreadsheet's marks (see resaved_by_a_spreadsheet)


@dataclass
class Imported:
    version: str
    roster: dict
    secrets: dict[str, dict]
    warnings: list[str] = field(default_factory=list)
    users: int = 0


def read_export(data: bytes, label: str) -> Export:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{label} is not UTF-8 (byte {exc.start}): in Excel, save it as 'CSV UTF-8'") from exc
    rows = [row for row in csv_rows(text, label) if any(cell.strip() for cell in row)]
    if not rows:
        raise UsageError(f"{label} is empty: expected a PortSIP user export with a header row")
    known = facts().user_fields | facts().phone_fields
    header = canonical_header(rows[0], known)
    return Export(header, rows[1:], resaved_by_a_spreadsheet(text, header))


def pick_column_set(header: list[str], column_sets: list[ColumnSet], label: str) -> ColumnSet:
    """The largest known column set whose every column the export has."""
    complete = [cs for cs in column_sets if set(cs.columns) <= set(header)]
    if complete:
        return max(complete, key=lambda cs: len(cs.columns))
    closest = min(column_sets, key=lambda cs: len(set(cs.columns) - set(header)))
    missing = [c for c in closest.columns if c not in header]
    raise UsageError(f"{label} is not a PortSIP user export this tool knows: closest is PBX {closest.version}, "
                     f"which also has {', '.join(missing[:8])}{', ...' if len(missing) > 8 else ''}")


def cell_value(column: str, cell: str, warnings: list[str], where: str) -> Any:
    kinds = facts().field_kinds.get(column, frozenset({"string"}))
    if kinds & {"object", "array"} and cell.strip()[:1] in ("{", "["):
        try:
            value = json.loads(cell)
        except (ValueError, RecursionError):
            # Never kept as text: a phones cell holds passwords, and the roster goes to git.
            warnings.append(f"{where}: {column} is not valid JSON (cut short by a spreadsheet?); left out of the "
                            f"roster: write it again there")
            return _LEFT_OUT
        if nests_too_deep(cell, value):
            warnings.append(f"{where}: {column} nests more than {MAX_JSON_DEPTH} levels deep, which no PortSIP "
                            f"value does; left out of the roster: write it again there")
            return _LEFT_OUT
        return value
    if "boolean" in kinds and cell.strip().upper() in ("TRUE", "FALSE"):
        return cell.strip().upper() == "TRUE"
    if kinds & {"object", "array"} and cell == "":
        return [] if "array" in kinds else cell
    return cell


_LEFT_OUT = object()


def _user(header: list[str], row: list[str], column_set: ColumnSet, number: int,
          warnings: list[str]) -> dict:
    cells = dict(zip(header, row + [""] * (len(header) - len(row))))
    user = {c: cell_value(c, cells[c], warnings, f"row {number}") for c in column_set.columns}
    if str(user.get("voicemail_play_datetime", "")).strip().upper() == "FALSE":
        user["voicemail_play_datetime"] = "DISABLE"  # the guide's FALSE; TRUE names no clock, so it is refused
    user = {k: v for k, v in user.items() if v is not _LEFT_OUT}
    extra = {c: cells[c] for c in header if c not in column_set.columns}
    if extra:
        user["extra"] = extra
    return user


def _take_secrets(user: dict) -> dict:
    """Move the user's secrets out of `user`, leaving a reference to the
    secrets file; they come back in the shape --secrets reads."""
    found: dict[str, Any] = {}
    for path, _ in list(secret_paths(user)):
        holder = user if len(path) == 1 else user["phones"][path[1]]
        value = secret_at(user, path)
        if value in (None, ""):
            continue
        if path[0] != "phones":
            found[path[0]] = value
        elif isinstance(holder.get("mac"), str):
            found.setdefault("phones", {}).setdefault(mac_key(holder["mac"]), {})[path[-1]] = value
        else:
            continue
        holder[path[-1]] = dict(FROM_FILE)
    return found


# ---- making it compact ----------------------------------------------------------

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
        if count * 2 > len(items) and _key(value) != _key(below.get(key)) and not _holds_template_text(value):
            out[key] = value
    return out


def _holds_template_text(value: Any) -> bool:
    """Export text that looks like Jinja stays on its users, whose values are
    never evaluated: in defaults or a phone model it would run as a template."""
    if isinstance(value, dict):
        return any(_holds_template_text(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_template_text(v) for v in value)
    return is_template(value)


def _differs(item: dict, keys: list[str], below: dict) -> dict:
    return {k: item[k] for k in keys if k in item and _key(item[k]) != _key(below.get(k))}


def _email_template(users: list[dict]) -> str | None:
    """`{{ name }}@domain` when most users' email is their name at one domain."""
    domains = []
    for user in users:
        local, at, domain = str(user.get("email", "")).partition("@")
        if at and local == user.get("name"):
            domains.append(domain)
    domain, count = _most_common(domains)
    return "{{ name }}@" + domain if count * 2 > len(users) else None


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
                  and not _holds_template_text(same[0][k])}
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


def compact(users: list[dict], columns: list[str]) -> tuple[dict, list[dict], dict]:
    """(defaults, users, phone_models): shared values lifted, the rest kept,
    then each kept value in its compact form."""
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
    defaults = {k: _compact_value(k, v, display_names, builtin.get(k)) for k, v in defaults.items()}
    if phone_defaults:
        defaults["phone_defaults"] = phone_defaults
    return defaults, kept, phone_models


def _rows(numbers: list[int]) -> str:
    return ("row " if len(numbers) == 1 else "rows ") + ", ".join(map(str, numbers[:10])) + \
        (", ..." if len(numbers) > 10 else "")


def stripped_by_a_spreadsheet(users: list[dict]) -> list[str]:
    """Values that look like a spreadsheet dropped their leading zeros (0101
    saved as 101, PIN 093514 as 93514): said with their rows, never their values."""
    warnings = []
    minimum = PinPolicy().min_length
    short_pins = [n for n, u in enumerate(users, start=2)
                  if isinstance(u.get("voicemail_pin"), str) and u["voicemail_pin"].isdigit()
                  and len(u["voicemail_pin"]) < minimum]
    if short_pins:
        warnings.append(f"{_rows(short_pins)}: voicemail_pin has fewer than {minimum} digits: a spreadsheet may have "
                        f"dropped a leading zero; take the PIN from the PBX again")
    extensions = [(n, u["extension_number"]) for n, u in enumerate(users, start=2)
                  if isinstance(u.get("extension_number"), str) and u["extension_number"].isdigit()]
    lengths = Counter(len(e) for _, e in extensions)
    if lengths:
        usual = lengths.most_common(1)[0][0]
        zero_led = any(e.startswith("0") and len(e) == usual for _, e in extensions)
        short = [n for n, e in extensions if len(e) < usual]
        if zero_led and short:
            warnings.append(f"{_rows(short)}: extension_number is shorter than most ({usual} digits, some with a "
                            f"leading 0): a spreadsheet may have dropped leading zeros; check them before importing")
    return warnings


def quoted_cells(text: str, rows: int = 50) -> list[list[bool]]:
    """For the first `rows` records of a CSV, whether each cell was written in
    quotes (which csv.reader does not tell)."""
    out, row, i = [], [], 0
    text = text.removeprefix("\ufeff")
    while i < len(text) and len(out) <= rows:
        quoted = text[i] == '"'
        if quoted:
            i += 1
            while i < len(text) and not (text[i] == '"' and text[i + 1:i + 2] != '"'):
                i += 2 if text[i] == '"' else 1
            i += 1
        while i < len(text) and text[i] not in ",\r\n":
            i += 1
        row.append(quoted)
        if i >= len(text) or text[i] != ",":
            out.append(row)
            row = []
            i += 2 if text[i:i + 2] == "\r\n" else 1
        else:
            i += 1
    return out[1:]  # the header's marks tell nothing


def resaved_by_a_spreadsheet(text: str, header: list[str]) -> bool:
    """LibreOffice saves every text cell in quotes and every number bare: a
    name (which never needs quotes) in quotes beside a bare extension number
    is its mark, and the number has lost any leading zeros by then."""
    if "name" not in header or "extension_number" not in header:
        return False
    name, extension = header.index("name"), header.index("extension_number")
    marks = [row for row in quoted_cells(text) if len(row) > max(name, extension)]
    return bool(marks) and all(row[name] and not row[extension] for row in marks)


def import_export(export: Export, column_set: ColumnSet, literal_secrets: bool = False) -> Imported:
    warnings = [f"column {c!r} is not a PortSIP {column_set.version} column: kept, and written back as an "
                f"extra column (extra_columns)" for c in export.header if c not in column_set.columns]
    users = [_user(export.header, row, column_set, n, warnings) for n, row in enumerate(export.rows, start=2)]
    warnings += stripped_by_a_spreadsheet(users)  # before the secrets leave the users
    if export.resaved:
        warnings.append("this file was re-saved by a spreadsheet (every text cell in quotes, numbers bare, as "
                        "LibreOffice writes them): extension numbers and PINs were numbers to it and lost any "
                        "leading zeros (0201 saved as 201); import the PBX's own export, or compare the numbers "
                        "with the PBX (portsip-roster plan calls out such changes)")
    secrets = {}
    if not literal_secrets:
        for user in users:
            found = _take_secrets(user)
            if found:
                secrets[str(user.get("name"))] = found
    defaults, kept, phone_models = compact(users, column_set.columns)
    roster: dict[str, Any] = {"pbx_version": column_set.version}
    extras = [c for c in export.header if c not in column_set.columns]
    if extras:
        roster["extra_columns"] = [_extra_column(c, export.header, column_set.columns) for c in extras]
    if defaults:
        roster["defaults"] = defaults
    if phone_models:
        roster["phone_models"] = phone_models
    roster["users"] = kept
    return Imported(column_set.version, roster, secrets, warnings, len(kept))


def _extra_column(name: str, header: list[str], known: list[str]) -> dict:
    """Where the export had it: after the nearest known column before it."""
    before = [c for c in header[: header.index(name)] if c in known]
    return {"name": name, "after": before[-1]} if before else {"name": name}


# ---- writing YAML ------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    """Block style for the outline, flow style for small mappings and lists of
    scalars, so that a user or a phone reads as one line where it fits."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)  # list items indented under their key


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _represent_dict(dumper: yaml.SafeDumper, value: dict):
    flow = len(value) <= 6 and all(_is_scalar(v) or v == FROM_FILE for v in value.values()) \
        and len(json.dumps(value)) < 90
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, value: list):
    flow = all(_is_scalar(v) for v in value) and len(json.dumps(value)) < 90
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


# Digits, numbers to call and MAC addresses: always quoted, whatever PyYAML
# thinks, since a YAML 1.2 reader (yq) takes 0099 for 99 and 093513 for 93513.
_IDENTIFIER = re.compile(r"[+\-]?[0-9][0-9:.\-]*|[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")


def _represent_str(dumper: yaml.SafeDumper, value: str):
    style = "'" if _IDENTIFIER.fullmatch(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(list, _represent_list)


def to_yaml(data: Any, comment: str = "") -> str:
    """YAML that the roster loader reads back to `data`: every string that
    YAML 1.1 could read as something else (0101, 10:20:30, no) is quoted."""
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return header + _space_users(body)


def _space_users(text: str) -> str:
    """A blank line between users, as a person would write it."""
    head, found, users = text.partition("\nusers:\n")
    return head + found + users.replace("\n  - name:", "\n\n  - name:")


# ---- the command ----------------------------------------------------------------

def import_file(path: Path, templates: Path | None = None, literal_secrets: bool = False) -> Imported:
    """A PortSIP export as a roster (and its secrets); the version is told by the header."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    export = read_export(data, str(path))
    column_sets = [load_column_set(v, templates) for v in versions(templates)]
    return import_export(export, pick_column_set(export.header, column_sets, str(path)), literal_secrets)


def round_trip(export: Path, roster: Path, options: Options) -> tuple[Plan, dict[str, int]]:
    """What generating the imported roster changes against the export (nothing,
    when all is well), and the spellings it put right, by kind, with counts:
    an enum in another case (the guide's "English" for ENGLISH) or a MAC
    written another way. Those are normalisations, not failures."""
    before = table(export, options, str(export))
    after = read_table(generate(roster, options, str(roster)).text(), str(roster))
    plan = compare(before, after)
    normalised: dict[str, int] = {}
    for user in plan.changed:
        kept = []
        hours, seen = before.rows.get(user.name, {}).get("office_hours", ""), set()
        for change in user.changes:
            kind = _normalisation(change)
            days = _global_days(change, hours)
            if days:  # counted once per user, not once per day
                normalised[days] = normalised.get(days, 0) + (days not in seen)
                seen.add(days)
            elif kind:
                normalised[kind] = normalised.get(kind, 0) + 1
            else:
                kept.append(change)
        user.changes = kept
    plan.changed = [u for u in plan.changed if u.changes]
    return plan, normalised


def _normalisation(change: Change) -> str | None:
    old, new = change.old, change.new
    if change.secret or not (isinstance(old, str) and isinstance(new, str)) or old == new:
        return None
    leaf = change.field.rsplit(".", 1)[-1]
    if leaf == "mac" and mac_key(old) == mac_key(new):
        return f"{leaf}: written as 0c:38:3e:63:fe:e8"
    if old.casefold() == new.casefold() and new in _enum_values().get(leaf, ()):
        return f"{leaf}: {old} written {new}"
    if leaf == "voicemail_play_datetime" and old.strip().upper() == "FALSE" and new == "DISABLE":
        return f"{leaf}: the guide's {old} written DISABLE"
    return None


_GLOBAL_DAY = re.compile(r"office_hours\.(" + "|".join(expand.WEEKDAYS) + r")\.(enabled|ranges)")


def _global_days(change: Change, cell: str) -> str | None:
    """The guide's {"mode":"GLOBAL"} comes back with the seven days a real
    export writes beside it (each enabled, no ranges), which GLOBAL ignores."""
    if change.old is not None or change.new not in (True, []) or not _GLOBAL_DAY.fullmatch(change.field):
        return None
    try:
        mode = json.loads(cell).get("mode")
    except (ValueError, AttributeError):
        return None
    return "office_hours: mode GLOBAL written with its seven days, as PortSIP's export writes them" \
        if mode == "GLOBAL" else None


@cache
def _enum_values() -> dict[str, tuple]:
    return {**facts().user_enums, **facts().phone_enums}


@dataclass
class ImportResult:
    imported: Imported
    secrets_file: Path | None  # where the secrets went, if the export had any
    problems: list[Problem]  # the new roster's, when the export's values break a rule
    plan: Plan | None  # what generating the new roster changes against the export
    normalised: dict[str, int] = field(default_factory=dict)  # spellings put right, with counts


def import_to(export: Path, roster: Path, secrets_file: Path | None, templates: Path | None = None,
              force: bool = False) -> ImportResult:
    """Write the roster (and the secrets file) made from `export`, then
    generate it and compare with the export. `secrets_file` None: keep the
    secrets in the roster."""
    for target in (roster, secrets_file):
        if target is not None and target.exists() and not force:
            raise UsageError(f"{target} exists; pass --force to overwrite it")
    if secrets_file is not None and same_file(roster, secrets_file):
        raise UsageError(f"the roster and the secrets file are both {roster}; name two files")
    for target in (roster, secrets_file):
        if target is not None:  # --force replaces a file, never the export or the column sets read
            check_output(target, [export, templates], "the roster" if target == roster else "the secrets file")
    imported = import_file(export, templates, literal_secrets=secrets_file is None)
    comment = (f"Imported from {export.name} (PortSIP {imported.version}, {counted(imported.users, 'user')}) "
               f"by portsip-roster.")
    if imported.secrets:
        comment += f"\nPasswords and PINs are in {secrets_file.name}: generate with --secrets {secrets_file.name}."
    try:
        write_atomic(roster, to_yaml(imported.roster, comment))
        if imported.secrets:
            write_atomic(secrets_file, to_yaml(imported.secrets, "Secrets by user name. Keep this file out of git."))
    except OSError as exc:
        raise UsageError(f"cannot write: {exc.strerror}") from exc
    kept = secrets_file if imported.secrets else None
    try:
        plan, normalised = round_trip(export, roster, Options(templates=templates, secrets=kept))
    except RosterInvalid as exc:
        return ImportResult(imported, kept, exc.problems, None)
    return ImportResult(imported, kept, [], plan, normalised)
