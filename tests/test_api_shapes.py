"""Every JSON cell of the example has the shape PortSIP's own REST API (v22) gives it.

The fixture is PortSIP's published OpenAPI request schemas; see fixtures/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, read_csv
from jsonschema import Draft202012Validator

from generator.pipeline import generate

API = json.loads((Path(__file__).parent / "fixtures" / "portsip-v22-openapi-user-schemas.json")
                 .read_text("utf-8"))
USER = API["create_user"]["properties"]
JSON_COLUMNS = ["office_hours", "custom_forward_rules", "blfs", "offline_office_hours_forward_rule",
                "offline_non_office_hours_forward_rule"]


@pytest.fixture(scope="module")
def rows():
    text, _ = generate(ROOT / "roster.example.yaml")
    header, *body = read_csv(text)
    assert len(header) == 32
    return [dict(zip(header, row)) for row in body]


@pytest.mark.parametrize("column", JSON_COLUMNS)
def test_json_cell_matches_api(rows, column):
    validator = Draft202012Validator(USER[column])
    for row in rows:
        errors = list(validator.iter_errors(json.loads(row[column])))
        assert not errors, (row["name"], column, errors[0].message)


def test_forward_rules_use_offline_rule_shape(rows):
    shape = dict(USER["offline_office_hours_forward_rule"])
    busy = dict(USER["busy_office_hours_forward_rule"])
    for row in rows:
        Draft202012Validator(shape).validate(json.loads(row["online_no_answer_forward_rule"]))
        Draft202012Validator(busy).validate(json.loads(row["online_busy_forward_rule"]))


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
