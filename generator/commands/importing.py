"""`import`: a PortSIP export (CSV) to a compact roster.

Every cell is read back to the value the roster would hold, the secrets are
taken out to a separate file, and the users are made a compact roster
(generator/compact.py) written as YAML (generator/yamlout.py); the roster is
then generated and compared with the export.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from generator import expand
from generator.columns import load_column_set, versions
from generator.commands.diff import table
from generator.commands.generate import generate
from generator.commands.tables import canonical_header, compare, csv_rows, read_table
from generator.compact import compact_roster
from generator.compare.changes import MAX_JSON_DEPTH, Change, nests_too_deep
from generator.compare.plan import Plan, Words
from generator.errors import RosterInvalid, UsageError
from generator.model import FROM_FILE, ColumnSet, Problem, counted, mac_key
from generator.pipeline import Options
from generator.policy import PinPolicy
from generator.schema import facts
from generator.secrets.fill import secret_at, secret_paths
from generator.write import check_output, same_file, write_atomic
from generator.yamlout import to_yaml, unwritable


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
        odd = unwritable(value)
        if odd:
            warnings.append(f"{where}: {column} holds {odd}; left out of the roster: write it again there")
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
    extras = [_extra_column(c, export.header, column_set.columns) for c in export.header
              if c not in column_set.columns]
    roster = compact_roster(users, column_set.columns, column_set.version, extras)
    return Imported(column_set.version, roster, secrets, warnings, len(roster["users"]))


def _extra_column(name: str, header: list[str], known: list[str]) -> dict:
    """Where the export had it: after the nearest known column before it."""
    before = [c for c in header[: header.index(name)] if c in known]
    return {"name": name, "after": before[-1]} if before else {"name": name}


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


# The round trip's words, where OLD is the export and NEW the roster made from it.
ROUND_TRIP = Words("PortSIP roster diff", (
    ("create", "Only in the roster (not in the export)", "added"),
    ("delete", "In the export, but not given back by the roster", "removed"),
    ("update", "Not given back as exported: generating the roster writes these cells otherwise", "changed")))


def round_trip(export: Path, roster: Path, options: Options) -> tuple[Plan, dict[str, int]]:
    """What generating the imported roster changes against the export (nothing,
    when all is well), and the spellings it put right, by kind, with counts:
    an enum in another case (the guide's "English" for ENGLISH) or a MAC
    written another way. Those are normalisations, not failures."""
    before = table(export, options, str(export))
    after = read_table(generate(roster, options, str(roster)).text(), str(roster))
    plan = compare(before, after, ROUND_TRIP)
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
    plan.users = [u for u in plan.users if u.kind != "update" or u.changes]
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
