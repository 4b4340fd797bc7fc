"""Each compact form of the README expands to the full form the cell holds."""

from __future__ import annotations

import pytest

from generator import expand

OPEN = {"enabled": True, "ranges": []}
CLOSED = {"enabled": False, "ranges": []}


def test_global_office_hours_is_the_exports_global_week():
    hours = expand.office_hours("global")
    assert hours["mode"] == "GLOBAL"
    assert all(hours[day] == OPEN for day in expand.WEEKDAYS)


def test_days_as_text_imply_custom_mode_and_named_days_win():
    hours = expand.office_hours({"weekdays": "09:00-12:00, 13:00-17:00", "friday": "09:00-13:00",
                                 "weekend": "closed"})
    assert hours["mode"] == "CUSTOM"
    assert hours["monday"] == {"enabled": True, "ranges": [{"from": "09:00", "to": "12:00"},
                                                           {"from": "13:00", "to": "17:00"}]}
    assert hours["friday"] == {"enabled": True, "ranges": [{"from": "09:00", "to": "13:00"}]}
    assert hours["sunday"] == CLOSED
    assert "weekdays" not in hours and "weekend" not in hours


def test_open_day_and_explicit_mode():
    hours = expand.office_hours({"mode": "GLOBAL", "tuesday": "open"})
    assert hours == {"mode": "GLOBAL", "tuesday": OPEN}


@pytest.mark.parametrize(("compact", "full"), [
    ("voicemail", {"action": "FORWARD_TO_VOICEMAIL", "number": ""}),
    ("hangup", {"action": "HANGUP", "number": ""}),
    ("ring", {"action": "RING_ANYWAY", "number": ""}),
    ("+15551234", {"action": "FORWARD_TO_NUMBER", "number": "+15551234"}),
    ("0101", {"action": "FORWARD_TO_NUMBER", "number": "0101"}),
])
def test_forward_rule_words_and_numbers(compact, full):
    assert expand.forward_rule(compact) == full


def test_layer_turns_typed_digits_into_text_but_keeps_numbers():
    layer = expand.layer({"extension_number": 101, "online_no_answer_forward_rule": 123456,
                          "phones": [{"mac": "x", "wan_port_id": 5, "password": 1234}],
                          "offline_office_hours_forward_rule": {"action": "HANGUP", "timeout": 30}})
    assert layer["extension_number"] == "101"
    assert layer["online_no_answer_forward_rule"] == {"action": "FORWARD_TO_NUMBER", "number": "123456"}
    assert layer["phones"][0] == {"mac": "x", "wan_port_id": 5, "password": "1234"}
    assert layer["offline_office_hours_forward_rule"]["timeout"] == 30


def test_custom_rule_is_completed():
    (rule,) = expand.layer({"custom_forward_rules": [
        {"action": "HANGUP", "type": "SPECIFIC_HOURS", "hours": {"weekend": "10:00-12:00"}}]})["custom_forward_rules"]
    assert rule["number"] == "" and rule["caller_id"] == ""
    assert rule["hours"]["saturday"] == {"enabled": True, "ranges": [{"from": "10:00", "to": "12:00"}]}
    assert rule["hours"]["monday"] == CLOSED
    assert set(rule["hours"]) == set(expand.WEEKDAYS)


def test_layers_are_not_modified():
    written = {"office_hours": {"weekdays": "open"}, "blfs": [101]}
    expand.layer(written)
    assert written == {"office_hours": {"weekdays": "open"}, "blfs": [101]}
