"""Every JSON cell of the example has the shape PortSIP's own REST API (v22) gives it.

The fixture is PortSIP's published OpenAPI request schemas; see fixtures/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import MINIMAL_USER, ROOT, read_csv, run_module
from jsonschema import Draft202012Validator

from generator.commands.generate import generate

API = json.loads((Path(__file__).parent / "fixtures" / "portsip-v22-openapi-user-schemas.json")
                 .read_text("utf-8"))
USER = API["create_user"]["properties"]
JSON_COLUMNS = ["office_hours", "custom_forward_rules", "blfs", "offline_office_hours_forward_rule",
                "offline_non_office_hours_forward_rule"]


@pytest.fixture(scope="module")
def rows():
    text = generate(ROOT / "roster.example.yaml").text()
    header, *body = read_csv(text)
    assert len(header) == 32
    return [dict(zip(header, row)) for row in body]


@pytest.mark.parametrize("column", JSON_COLUMNS)
def test_json_cell_matches_api(rows, column):
    validator = Draft202012Validator(USER[column])
    for row in rows:
        errors = list(validator.iter_errors(json.loads(row[column])))
        assert not errors, (row["name"], column, errors[0].message)


# The CSV's two online rules and the API rule whose shape each takes: the
# no-answer rule the offline rules' (no RING_ANYWAY), the busy rule the busy one's.
ONLINE_RULES = {"online_no_answer_forward_rule": "offline_office_hours_forward_rule",
                "online_busy_forward_rule": "busy_office_hours_forward_rule"}
# Each compact form a roster may write, and the action it stands for.
RULE_FORMS = {"voicemail": "FORWARD_TO_VOICEMAIL", "hangup": "HANGUP", "ring": "RING_ANYWAY",
              '"+15551234"': "FORWARD_TO_NUMBER"}


@pytest.mark.parametrize("column", ONLINE_RULES)
def test_forward_rules_use_offline_rule_shape(rows, column, tmp_path):
    """The example's cells have the shape; each form whose action the shape
    allows gives a cell of that shape, and the others are refused."""
    shape = USER[ONLINE_RULES[column]]
    validator = Draft202012Validator(shape)
    for row in rows:
        errors = [e.message for e in validator.iter_errors(json.loads(row[column]))]
        assert not errors, (row["name"], column, errors)
    written = set()
    for form, action in RULE_FORMS.items():
        (tmp_path / "roster.yaml").write_text(f"pbx_version: v22\nusers:\n{MINIMAL_USER}    {column}: {form}\n")
        result = run_module("generate", "roster.yaml", cwd=tmp_path)
        if action not in shape["properties"]["action"]["enum"]:
            assert result.returncode == 1 and f"{column}: must be" in result.stderr, (form, result.stderr)
            continue
        assert result.returncode == 0, (form, result.stderr)
        header, row = read_csv(result.stdout)
        cell = json.loads(row[header.index(column)])
        errors = [e.message for e in validator.iter_errors(cell)]
        assert not errors and cell["action"] == action, (form, cell, errors)
        written.add(action)
    assert written == set(shape["properties"]["action"]["enum"])


def test_phones_match_api(rows):
    phone = API["create_user_phone"]
    validator = Draft202012Validator({"type": "array", "items": phone})
    seen = 0
    for row in rows:
        phones = json.loads(row["phones"])
        seen += len(phones)
        # The guide's v22 export writes unset door passwords as "", which the
        # API's minLength 4 would refuse; the CSV follows the export.
        for item in phones:
            for key in ("door_password1", "door_password2"):
                if item[key] == "":
                    del item[key]
        errors = list(validator.iter_errors(phones))
        assert not errors, (row["name"], errors[0].message)
    assert seen >= 5


def test_booleans_and_enums_of_plain_cells(rows):
    for row in rows:
        assert row["enabled"] in ("TRUE", "FALSE")
        assert row["sms"] in USER["sms"]["enum"]
        assert row["voicemail_play_datetime"] in USER["voicemail_play_datetime"]["enum"]
        assert row["interface"] in USER["interface"]["enum"]


# Key sets of the JSON examples in PortSIP's bulk-import guide (facts, not code).
GUIDE_V16_PHONE = {
    "mac", "filename", "vendor", "interface", "preferred_transport", "model", "password", "language",
    "timezone", "transfer", "ringtone", "queue_ringtone", "date_format", "time_format", "powerled",
    "backlight", "screensaver", "rps", "https", "codecs", "enable_lldp", "enable_vlan_wan_port",
    "wan_port_id", "wan_port_priority", "enable_vlan_pc_port", "pc_port_id", "pc_port_priority",
}
GUIDE_V22_PHONE = GUIDE_V16_PHONE | {"serial_number", "door_password1", "door_password2"}
GUIDE_RULE = {"action", "timeout", "number"}
GUIDE_WEEK = {"mode", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}


def test_cells_have_the_key_sets_of_the_guide_examples(rows):
    for row in rows:
        assert set(json.loads(row["office_hours"])) == GUIDE_WEEK
        for day in list(GUIDE_WEEK - {"mode"}):
            assert set(json.loads(row["office_hours"])[day]) == {"enabled", "ranges"}
        for column in ("online_no_answer_forward_rule", "online_busy_forward_rule",
                       "offline_office_hours_forward_rule", "offline_non_office_hours_forward_rule"):
            assert set(json.loads(row[column])) == GUIDE_RULE
        for phone in json.loads(row["phones"]):
            assert set(phone) == GUIDE_V22_PHONE


def test_v16_phones_have_the_v16_guide_keys():
    text = generate(ROOT / "tests" / "cases" / "full-v16" / "roster.yaml").text()
    header, *body = read_csv(text)
    assert len(header) == 31 and "sms" not in header
    phones = json.loads(dict(zip(header, body[0]))["phones"])
    assert [set(p) for p in phones] == [GUIDE_V16_PHONE]
