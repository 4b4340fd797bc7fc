"""The seeded tenant (tests/tenant.py): deterministic, valid against the API's
create schemas, unique where the PBX needs it, and as varied as a real tenant."""

from __future__ import annotations

import json
import re
import urllib.request
from collections import Counter

import pytest
from fakepbx import ACCOUNT, API, FakeServer, State
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from tenant import DAYS, FORWARD_RULES, PHONES, held, seed, tenant

from generator.policy import PasswordPolicy, PinPolicy, account_words, digits_faults, password_faults

COUNT = 1000
DOCUMENT = "urn:portsip-v22-api"
REGISTRY = Registry().with_resource(DOCUMENT, Resource.from_contents(API, default_specification=DRAFT202012))
NAME = re.compile(r"(?![.])[A-Za-z0-9_'.-]{1,64}(?<![.])")  # the API's words for a name (create-user schema)
TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
NUMBER = re.compile(r"\+?[0-9]+")


def _body_schema(path: str) -> Draft202012Validator:
    """The request-body schema of POST `path`, its $refs resolved in the whole document."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    ref = f"{DOCUMENT}#/paths/{pointer}/post/requestBody/content/application~1json/schema"
    return Draft202012Validator({"$ref": ref}, registry=REGISTRY)


def _properties(path: str) -> set[str]:
    return set(API["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"])


@pytest.fixture(scope="module")
def seeded() -> list[tuple[dict, list[dict]]]:
    return tenant(COUNT, seed=3)


def test_the_same_seed_gives_the_same_tenant_and_another_seed_another():
    first, second = State(), State()
    seed(first, 200, seed=5)
    seed(second, 200, seed=5)
    assert first.users == second.users and first.phones == second.phones
    assert tenant(200, seed=5) != tenant(200, seed=6)


def test_seed_fills_the_state_as_creates_would(seeded):
    state = State()
    seed(state, COUNT, seed=3)
    assert len(state.users) == COUNT and set(state.phones) == set(state.users)
    for (body, phones), (user_id, user) in zip(seeded, state.users.items()):
        body, phones = held(body, phones)
        assert user == {"id": user_id, **body}
        assert [{k: v for k, v in p.items() if k != "id"} for p in state.phones[user_id].values()] == phones


@pytest.mark.parametrize("bare", [False, True])
def test_every_body_is_valid_against_the_api_create_schemas(bare):
    users, phones = _body_schema("/users"), _body_schema("/users/{id}/phones")
    user_keys, phone_keys = _properties("/users"), _properties("/users/{id}/phones")
    for body, user_phones in tenant(400, seed=11, bare=bare):
        assert not list(users.iter_errors(body)), body["name"]
        assert set(body) <= user_keys
        for phone in user_phones:
            assert not list(phones.iter_errors(phone)), phone["mac"]
            assert set(phone) <= phone_keys


def test_the_fake_pbx_takes_every_body_as_it_is():
    """Created through the API, a sample of the tenant is the tenant seeded
    (in seeding order, so a BLF may name a user made later: references are
    checked by the sync tests, not here)."""
    sample = tenant(60, seed=2)
    with FakeServer() as pbx:
        pbx.state.check_references = False
        token = _post(pbx.url + "/auth/sign_in", ACCOUNT, None)["access_token"]
        for body, phones in sample:
            user_id = _post(pbx.url + "/users", body, token)["id"]
            for phone in phones:
                _post(f"{pbx.url}/users/{user_id}/phones", phone, token)
        created = [({k: v for k, v in u.items() if k != "id"},
                    [{k: v for k, v in p.items() if k != "id"} for p in pbx.state.phones[u["id"]].values()])
                   for u in pbx.state.users.values()]
    assert created == sample


def _post(url: str, body: dict, token: str | None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_names_extensions_and_macs_are_unique(seeded):
    names = [body["name"].lower() for body, _ in seeded]
    extensions = [body["extension_number"] for body, _ in seeded]
    macs = [re.sub("[^0-9a-f]", "", p["mac"].lower()) for _, phones in seeded for p in phones]
    assert len(set(names)) == len(names) and len(set(extensions)) == len(extensions)
    assert len(set(macs)) == len(macs)


def test_values_keep_the_pbx_rules_the_schema_only_describes(seeded):
    reserved = {"admin", "system", "administrator", "root"}
    for body, phones in seeded:
        assert NAME.fullmatch(body["name"]) and body["name"].lower() not in reserved
        assert re.fullmatch(r"[0-9]{3,64}", body["extension_number"])
        assert len(body["display_name"]) <= 128  # PortSIP 22.6 keeps 128 (templates/v22.yaml)
        assert not password_faults(body["password"], PasswordPolicy(), account_words(body))
        assert not password_faults(body["extension_password"], PasswordPolicy(), account_words(body))
        assert not digits_faults(body["voicemail_pin"], PinPolicy())
        for week in [body.get("office_hours")] + [r.get("hours") for r in body.get("custom_forward_rules", [])]:
            _check_week(week)
        for name, rule in [(n, body[n]) for n in FORWARD_RULES if n in body] + \
                [("custom", r) for r in body.get("custom_forward_rules", [])]:
            assert rule["number"] == "" or NUMBER.fullmatch(rule["number"])
            assert bool(rule["number"]) == (rule["action"] == "FORWARD_TO_NUMBER") or \
                rule["action"] == "FORWARD_TO_VOICEMAIL"
            assert ("timeout" in rule) == name.endswith("_no_answer_forward_rule")
            assert 1 <= rule.get("timeout", 1) <= 3600
        for phone in phones:
            assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", phone["mac"])
            for key in ("door_password1", "door_password2"):
                assert key not in phone or re.fullmatch(r"[0-9]{4,8}", phone[key])


def _check_week(week: dict | None) -> None:
    if week is None:
        return
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
        ranges = [(r["from"], r["to"]) for r in week[day]["ranges"]]
        assert all(TIME.fullmatch(a) and TIME.fullmatch(b) and a < b for a, b in ranges)
        assert all(b <= c for (_, b), (c, _) in zip(ranges, ranges[1:]))  # in order, no overlap
        assert week[day]["enabled"] or not ranges


def test_every_forward_rule_and_action_appears(seeded):
    seen = {(name, body[name]["action"]) for body, _ in seeded for name in FORWARD_RULES if name in body}
    assert seen == {(name, action) for name, actions in FORWARD_RULES.items() for action in actions}
    custom = {(r["action"], r["type"]) for body, _ in seeded for r in body.get("custom_forward_rules", [])}
    assert len(custom) == 4 * 3
    extensions = {body["extension_number"] for body, _ in seeded}
    targets = [(body[n]["action"], body[n]["number"]) for body, _ in seeded for n in FORWARD_RULES if n in body]
    assert any(a == "FORWARD_TO_NUMBER" and n in extensions for a, n in targets)
    assert any(a == "FORWARD_TO_NUMBER" and n.startswith("+") for a, n in targets)
    assert any(a == "FORWARD_TO_NUMBER" and n.startswith("00") for a, n in targets)
    assert any(a == "FORWARD_TO_VOICEMAIL" and n in extensions for a, n in targets)


def test_office_hours_blfs_and_phones_vary(seeded):
    weeks = [body["office_hours"] for body, _ in seeded if "office_hours" in body]
    assert {w["mode"] for w in weeks} == {"GLOBAL", "CUSTOM"}
    days = [w[d] for w in weeks if w["mode"] == "CUSTOM" for d in w if d != "mode"]
    assert any(not d["enabled"] for d in days) and any(d["enabled"] and not d["ranges"] for d in days)
    assert max(len(d["ranges"]) for d in days) >= 3
    by_extension = {body["extension_number"]: body for body, _ in seeded}
    blfs = [(body, b) for body, _ in seeded for b in body.get("blfs", [])]
    assert blfs and all(b["value"] in by_extension and b["value"] != body["extension_number"] for body, b in blfs)
    vendors = Counter(p["vendor"] for _, phones in seeded for p in phones)
    assert set(vendors) == set(PHONES) >= {"Yealink", "Fanvil", "Grandstream", "Snom"}
    assert {len(phones) for _, phones in seeded} >= {0, 1, 2, 3}
    files = {(p["vendor"], p["filename"]) for _, phones in seeded for p in phones}
    assert ("Yealink", "yealinkT3x.ph.xml") in files and ("Fanvil", "fanvil.ph.xml") in files
    assert any("door_password1" in p for _, phones in seeded for p in phones)


def test_api_only_fields_and_odd_values_appear(seeded):
    bodies = [body for body, _ in seeded]
    assert any(b.get("mobile_phone", "").startswith("+") for b in bodies)
    for key in ("mobile_phone", "work_phone", "home_phone", "address", "department"):
        assert any(b.get(key) for b in bodies) and any(b.get(key) == "" for b in bodies)
        assert any(key not in b for b in bodies)
    assert any(b.get("outbound_caller_ids") for b in bodies)
    displays = [b["display_name"] for b in bodies]
    assert any(not d.isascii() for d in displays) and any("'" in d for d in displays)
    assert max(map(len, displays)) == 128 and max(len(b["name"]) for b in bodies) == 64
    assert max(len(b["email"]) for b in bodies) == 128 and max(len(b["extension_number"]) for b in bodies) == 64
    assert any(b["extension_number"].startswith("0") for b in bodies)
    names = [b["name"] for b in bodies]
    assert all(any(c in n for n in names) for c in ".-_'")
    assert any("blfs" not in b for b in bodies) and any(b.get("custom_options") for b in bodies)


def test_a_bare_tenant_holds_only_what_a_create_needs():
    required = {"name", "display_name", "password", "email", "role", "extension_number", "extension_password",
                "voicemail_pin"}
    bare = tenant(50, seed=1, bare=True)
    assert all(set(body) == required for body, _ in bare)
    assert {len(phones) for _, phones in bare} == {0, 1}


def test_a_seeded_user_holds_every_field_a_pbx_answers():
    """As a real PBX answers GET /users/{id}: every field of the create schema
    (its default where the body set none), a custom rule's seven days
    whatever its type, every phone field; the bare tenant too."""
    for bare in (False, True):
        state = State()
        seed(state, 120, seed=4, bare=bare)
        for user in state.users.values():
            assert _properties("/users") - {"phones"} <= set(user), user["name"]
            assert all(set(rule["hours"]) == set(DAYS) for rule in user["custom_forward_rules"])
            for phone in state.phones[user["id"]].values():
                assert _properties("/users/{id}/phones") - {"door_password1", "door_password2"} <= set(phone)
