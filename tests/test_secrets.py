"""Where secrets come from, the policy they meet, and that they are never shown."""

from __future__ import annotations

import random

import pytest
from conftest import DEMO_KEY, ROOT, read_csv, run_module

from generator.model import MASK
from generator.policy import (
    DOOR_POLICY,
    PasswordPolicy,
    PinPolicy,
    Policy,
    account_words,
    digits_faults,
    password_faults,
)
from generator.secrets.derive import derive

ROSTER = """\
pbx_version: v22
defaults:
  email: "{{{{ name }}}}@example.com"
  password: {{generate: true}}
  extension_password: {{generate: true}}
  voicemail_pin: {{generate: true}}
  phone_defaults: {{vendor: Yealink, filename: y.xml, model: T, timezone: UTC, password: {{generate: true}}}}
users:
  - name: ann
    display_name: Ann Lee
    extension_number: "101"
    phones: [{{mac: "00:11:22:33:44:55"}}, {{mac: "00:11:22:33:44:66"}}]
  - name: bob
    display_name: Bob Ray
    extension_number: "102"
{extra}
"""


def rows(result) -> dict[str, dict[str, str]]:
    assert result.returncode == 0, result.stderr
    header, *body = read_csv(result.stdout)
    return {row[0]: dict(zip(header, row)) for row in body}


def generate(write_roster, extra: str = "", *args: str, env: dict | None = None):
    path = write_roster(ROSTER.format(extra=extra))
    return run_module("generate", path.name, *args, cwd=path.parent, env=env)


# ---- generated ------------------------------------------------------------------

def test_same_key_same_bytes_other_key_other_secrets(write_roster):
    first = generate(write_roster)
    again = generate(write_roster)
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout
    other = rows(generate(write_roster, env={"PORTSIP_ROSTER_KEY": "another-key-of-enough-length"}))
    mine = rows(first)
    for field in ("password", "extension_password", "voicemail_pin"):
        assert mine["ann"][field] != other["ann"][field]
        assert mine["ann"][field] != mine["bob"][field]


def test_rotate_changes_only_that_users_secrets(write_roster):
    before = rows(generate(write_roster))
    after = rows(generate(write_roster, "    rotate: 1"))
    assert after["ann"] == before["ann"]
    for field in ("password", "extension_password", "voicemail_pin"):
        assert after["bob"][field] != before["bob"][field]
    assert {k: v for k, v in after["bob"].items() if "pass" not in k and "pin" not in k} == \
        {k: v for k, v in before["bob"].items() if "pass" not in k and "pin" not in k}


def test_phone_password_follows_the_mac_not_the_position(write_roster, tmp_path):
    import json

    path = write_roster(ROSTER.format(extra=""))
    swapped = path.read_text().replace(
        '[{mac: "00:11:22:33:44:55"}, {mac: "00:11:22:33:44:66"}]',
        '[{mac: "00:11:22:33:44:66"}, {mac: "00:11:22:33:44:55"}]')
    (tmp_path / "swapped.yaml").write_text(swapped)
    phones = {}
    for name in ("roster.yaml", "swapped.yaml"):
        cell = rows(run_module("generate", name, cwd=tmp_path))["ann"]["phones"]
        phones[name] = {p["mac"]: p["password"] for p in json.loads(cell)}
    assert phones["roster.yaml"] == phones["swapped.yaml"]
    assert len(set(phones["roster.yaml"].values())) == 2


def test_key_file_overrides_the_environment(write_roster, tmp_path):
    (tmp_path / "tenant.key").write_text(DEMO_KEY + "\n")
    from_file = generate(write_roster, "", "--key-file", "tenant.key", env={"PORTSIP_ROSTER_KEY": "x" * 20})
    assert rows(from_file) == rows(generate(write_roster))


def test_roster_names_its_key_variable(write_roster):
    extra = ""
    path = write_roster("secrets: {key_env: ROSTER_SECRET_ACME}\n" + ROSTER.format(extra=extra))
    named = run_module("generate", path.name, cwd=path.parent,
                       env={"ROSTER_SECRET_ACME": DEMO_KEY, "PORTSIP_ROSTER_KEY": ""})
    assert rows(named) == rows(generate(write_roster))


def test_no_key_is_one_line_saying_how_many_and_how_to_fix_it(write_roster, tmp_path):
    result = generate(write_roster, "", "-o", "out.csv", env={"PORTSIP_ROSTER_KEY": ""})
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "no master key" in line]
    assert len(lines) == 1, result.stderr  # one cause, one line
    assert "secrets in all, the first shown here" in lines[0]
    assert "set the environment variable PORTSIP_ROSTER_KEY or pass --key-file" in lines[0]
    assert lines[0].endswith("[secret-missing]")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("key, message", [("too-short", "too short"), (None, "cannot read the key file")])
def test_bad_key_file_is_a_usage_error(write_roster, tmp_path, key, message):
    if key is not None:
        (tmp_path / "tenant.key").write_text(key)
    result = generate(write_roster, "", "--key-file", "tenant.key")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_keygen_gives_a_working_key(write_roster):
    made = run_module("keygen")
    assert made.returncode == 0
    key = made.stdout.strip()
    assert len(key) >= 32 and key != run_module("keygen").stdout.strip()
    assert generate(write_roster, env={"PORTSIP_ROSTER_KEY": key}).returncode == 0


# ---- env and secrets file --------------------------------------------------------

def test_validate_without_the_secrets_warns_once_per_cause(write_roster):
    path = write_roster(ROSTER.format(extra="    extension_password: {env: ROSTER_SECRET_BOB_SIP}"))
    result = run_module("validate", path.name, cwd=path.parent,
                        env={"PORTSIP_ROSTER_KEY": "", "ROSTER_SECRET_BOB_SIP": ""})
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert len(warnings) == 2, warnings  # no key; ROSTER_SECRET_BOB_SIP unset
    assert warnings[0].startswith("roster.yaml:4:13: warning: user ann: password: not checked: it is generated, "
                                  "but there is no master key")
    assert "secrets in all" in warnings[0]
    assert "warning: user bob: extension_password: not checked: environment variable ROSTER_SECRET_BOB_SIP is not set" \
           in warnings[1]
    with_key = run_module("generate", path.name, cwd=path.parent, env={"ROSTER_SECRET_BOB_SIP": ""})
    assert with_key.returncode == 1  # generate needs every secret


def test_env_reference(write_roster):
    extra = "    extension_password: {env: ROSTER_SECRET_BOB_SIP}"
    got = rows(generate(write_roster, extra, env={"ROSTER_SECRET_BOB_SIP": "Sip-Secret-42x"}))
    assert got["bob"]["extension_password"] == "Sip-Secret-42x"
    missing = generate(write_roster, extra, env={"ROSTER_SECRET_BOB_SIP": ""})
    assert missing.returncode == 1
    assert "user bob: extension_password: environment variable ROSTER_SECRET_BOB_SIP is not set" in missing.stderr


SECRETS = """\
bob:
  password: "Portal-Pass-77"
  voicemail_pin: 950372
ann:
  phones:
    00-11-22-33-44-66: {password: "phone-ui-1"}
"""


def test_secrets_file(write_roster, tmp_path):
    (tmp_path / "secrets.yaml").write_text(SECRETS)
    extra = "    password: {secrets_file: true}\n    voicemail_pin: {secrets_file: true}"
    got = rows(generate(write_roster, extra, "--secrets", "secrets.yaml"))
    assert got["bob"]["password"] == "Portal-Pass-77"
    assert got["bob"]["voicemail_pin"] == "950372"


def test_secrets_file_phone_entry_by_mac(write_roster, tmp_path):
    import json

    (tmp_path / "secrets.yaml").write_text(SECRETS)
    path = write_roster(ROSTER.format(extra="").replace(
        '{mac: "00:11:22:33:44:66"}', '{mac: "00:11:22:33:44:66", password: {secrets_file: true}}'))
    got = rows(run_module("generate", path.name, "--secrets", "secrets.yaml", cwd=tmp_path))
    assert json.loads(got["ann"]["phones"])[1]["password"] == "phone-ui-1"


def test_secrets_file_errors(write_roster, tmp_path):
    extra = "    password: {secrets_file: true}\n  - name: cy\n    display_name: Cy\n" \
            "    extension_number: '103'\n    password: {secrets_file: true}"
    without = generate(write_roster, extra)
    assert without.returncode == 1
    assert "user bob: password: it comes from the secrets file, but no --secrets FILE was given" in without.stderr
    (tmp_path / "secrets.yaml").write_text(SECRETS + "zed:\n  password: x\n  pasword: y\n")
    result = generate(write_roster, extra, "--secrets", "secrets.yaml")
    assert result.returncode == 1
    assert "user cy: password: the secrets file secrets.yaml has no entry for it" in result.stderr
    assert "secrets.yaml:9:3: user zed: pasword: not a secret field" in result.stderr
    assert "secrets.yaml:9:12" not in result.stderr  # at the key, not at the value
    assert "secrets.yaml:7:1: warning: user zed: in the secrets file but not in the roster" in result.stderr
    missing = generate(write_roster, extra, "--secrets", "nope.yaml")
    assert missing.returncode == 2 and "no secrets file at nope.yaml" in missing.stderr


# ---- policy ------------------------------------------------------------------------

POLICIES = [
    PasswordPolicy(),
    PasswordPolicy(min_length=8),
    PasswordPolicy(min_length=32, max_length=32),
    PasswordPolicy(min_length=6, max_length=6),
]


@pytest.mark.parametrize("rules", POLICIES, ids=lambda p: f"{p.min_length}-{p.max_length}")
def test_generated_passwords_always_meet_the_policy(rules):
    policy = Policy(rules, PinPolicy())
    rng = random.Random(7)
    seen = set()
    for i in range(2000):
        fields = {"name": f"user{rng.randrange(10**6)}", "extension_number": str(rng.randrange(100, 10**6)),
                  "email": f"u{i}@example.com"}
        value = derive(DEMO_KEY.encode(), fields["name"], "password", i % 3, "password", policy, fields)
        assert not password_faults(value, rules, account_words(fields)), value
        assert rules.min_length <= len(value) <= rules.max_length
        assert value[0].isalnum()
        seen.add(value)
    assert len(seen) > 1990  # derived, not constant


@pytest.mark.parametrize("length", [6, 8, 10])
def test_generated_pins_always_meet_the_policy(length):
    policy = Policy(PasswordPolicy(), PinPolicy(min_length=length, max_length=10))
    for i in range(3000):
        value = derive(DEMO_KEY.encode(), f"user{i}", "voicemail_pin", 0, "pin", policy, {})
        assert len(value) == length and not digits_faults(value, policy.voicemail_pin), value


def test_generated_door_and_phone_passwords_are_valid():
    policy = Policy(PasswordPolicy(), PinPolicy())
    for i in range(1000):
        door = derive(DEMO_KEY.encode(), f"u{i}", "phones[00:11].door_password1", 0, "door", policy, {})
        assert not digits_faults(door, DOOR_POLICY)
        phone = derive(DEMO_KEY.encode(), f"u{i}", "phones[00:11].password", 0, "phone", policy, {})
        assert not password_faults(phone, PasswordPolicy(), []) and phone[0].isalnum()


@pytest.mark.parametrize("password, fault", [
    ("Ab1!x", "must be at least 6 characters"),
    ("Ab1!" * 9, "must be at most 32 characters"),
    ("123456!!", "must contain a letter"),
    ("Abcdxyz!", "must contain a digit"),
    ("qwerty12", "must contain an upper-case letter or a special character"),
    ("Qwweee12", "must not repeat a character three times in a row (like aaa)"),
    ("Qxabcz12", "must not hold three sequential characters (like abc or 321)"),
    ("Qx3219z!", "must not hold three sequential characters (like abc or 321)"),
    ("Xann-77!", "must not contain the user's name, extension number or email name"),
    ("X101-77!", "must not contain the user's name, extension number or email name"),
    ("Wq7!pZm2", None),
])
def test_password_rules(password, fault):
    faults = password_faults(password, PasswordPolicy(), account_words({"name": "ann", "extension_number": "101"}))
    assert (fault in faults) if fault else faults == []


def test_policy_switches_rules_off():
    relaxed = PasswordPolicy(contains_special_letters=False, disable_sequential_characters=False,
                             disable_account_information=False)
    assert password_faults("ann12345", relaxed, ["ann"]) == []


@pytest.mark.parametrize("pin, fault", [
    ("12a456", "must be digits only"),
    ("40929", "must be 6-10 digits"),
    ("40929612345", "must be 6-10 digits"),
    ("409996", "must not repeat a digit three times in a row (like 111)"),
    ("409876", "must not hold three sequential digits (like 012 or 987)"),
])
def test_pin_rules(pin, fault):
    assert fault in digits_faults(pin, PinPolicy())


# ---- never shown -------------------------------------------------------------------

LEAKY = """\
pbx_version: v22
policy:
  password: {min_length: 12}
defaults:
  email: "{{ name }}@example.com"
users:
  - name: ann
    display_name: Ann Lee
    extension_number: "101"
    password: "TopSecret-9"
    extension_password: "aaaSecret-9x"
    voicemail_pin: "123456"
    phones: [{mac: "00:11:22:33:44:55", vendor: V, filename: f.xml, model: M, timezone: UTC,
              password: 12, door_password1: "4567"}]
"""
LEAKED = ("TopSecret-9", "aaaSecret-9x", "123456", "4567")


def test_policy_errors_never_quote_a_secret(write_roster):
    path = write_roster(LEAKY)
    result = run_module("validate", path.name, cwd=path.parent)
    assert result.returncode == 1
    assert "user ann: password: must be at least 12 characters" in result.stderr
    assert "user ann: extension_password: must not repeat a character" in result.stderr
    assert "user ann: voicemail_pin: must not hold three sequential digits" in result.stderr
    assert "door_password1" not in result.stderr  # 4-8 digits is all PortSIP asks of a door code
    for secret in LEAKED:
        assert secret not in result.stderr


def test_schema_errors_never_quote_a_secret(write_roster):
    path = write_roster(LEAKY.replace('"123456"', '"12a45"').replace('"4567"', '"9x"'))
    result = run_module("validate", path.name, cwd=path.parent)
    assert result.returncode == 1
    assert "user ann: voicemail_pin: must be 6-10 digits" in result.stderr
    assert "phones[0].door_password1: must be 4-8 digits" in result.stderr
    for secret in ("12a45", "9x"):
        assert secret not in result.stderr


def test_explain_masks_secrets_and_names_their_source(write_roster):
    path = write_roster(ROSTER.format(extra="    extension_password: {env: ROSTER_SECRET_BOB_SIP}"))
    result = run_module("explain", path.name, "bob", cwd=path.parent, env={"ROSTER_SECRET_BOB_SIP": "Sip-Secret-42x"})
    assert result.returncode == 0, result.stderr
    assert "Sip-Secret-42x" not in result.stdout
    line = next(x for x in result.stdout.splitlines() if x.startswith("extension_password"))
    assert MASK in line and "environment variable ROSTER_SECRET_BOB_SIP, as set in user" in line
    plain = rows(generate(write_roster))
    for secret in (plain["bob"]["password"], plain["bob"]["voicemail_pin"]):
        assert secret not in result.stdout


def test_explain_works_without_the_secrets(write_roster):
    path = write_roster(ROSTER.format(extra=""))
    result = run_module("explain", path.name, "bob", cwd=path.parent, env={"PORTSIP_ROSTER_KEY": ""})
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("password"))
    assert MASK in line and "generated from the master key, as set in defaults" in line


def test_template_cannot_read_a_secret(write_roster):
    path = write_roster(ROSTER.format(extra="").replace('"{{ name }}@example.com"', '"{{ password }}@example.com"'))
    result = run_module("validate", path.name, cwd=path.parent)
    assert result.returncode == 1
    assert "'password' is undefined" in result.stderr


def test_redact_masks_every_secret_and_nothing_else(write_roster):
    import json

    plain = rows(generate(write_roster))
    redacted = rows(generate(write_roster, "", "--redact"))
    for name, row in redacted.items():
        for column, cell in row.items():
            if column in ("password", "extension_password", "voicemail_pin"):
                assert cell == MASK
            elif column == "phones":
                phones, originals = json.loads(cell), json.loads(plain[name][column])
                for phone, original in zip(phones, originals):
                    assert phone.pop("password") == MASK
                    original.pop("password")
                    assert phone == original
            else:
                assert cell == plain[name][column]


def test_no_literal_secrets(write_roster):
    path = write_roster(LEAKY.replace("min_length: 12", "min_length: 6"))
    result = run_module("validate", "--no-literal-secrets", path.name, cwd=path.parent)
    assert result.returncode == 1
    flagged = [line for line in result.stderr.splitlines() if "a literal secret in the roster" in line]
    assert len(flagged) == 5  # password, extension_password, voicemail_pin, phone password, door password
    for secret in LEAKED:
        assert secret not in result.stderr


def test_no_literal_secrets_sees_every_layer(write_roster):
    text = ROSTER.format(extra="") + "phone_models:\n  T: {password: \"{{ phone.mac }}\"}\n" \
        "profiles:\n  p: {voicemail_pin: \"409296\"}\n"
    path = write_roster(text)
    result = run_module("validate", "--no-literal-secrets", path.name, cwd=path.parent)
    assert result.returncode == 1
    assert result.stderr.count("a literal secret in the roster") == 2


def test_example_holds_no_literal_secret():
    result = run_module("validate", "--no-literal-secrets", ROOT / "roster.example.yaml")
    assert result.returncode == 0, result.stderr


def test_fill_lets_each_resolved_user_go_and_users_alike_share_their_sources(tmp_path, monkeypatch):
    """A large roster is not held twice: fill empties the list it is given as
    it makes each filled copy, so no resolved user outlives it. Users whose
    secrets come from the same sources share one mapping of them, and the
    users with no stand-in one empty set (each frozenset() is 216 bytes)."""
    import weakref

    from generator.load import load_text
    from generator.policy import from_roster
    from generator.resolve import resolve
    from generator.secrets.fill import fill
    from generator.secrets.sources import secret_sources

    monkeypatch.setenv("PORTSIP_ROSTER_KEY", DEMO_KEY)
    more = "\n".join(f'  - {{name: u{n}, display_name: U {n}, extension_number: "2{n:02}", '
                     f'phones: [{{mac: "00:11:22:33:55:{n:02}"}}]}}' for n in range(3))
    document, problems = load_text(ROSTER.format(extra=more), "roster.yaml")
    resolved, problems = resolve(document)
    policy, _ = from_roster(document, "v22", 8)
    watched = [weakref.ref(user) for user in resolved]
    filled, problems = fill(resolved, secret_sources(document, None), policy)
    assert problems == [] and resolved == [] and all(ref() is None for ref in watched)
    assert [u.name for u in filled] == ["ann", "bob", "u0", "u1", "u2"]
    assert filled[2].secret_sources is filled[3].secret_sources is filled[4].secret_sources
    assert len({id(u.stand_ins) for u in filled}) == 1 and len({id(u.computed) for u in filled}) == 1


def test_a_key_file_that_is_not_text_is_refused_without_quoting_a_byte_of_it(write_roster, tmp_path):
    (tmp_path / "tenant.key").write_bytes(b"secret-\xe9-key-0123456789abcdef0123456789")
    result = generate(write_roster, "", "--key-file", "tenant.key")
    assert result.returncode == 2 and "is not UTF-8 text" in result.stderr
    assert "0xe9" not in result.stderr and "position" not in result.stderr
