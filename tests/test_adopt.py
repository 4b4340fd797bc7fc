"""Adopting a tenant (generator/pbx/portsip/adopt.py; the notes summarised and
the users ordered by generator/sync/adopt.py): what the PBX gives for each
user, read back into roster fields, run through the real roster pipeline,
plans to nothing against the same PBX; secrets never reach the fields;
hostile values are said, not passed through."""

from __future__ import annotations

import json
import re

import pytest
from fakepbx import SECRETS, State
from tenant import seed

from generator.model import FROM_FILE, mac_key
from generator.pbx.portsip.adopt import GENERATE, adopt
from generator.pbx.portsip.client import Client, Login
from generator.pbx.portsip.target import PortSip
from generator.pipeline import Options, run
from generator.sync.adopt import extension_order, summary
from generator.sync.plan import make_plan

# The mapping on every kind of value a seeded tenant holds; the 1,000-user round
# trip through the real commands is tests/test_adopt_command.py's.
COUNT = 300


def _read(state: State) -> dict[str, dict]:
    """The tenant as plan reads it (GET /users/{id} and its phones: no passwords)."""
    actual = {}
    for user_id, user in state.users.items():
        detail = {k: v for k, v in user.items() if k not in SECRETS}
        phones = [{k: v for k, v in p.items() if k != "password"} for p in state.phones[user_id].values()]
        actual[user["name"]] = {"id": user_id, "detail": detail, "phones": phones}
    return actual


@pytest.fixture(scope="module", params=[False, True], ids=["varied", "bare"])
def tenant_read(request):
    """The seeded tenant (every field answered, as a real PBX does) as plan reads it, each user adopted."""
    state = State()
    seed(state, COUNT, seed=3, bare=request.param)
    actual = _read(state)
    return actual, [adopt(user["detail"], user["phones"]) for user in actual.values()]


def test_an_adopted_tenant_plans_to_nothing(tenant_read, tmp_path):
    """The mapping alone: every one of the 1,000 users read back and resolved
    as plan resolves it plans to nothing, varied and bare alike; nothing is
    said of a field the PBX did not answer (it answers every one)."""
    actual, adopted = tenant_read
    roster, secrets = tmp_path / "roster.yaml", tmp_path / "secrets.yaml"
    roster.write_text(json.dumps({"pbx_version": "v22", "users": [a.fields for a in adopted]}, ensure_ascii=False),
                      "utf-8")
    secrets.write_text(json.dumps({a.name: a.secrets for a in adopted if a.secrets}, ensure_ascii=False), "utf-8")
    resolved = run(roster, Options(secrets=secrets, redact=True))
    assert not resolved.errors, [str(p) for p in resolved.errors[:5]]
    wanted = {user.name: user.fields for user in resolved.users}
    plan = make_plan(PortSip(Client(Login("http://127.0.0.1:1/api", "u", "p", "d", allow_http=True))), wanted,
                     actual, set(), prune=True)
    assert plan.empty and not plan.left_alone, [(u.name, u.changes[:3], u.phones[:2]) for u in plan.users[:3]]
    assert not any("did not answer" in n.message for a in adopted for n in a.notes)


def test_secrets_never_reach_the_fields(tenant_read):
    """The PBX here answers PINs and door passwords (to the secrets file, the
    roster says secrets_file) and no password (the roster generates them)."""
    actual, adopted = tenant_read
    for item in adopted:
        fields = item.fields
        assert fields["password"] == GENERATE and fields["extension_password"] == GENERATE
        assert fields["voicemail_pin"] == FROM_FILE
        assert item.secrets["voicemail_pin"] == actual[item.name]["detail"]["voicemail_pin"]
        assert {"password", "extension_password"} <= set(item.unanswered)
        for phone in fields["phones"]:
            mac = mac_key(phone["mac"])
            assert phone["password"] == GENERATE and f"phones[{mac}].password" in item.unanswered
            for key in ("door_password1", "door_password2"):
                if key in phone:
                    assert phone[key] == FROM_FILE and item.secrets["phones"][mac][key].isdigit()
        text = json.dumps(fields)
        for value in [item.secrets.get("voicemail_pin"), *(v for p in item.secrets.get("phones", {}).values()
                                                           for v in p.values())]:
            if value:
                assert f'"{value}"' not in text


def test_answered_passwords_go_to_the_secrets_file_only():
    detail = {"name": "anna", "extension_number": "201", "password": "Pa55word!x", "extension_password": "Ext-Pa55!x",
              "voicemail_pin": "409296"}
    made = adopt(detail, [{"id": "p1", "mac": "80:5E:C0:00:00:01", "password": "Ph0ne-Pa55", "vendor": "Yealink"}])
    assert made.secrets == {"password": "Pa55word!x", "extension_password": "Ext-Pa55!x", "voicemail_pin": "409296",
                            "phones": {"80:5e:c0:00:00:01": {"password": "Ph0ne-Pa55"}}}
    assert made.unanswered == []
    assert "Pa55" not in json.dumps(made.fields) and "409296" not in json.dumps(made.fields)
    assert made.fields["phones"] == [{"mac": "80:5e:c0:00:00:01", "vendor": "Yealink", "password": FROM_FILE}]


def test_busy_rules_become_online_busy_only_when_they_agree():
    rule = {"action": "FORWARD_TO_NUMBER", "number": "0044123"}
    same = adopt({"name": "a", "extension_number": "101", "busy_office_hours_forward_rule": rule,
                  "busy_non_office_hours_forward_rule": dict(rule),
                  "available_no_answer_forward_rule": {"action": "HANGUP", "number": "", "timeout": 20}}, [])
    assert same.fields["online_busy_forward_rule"] == rule
    assert same.fields["online_no_answer_forward_rule"] == {"action": "HANGUP", "number": "", "timeout": 20}
    assert not any(k.startswith(("busy_", "available_")) for k in same.fields)
    other = adopt({"name": "a", "extension_number": "101", "busy_office_hours_forward_rule": rule,
                   "busy_non_office_hours_forward_rule": {"action": "RING_ANYWAY", "number": ""}}, [])
    assert "online_busy_forward_rule" not in other.fields
    assert other.fields["busy_non_office_hours_forward_rule"] == {"action": "RING_ANYWAY", "number": ""}
    assert other.fields["busy_office_hours_forward_rule"] == rule


def test_hostile_values_are_said_and_left_out():
    deep: list = []
    for _ in range(50):
        deep = [deep]
    detail = {"name": "mallory", "extension_number": "666", "sms": "\x1b[31mALL", "display_name": "M" * 5000,
              "voicemail_prompt": "en-US\n", "external_ringtone": "x", "custom_options": {"a": 1},
              "outbound_caller_ids": deep, "offline_office_hours_forward_rule": {"action": "FORWARD_TO_NUMBER",
                                                                                "number": "1; rm -rf /"},
              "voicemail_pin": "12ab", "password": "bad\x1bpass", "email": "m@example.com"}
    made = adopt(detail, [{"mac": "not-a-mac", "model": "x"},
                          {"mac": "0c383e000001", "language": "KLINGON", "external_ringtone": "r",
                           "door_password1": "12"}])
    fields = made.fields
    for key in ("sms", "display_name", "voicemail_prompt", "external_ringtone", "custom_options",
                "outbound_caller_ids", "offline_office_hours_forward_rule"):
        assert key not in fields, key
    assert fields["email"] == "m@example.com"
    assert fields["voicemail_pin"] == GENERATE and fields["password"] == GENERATE and made.secrets == {}
    assert fields["phones"] == [{"mac": "0c:38:3e:00:00:01", "password": GENERATE}]  # as the roster writes a MAC
    said = {n.field for n in made.notes}
    assert {"sms", "display_name", "voicemail_prompt", "external_ringtone", "custom_options", "outbound_caller_ids",
            "offline_office_hours_forward_rule", "voicemail_pin", "password", "phones",
            "phones[0c:38:3e:00:00:01].language", "phones[0c:38:3e:00:00:01].external_ringtone",
            "phones[0c:38:3e:00:00:01].door_password1"} <= said
    shown = "\n".join(map(str, made.notes))
    assert "\x1b" not in shown and "12ab" not in shown and "bad" not in shown


@pytest.mark.parametrize("name, extension", [("bad\x1bname", "101"), (".dot", "101"), ("ok", "12"), ("ok", 101),
                                             (None, "101"), ("ok", "1" * 65)])
def test_a_user_the_roster_cannot_name_is_left_out_and_said(name, extension):
    made = adopt({"name": name, "extension_number": extension}, [])
    assert made.fields is None and made.notes
    assert "\x1b" not in str(made.notes[0])


def test_users_come_in_extension_order():
    users = [adopt({"name": n, "extension_number": e}, []) for n, e in
             (("c", "1000"), ("a", "0101"), ("b", "200"), ("d", "0999"))]
    assert [u.name for u in extension_order(users)] == ["a", "b", "d", "c"]


def test_notes_are_summarised_per_field_and_reason():
    """Thousands of notes of a tenant are a screen: one line per field and
    reason, counted, a few users named, escaped."""
    adopted = [adopt({"name": f"u{n}", "extension_number": f"{1000 + n}", "sms": "NEVER", "color": "red"},
                     [{"mac": f"80:5e:c0:00:00:{n % 256:02x}", "language": "KLINGON"}]) for n in range(1000)]
    notes = [n for a in adopted for n in a.notes]
    lines = summary(notes)
    assert len(lines) < 60 < 3000 < len(notes)
    assert "sms: not a value the roster takes (see schemas/roster.schema.json); left out of the roster: set it " \
           "there by hand (1000 users: u0, u1, u2, u3, u4 and 995 more)" in lines
    assert all(re.search(r"\(\d+ users?: ", line) for line in lines)
    hostile = adopt({"name": "eve", "extension_number": "101", "x\x1b[2J": 1}, []).notes
    said = [line for line in summary(hostile) if line.startswith("x")]
    assert said == ["x\\u001b[2J: the roster has no key for it; left out of the roster (1 user: eve)"]


def test_a_mac_the_pbx_writes_in_upper_case_is_the_same_phone():
    """A PBX answering 80:5E:C0:.. for the roster's 80:5e:c0:.. plans no phone replace (plan compares mac_key)."""
    target = PortSip(Client(Login("http://127.0.0.1:1/api", "u", "p", "d", allow_http=True)))
    phone = {"mac": "80:5e:c0:00:00:01", "vendor": "Yealink", "model": "SIP-T32G", "filename": "yealinkT3x.ph.xml"}
    fields = {"name": "a", "extension_number": "101", "display_name": "A", "phones": [phone]}
    actual = {"a": {"id": "u1", "detail": target.user_body(fields),
                    "phones": [{**phone, "id": "p1", "mac": "80:5E:C0:00:00:01"}]}}
    assert make_plan(target, {"a": fields}, actual, set(), prune=False).empty
