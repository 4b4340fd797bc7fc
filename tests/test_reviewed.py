"""What reviewers found trying the tool against the fake PBX, each held here:
outside numbers taken for extensions, updates that wait for a held-back
replace, the secrets apply needs, and the adoption of hostile PBX text."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HEAD, run_module, user
from fakepbx import ACCOUNT, FakeServer

import generator.sync.apply as apply_module

LONG = "1" * 64




def write(folder: Path, *users: str) -> str:
    text = HEAD + "".join(users)
    (folder / "roster.yaml").write_text(text, "utf-8")
    return text




@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(apply_module, "REMAKE_BACKOFF", (0.0, 0.0, 0.0), raising=False)


def sync(pbx: FakeServer, folder: Path, *args: str, env: dict | None = None):
    login = ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--rate", "1000",
             "--allow-http"]
    return run_module(*args, *login, cwd=folder, env={"PORTSIP_PASSWORD": ACCOUNT["password"], **(env or {})})


# ---- 1. one long extension does not make every outside number an extension ----------------------

OUTSIDE = "offline_office_hours_forward_rule: '004930117606'"


def test_an_outside_number_is_no_extension_beside_a_long_one(tmp_path):
    write(tmp_path, user("ann", "1001", OUTSIDE), user("bob", "10001", OUTSIDE), user("long", LONG),
          user("cat", "1002", OUTSIDE.replace("004930117606", "1999")),
          user("dan", "1003", OUTSIDE.replace("004930117606", "1999")))
    result = run_module("validate", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "004930117606" not in result.stderr
    # a number of an extension's length is still told, once for all the users naming it
    assert result.stderr.count("[target-unknown]") == 1
    assert "1999 is not an extension in this roster (also named in 1 more place)" in result.stderr


def test_a_replace_forwarding_outside_is_not_refused_beside_a_long_extension(pbx, tmp_path):
    pbx.state.add_user("ann", "1001")
    pbx.state.add_user("long", LONG)
    write(tmp_path, user("ann", "1901", OUTSIDE), user("long", LONG))
    planned = sync(pbx, tmp_path, "plan", "roster.yaml", "--allow-replace")
    assert planned.returncode == 0, planned.stderr
    assert "pbx-conflict" not in planned.stderr


# ---- 2. an update naming a held-back replace's new extension waits for it -------------------------

def test_users_naming_a_held_back_users_new_extension_are_held_back_too(pbx, tmp_path):
    for name, extension in (("ann", "1001"), ("cat", "1002"), ("dan", "1003"), ("eve", "1004")):
        pbx.state.add_user(name, extension)
    write(tmp_path, user("ann", "1901"), user("cat", "1002", "blfs: ['1901']"),
          user("dan", "1003", "offline_office_hours_forward_rule: '1901'"), user("eve", "1004", "blfs: ['1003']"))
    planned = sync(pbx, tmp_path, "plan", "roster.yaml")
    assert "waits for ann's replace" in planned.stdout and "pass --replace ann" in planned.stdout
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes")
    assert applied.returncode == 1 and "422" not in applied.stderr, applied.stderr
    assert "held back: user cat" in applied.stderr and "held back: user dan" in applied.stderr
    assert "held back: user eve" not in applied.stderr  # 1003 is on the PBX: eve's update goes on
    assert [u["extension_number"] for u in pbx.state.users.values() if u["name"] == "ann"] == ["1001"]
    done = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--replace", "ann", "--force")
    assert done.returncode == 0, done.stderr


# ---- 3. apply needs only the secrets it sends ---------------------------------------------------

def _from_file(folder: Path, *users: str) -> None:
    text = write(folder, *users).replace("voicemail_pin: {generate: true}", "voicemail_pin: {secrets_file: true}")
    (folder / "roster.yaml").write_text(text, "utf-8")


def test_apply_needs_no_secret_it_does_not_send(pbx, tmp_path):
    pbx.state.add_user("ann", "1001")
    pbx.state.add_user("bob", "1002")
    _from_file(tmp_path, user("ann", "1001", "email: ann.b@example.com"), user("bob", "1002"))
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--force")
    assert applied.returncode == 0, applied.stderr
    assert "secret-" not in applied.stderr


def test_a_new_users_secret_not_at_hand_is_a_plan_note_and_an_apply_refusal(pbx, tmp_path):
    pbx.state.add_user("ann", "1001")
    _from_file(tmp_path, user("ann", "1001"), user("new.one", "1002"), user("new.two", "1003"))
    planned = sync(pbx, tmp_path, "plan", "roster.yaml")
    assert planned.returncode == 0, planned.stderr
    assert "2 secrets this plan sends" in planned.stdout + planned.stderr and "apply will need them" in (
        planned.stdout + planned.stderr)
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes")
    assert applied.returncode == 1
    assert "user new.one: voicemail_pin:" in applied.stderr and "[secret-missing]" in applied.stderr
    assert "2 users in all" in applied.stderr and applied.stderr.count("[secret-missing]") == 1
    assert pbx.state.writes() == []
    (tmp_path / "secrets.yaml").write_text("new.one: {voicemail_pin: '730418'}\nnew.two: {voicemail_pin: '730419'}\n")
    done = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--secrets", "secrets.yaml")
    assert done.returncode == 0, done.stderr


# ---- 5. the PBX's text never becomes template text -----------------------------------------------

HOSTILE_DOMAIN = "{{ (range(3)|list|string) ~ 'x' * 5 }}.example"


@pytest.mark.parametrize("domain", [HOSTILE_DOMAIN, "{% if 1 %}a{% endif %}.example", "{#.example", "x}.example"])
def test_an_email_domain_with_template_syntax_makes_no_template(domain):
    from generator.compact import compact_roster
    from generator.pbx.portsip.adopt import adopt
    from generator.sandbox import is_template

    users = [adopt({"name": n, "extension_number": e, "email": f"{n}@{domain}"}, []).fields
             for n, e in (("ann", "101"), ("bob", "102"), ("cat", "103"))]
    roster = compact_roster(users, ["name", "display_name", "extension_number", "email"], "v22")
    assert not any(is_template(v) or "{" in str(v) for v in roster.get("defaults", {}).values()), roster["defaults"]
    kept = {u["name"]: u.get("email") for u in roster["users"]}
    assert kept == {n: f"{n}@{domain}" for n in ("ann", "bob", "cat")}  # kept on each user, never evaluated


def test_an_adopted_roster_with_a_hostile_domain_runs_no_template(tmp_path):
    from generator.compact import compact_roster
    from generator.yamlout import to_yaml

    users = [{"name": n, "display_name": n.title(), "extension_number": e, "email": f"{n}@{HOSTILE_DOMAIN}"}
             for n, e in (("ann", "101"), ("bob", "102"), ("cat", "103"))]
    roster = compact_roster(users, ["name", "display_name", "extension_number", "email"], "v22")
    text = to_yaml(roster, "")
    assert "xxxxx" not in text and "[0, 1, 2]" not in text and "defaults" not in text


# ---- 6. adoption leaves out every character a terminal or the read-back refuses ------------------

@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200f", "\u061c", "\u0085", "\u009b", "\u2028", "\u2029",
                                  "\ud800", "\x1b", "\x7f"])
def test_adoption_leaves_out_bidi_and_other_unprintable_characters(char):
    from generator.pbx.portsip.adopt import adopt

    made = adopt({"name": "ann", "extension_number": "101", "mobile_phone": f"{char}123",
                  "display_name": "Ann"}, [])
    assert "mobile_phone" not in made.fields and made.fields["display_name"] == "Ann"
    assert "mobile_phone" in {n.field for n in made.notes}


# ---- 7. adoption's notes are bounded --------------------------------------------------------------

def test_adoption_notes_cut_long_field_names_and_count_unknown_keys_past_a_cap():
    from generator.pbx.portsip.adopt import adopt
    from generator.sync.adopt import MAX_FIELDS, summary

    long_key = "k" * 5000
    made = adopt({"name": "eve", "extension_number": "101", long_key: 1,
                  **{f"unknown{i}": 1 for i in range(500)}}, [])
    lines = summary(made.notes)
    assert all(len(line) < 300 for line in lines), max(map(len, lines))
    assert any(line.startswith("k" * 64 + "... (5,000 characters): ") for line in lines)
    unknown = [line for line in lines if "the roster has no key for it" in line]
    assert len(unknown) == MAX_FIELDS + 1 and unknown[-1].startswith(f"{501 - MAX_FIELDS} more fields: ")
    assert all(len(str(note)) < 300 for note in made.notes)
