"""YAML 1.1 would silently change what an admin typed; each trap has a test."""

from __future__ import annotations

import json

from conftest import read_csv

from generator.commands.generate import generate
from generator.load import load_text

ROSTER = """\
pbx_version: v22
defaults:
  phone_defaults: {{vendor: Yealink, filename: y.xml, password: "123456", timezone: UTC}}
users:
  - name: {name}
    extension_number: {extension}
    email: jim@example.com
    display_name: Jim Keeny
    password: "Pa55word!x"
    extension_password: "Ext-Pa55!x"
    voicemail_pin: {pin}
    offline_non_office_hours_forward_rule: {forward}
    phones:
      - {{mac: {mac}, model: T1}}
"""


def _row(write_roster, **values) -> dict[str, str]:
    fields = {"name": "jim1", "extension": "101", "pin": "409296", "forward": "voicemail",
              "mac": "cc:5e:f8:41:b7:95", **values}
    text = generate(write_roster(ROSTER.format(**fields))).text()
    header, row = read_csv(text)
    return dict(zip(header, row))


def test_leading_zero_is_not_octal(write_roster):
    row = _row(write_roster, extension="0123", pin="0583917")
    assert row["extension_number"] == "0123"
    assert row["voicemail_pin"] == "0583917"


def test_all_digit_mac_is_not_base_60(write_roster):
    row = _row(write_roster, mac="10:20:30:40:50:51")
    assert json.loads(row["phones"])[0]["mac"] == "10:20:30:40:50:51"


def test_no_on_off_stay_words(write_roster):
    row = _row(write_roster, name="no")
    assert row["name"] == "no"
    document, problems = load_text("a: on\nb: off\nc: yes\nd: no\n", "r.yaml")
    assert not problems
    assert document.data == {"a": "on", "b": "off", "c": "yes", "d": "no"}


def test_plain_integers_keep_their_digits(write_roster):
    row = _row(write_roster, extension="4100", forward="+15551234")
    assert row["extension_number"] == "4100"
    assert json.loads(row["offline_non_office_hours_forward_rule"])["number"] == "+15551234"


def test_number_to_forward_to_keeps_plus_and_zeros(write_roster):
    row = _row(write_roster, forward="00441234")
    rule = json.loads(row["offline_non_office_hours_forward_rule"])
    assert rule == {"action": "FORWARD_TO_NUMBER", "number": "00441234", "timeout": 60}


def test_duplicate_key_names_both_lines():
    _, problems = load_text("users:\n  - name: a\n    email: x\n    email: y\n", "r.yaml")
    assert [str(p) for p in problems] == [
        "r.yaml:4:5: duplicate key 'email': first at line 3, again at line 4 [yaml-duplicate-key]"
    ]


def test_float_like_and_sexagesimal_text_stay_text():
    document, _ = load_text("a: 1:30\nb: 1e3\nc: 0x1F\nd: 1_000\n", "r.yaml")
    assert document.data == {"a": "1:30", "b": "1e3", "c": "0x1F", "d": "1_000"}


def test_a_text_written_many_times_is_held_once():
    """Each parse event brings its own copy of a key or value: a roster's
    keys, models and profile names repeat in every user, and are held once."""
    document, problems = load_text("users:\n  - {name: a, model: T31}\n  - {name: b, model: T31}\n", "r.yaml")
    first, second = document.data["users"]
    assert problems == [] and first == {"name": "a", "model": "T31"}
    assert first["model"] is second["model"]
    assert [k for k in first if k == "model"][0] is [k for k in second if k == "model"][0]
