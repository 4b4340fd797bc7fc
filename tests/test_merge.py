"""Merge order, deep merge, list replacement, computed defaults, provenance."""

from __future__ import annotations

import json

from conftest import MINIMAL_USER, read_csv

from generator.commands.generate import generate
from generator.pipeline import run as resolve_roster


def _rows(write_roster, text: str) -> list[dict[str, str]]:
    csv_text = generate(write_roster(text)).text()
    header, *rows = read_csv(csv_text)
    return [dict(zip(header, row)) for row in rows]


LAYERED = """\
pbx_version: v22
defaults:
  role: StandardUser
  voicemail_prompt: en-GB
  enable_dnd: true
  office_hours: {weekdays: "09:00-17:00", weekend: closed}
  blfs: ["102"]
profiles:
  first: {role: QueueManager, voicemail_prompt: fr-FR, office_hours: {friday: "09:00-12:00"}}
  second: {role: Admin, blfs: []}
users:
""" + MINIMAL_USER + """\
    profiles: [first, second]
    voicemail_prompt: de-DE
  - name: kate
    extension_number: "102"
    email: kate@example.com
    display_name: Kate Ortiz
    password: "Pa55word!y"
    extension_password: "Ext-Pa55!y"
    voicemail_pin: "582946"
"""


def test_each_layer_wins_over_the_one_below(write_roster):
    jim, kate = _rows(write_roster, LAYERED)
    assert jim["voicemail_prompt"] == "de-DE"  # user over profiles
    assert jim["role"] == "Admin"  # later profile over earlier
    assert jim["enable_dnd"] == "TRUE"  # defaults over built-in
    assert kate["enable_acb"] == "FALSE"  # built-in
    assert kate["role"] == "StandardUser"


def test_mappings_merge_deeply_and_lists_replace(write_roster):
    jim, kate = _rows(write_roster, LAYERED)
    hours = json.loads(jim["office_hours"])
    assert hours["friday"] == {"enabled": True, "ranges": [{"from": "09:00", "to": "12:00"}]}
    assert hours["monday"] == {"enabled": True, "ranges": [{"from": "09:00", "to": "17:00"}]}
    assert hours["sunday"] == {"enabled": False, "ranges": []}
    assert json.loads(jim["blfs"]) == []  # profile "second" replaced the list
    assert json.loads(kate["blfs"])[0]["value"] == "102"


def test_computed_default_reads_the_users_fields(write_roster):
    computed = '  custom_options: "{{ name }}-{{ extension_number }}"\n'
    text = LAYERED.replace("  role: StandardUser\n", "  role: StandardUser\n" + computed)
    jim, kate = _rows(write_roster, text)
    assert jim["custom_options"] == "jim1-101"
    assert kate["custom_options"] == "kate-102"


def test_values_on_a_user_are_never_evaluated(write_roster):
    text = LAYERED.replace("display_name: Jim Keeny", 'display_name: "{{ 7*7 }}"')
    jim, _ = _rows(write_roster, text)
    assert jim["display_name"] == "{{ 7*7 }}"


def test_origin_names_layer_and_line(write_roster):
    resolved = resolve_roster(write_roster(LAYERED))
    jim = resolved.users[0]
    layer, path = jim.origin(("role",))
    assert layer.label == "profile second"
    assert layer.position(path)[1:] == (10, 18)
    layer, path = jim.origin(("voicemail_prompt",))
    assert (layer.label, layer.position(path)[1]) == ("user", 20)
    assert jim.origin(("enable_acb",))[0].label == "built-in"


def test_phone_takes_model_and_defaults(write_roster):
    text = """\
pbx_version: v22
defaults:
  phone_defaults: {timezone: UTC, password: "{{ phone.mac[-5:] | replace(':', '') }}"}
phone_models:
  T1: {vendor: Yealink, filename: y.xml, codecs: [G722]}
users:
""" + MINIMAL_USER + """\
    phones:
      - {mac: "cc:5e:f8:41:b7:95", model: T1}
"""
    (jim,) = _rows(write_roster, text)
    phone = json.loads(jim["phones"])[0]
    assert (phone["vendor"], phone["filename"], phone["codecs"]) == ("Yealink", "y.xml", ["G722"])
    assert phone["password"] == "b795"
    assert phone["transfer"] == "BLIND"


def test_computed_values_reach_nested_and_patterned_fields(write_roster):
    text = LAYERED.replace(
        "  role: StandardUser\n",
        '  role: StandardUser\n'
        '  online_busy_forward_rule: "{{ extension_number }}"\n'
        '  extra: {team: "ext-{{ extension_number }}"}\n',
    )
    jim, kate = _rows(write_roster, text)
    assert json.loads(kate["online_busy_forward_rule"])["number"] == "102"
    resolved = resolve_roster(write_roster(text))
    assert resolved.users[1].fields["extra"] == {"team": "ext-102"}
    assert resolved.users[0].fields["extra"] == {"team": "ext-101"}  # layers not shared


def test_computed_value_is_checked_once_computed(write_roster):
    text = LAYERED.replace("  role: StandardUser\n", '  enable_dnd: "{{ name }}"\n  role: StandardUser\n')
    text = text.replace("  enable_dnd: true\n", "")
    problems = resolve_roster(write_roster(text)).errors
    assert [(p.line, p.user, p.field) for p in problems] == [(3, "jim1", "enable_dnd"), (3, "kate", "enable_dnd")]
    assert "must be true or false (got 'jim1')" in problems[0].message


def test_computed_from_computed_is_an_error(write_roster):
    text = LAYERED.replace(
        "  role: StandardUser\n",
        '  role: StandardUser\n  custom_options: "{{ name }}"\n  email: "{{ custom_options }}@x.example"\n',
    )
    text = text.replace("    email: jim@example.com\n", "").replace("    email: kate@example.com\n", "")
    problems = resolve_roster(write_roster(text)).errors
    assert {p.field for p in problems} == {"email"}
    assert "'custom_options' is undefined" in problems[0].message


def test_phone_model_may_come_from_phone_defaults(write_roster):
    text = """\
pbx_version: v22
defaults:
  phone_defaults: {model: T1, timezone: UTC, password: "123456"}
phone_models:
  T1: {vendor: Yealink, filename: y.xml}
users:
""" + MINIMAL_USER + """\
    phones:
      - {mac: "cc:5e:f8:41:b7:95"}
"""
    (jim,) = _rows(write_roster, text)
    phone = json.loads(jim["phones"])[0]
    assert (phone["model"], phone["vendor"]) == ("T1", "Yealink")
