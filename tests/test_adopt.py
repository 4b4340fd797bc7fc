"""Adopting a tenant (generator/sync/adopt.py): what the PBX gives for each
user, read back into roster fields, run through the real roster pipeline,
plans to nothing against the same PBX; secrets never reach the fields;
hostile values are said, not passed through."""

from __future__ import annotations

import json
import re

import pytest
from conftest import run_module
from fakepbx import ACCOUNT, SECRETS, FakeServer, State
from tenant import seed

from generator.model import mac_key
from generator.pipeline import Options, run
from generator.pbx.portsip.adopt import FROM_FILE, GENERATE, adopt
from generator.sync.adopt import extension_order, summary
from generator.pbx.portsip.api import phone_body, user_body
from generator.sync.plan import make_plan

COUNT = 1000


def _read(state: State) -> dict[str, dict]:
    """The tenant as plan reads it (GET /users/{id} and its phones: no passwords)."""
    actual = {}
    for user_id, user in state.users.items():
        detail = {k: v for k, v in user.items() if k not in SECRETS}
        phones = [{k: v for k, v in p.items() if k != "password"} for p in state.phones[user_id].values()]
        actual[user["name"]] = {"id": user_id, "detail": detail, "phones": phones}
    return actual


def _roster(tmp_path, adopted) -> dict[str, dict]:
    """The adopted users as a roster (JSON is YAML) with their secrets file, through the pipeline."""
    roster, secrets = tmp_path / "roster.yaml", tmp_path / "secrets.yaml"
    roster.write_text(json.dumps({"pbx_version": "v22", "users": [a.fields for a in adopted]}, ensure_ascii=False),
                      "utf-8")
    secrets.write_text(json.dumps({a.name: a.secrets for a in adopted if a.secrets}, ensure_ascii=False), "utf-8")
    resolved = run(roster, Options(secrets=secrets))
    assert not resolved.errors, [str(p) for p in resolved.errors[:5]]
    assert len(resolved.users) == len(adopted)
    return {user.name: user.fields for user in resolved.users}


def _noted(adopted) -> dict[str, set[str]]:
    return {a.name: {n.field for n in a.notes} for a in adopted}


def _top(field: str) -> str:
    """A plan change's field as adopt names it: the rule, the custom rule's hours, the phone's key."""
    found = re.match(r"(custom_forward_rules\[\d+\]\.hours|phones\[[^]]+\]\.[a-z_0-9]+|[a-z_0-9]+)", field)
    return found.group(1)


@pytest.fixture(scope="module", params=[False, True], ids=["varied", "bare"])
def tenant_read(request, tmp_path_factory):
    """The seeded tenant as plan reads it, each user adopted, and the adopted
    roster resolved by the pipeline (once per tenant: it is the slow part)."""
    state = State()
    seed(state, COUNT, seed=3, bare=request.param)
    actual = _read(state)
    adopted = [adopt(user["detail"], user["phones"]) for user in actual.values()]
    return actual, adopted, _roster(tmp_path_factory.mktemp("adopted"), adopted)


def test_an_adopted_tenant_plans_to_nothing_but_what_the_pbx_did_not_answer(tenant_read):
    """Every seeded user read back, resolved as plan resolves it: no change,
    except where the PBX answered nothing (the fake holds only what was
    sent) and the roster's built-in default fills it; each such one is said."""
    actual, adopted, wanted = tenant_read
    notes = _noted(adopted)
    plan = make_plan("fake", wanted, actual, set(), prune=True)
    assert not plan.left_alone and all(u.kind == "update" for u in plan.users)
    for user in plan.users:
        noted = notes[user.name]
        changes = [*user.changes, *(c for p in user.phones for c in p.changes)]
        assert all(p.kind == "update" for p in user.phones), user.name
        for change in changes:
            assert change.old is None and not change.secret, (user.name, change)
            assert _top(change.field) in noted, (user.name, change.field)
    unanswered = {a.name for a in adopted if any("did not answer" in n.message for n in a.notes)}
    assert {u.name for u in plan.users} <= unanswered


def _answered(actual: dict[str, dict], wanted_defaults: dict, phone_defaults: dict) -> dict[str, dict]:
    """The tenant as a real PBX answers it: every field there, its own default
    where nothing was set (PortSIP's defaults, which the built-in ones follow)."""
    out = {}
    for name, user in actual.items():
        detail = {**wanted_defaults, **user["detail"]}
        detail["custom_forward_rules"] = [
            {**r, "hours": r.get("hours") or {d: {"enabled": False, "ranges": []} for d in
                                              ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                               "sunday")}} for r in detail.get("custom_forward_rules") or []]
        phones = [{**phone_defaults, **p} for p in user["phones"]]
        out[name] = {**user, "detail": detail, "phones": phones}
    return out


def test_a_tenant_that_answers_every_field_plans_to_nothing(tenant_read, tmp_path):
    """The round trip proper: against a PBX that answers every field (as
    GET /users/{id} does on a real one), the adopted roster plans to nothing
    for every one of the 1,000 users, varied and bare alike; and adopting
    such a PBX has nothing to say of fields it did not answer."""
    actual, _, wanted = tenant_read
    answered = _answered(actual, *_builtin_answers(tmp_path))
    plan = make_plan("fake", wanted, answered, set(), prune=True)
    assert plan.empty and not plan.left_alone, [(u.name, u.changes[:3]) for u in plan.users[:3]]
    adopted = [adopt(user["detail"], user["phones"]) for user in answered.values()]
    assert not any("did not answer" in n.message for a in adopted for n in a.notes)


def _builtin_answers(tmp_path) -> tuple[dict, dict]:
    """What the roster's built-in defaults send for a user and a phone (PortSIP's defaults, which they follow)."""
    minimal = tmp_path / "minimal.yaml"
    minimal.write_text(json.dumps({"pbx_version": "v22", "users": [{
        "name": "x", "extension_number": "100", "email": "x@example.com", "display_name": "X", "password": GENERATE,
        "extension_password": GENERATE, "voicemail_pin": GENERATE,
        "phones": [{"mac": "00:00:00:00:00:01", "model": "m", "vendor": "v", "filename": "f", "password": GENERATE,
                    "timezone": "t"}]}]}), "utf-8")
    builtin = run(minimal, Options(redact=True)).users[0].fields
    user = {k: v for k, v in user_body(builtin).items()
            if k not in ("name", "extension_number", "email", "display_name", *SECRETS, "voicemail_pin")}
    phone = {k: v for k, v in phone_body(builtin["phones"][0]).items()
             if k not in ("mac", "model", "vendor", "filename", "password", "timezone")}
    return user, phone


def test_plan_and_apply_right_after_adoption_send_nothing(tmp_path):
    """The real commands against the fake PBX holding a seeded tenant (every
    field answered, as a real PBX does): plan says nothing to do, with the
    note that no secret of an existing user was compared; apply sends
    nothing at all, so no password, PIN or phone password is touched."""
    with FakeServer() as pbx:
        seed(pbx.state, 40, seed=8)
        answered = _answered(_read(pbx.state), *_builtin_answers(tmp_path))
        for user_id, user in pbx.state.users.items():
            user.update(answered[user["name"]]["detail"])
            for phone, filled in zip(pbx.state.phones[user_id].values(), answered[user["name"]]["phones"]):
                phone.update(filled)
        adopted = [adopt(u["detail"], u["phones"]) for u in _read(pbx.state).values()]
        roster = tmp_path / "roster.yaml"
        roster.write_text(json.dumps({"pbx_version": "v22", "users": [a.fields for a in extension_order(adopted)]},
                                     ensure_ascii=False), "utf-8")
        (tmp_path / "secrets.yaml").write_text(json.dumps({a.name: a.secrets for a in adopted}), "utf-8")
        login = ["--pbx", pbx.url, "--allow-http", "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"]]
        env = {"PORTSIP_PASSWORD": ACCOUNT["password"]}
        planned = run_module("plan", roster.name, "--exit-code", *login, cwd=tmp_path, env=env)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert "nothing to do" in planned.stdout
        assert "secrets of users already on the PBX not compared" in planned.stdout
        applied = run_module("apply", roster.name, "--yes", "--secrets", "secrets.yaml", *login, cwd=tmp_path, env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert pbx.state.writes() == []


def test_secrets_never_reach_the_fields(tenant_read):
    """The PBX here answers PINs and door passwords (to the secrets file, the
    roster says secrets_file) and no password (the roster generates them)."""
    actual, adopted, _ = tenant_read
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
    assert made.fields["phones"] == [{"mac": "80:5E:C0:00:00:01", "vendor": "Yealink", "password": FROM_FILE}]


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
    assert fields["phones"] == [{"mac": "0c383e000001", "password": GENERATE}]
    said = {n.field for n in made.notes}
    assert "phones[0c:38:3e:00:00:01].mac" in said  # written another way than the roster writes it
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


def test_notes_are_summarised_per_field_and_reason(tenant_read):
    """20,000 notes of a bare tenant are a screen: one line per field and
    reason, counted, a few users named, escaped."""
    _, adopted, _ = tenant_read
    notes = [n for a in adopted for n in a.notes]
    lines = summary(notes)
    assert len(lines) < 60 < len(notes)
    assert all(re.search(r"\(\d+ users?: ", line) for line in lines)
    hostile = adopt({"name": "eve", "extension_number": "101", "x\x1b[2J": 1}, []).notes
    said = [line for line in summary(hostile) if line.startswith("x")]
    assert said == ["x\\u001b[2J: the roster has no key for it; left out of the roster (1 user: eve)"]
