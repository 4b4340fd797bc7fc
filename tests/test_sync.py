"""plan and apply against a stateful fake PBX on 127.0.0.1 (tests/fakepbx.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import MINIMAL_USER, ROOT, read_csv, run_module
from fakepbx import ACCOUNT, FakeServer, Fault

# The whole example: its online_busy rules are sent as the API's busy rules.
ROSTER = (ROOT / "roster.example.yaml").read_text("utf-8")
ENV = {"PORTSIP_PASSWORD": ACCOUNT["password"]}


def sync(pbx: FakeServer, *args: str, cwd: Path, env: dict | None = None):
    login = ["--pbx", pbx.url, "--allow-http", "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"]]
    return run_module(*args, *login, cwd=cwd, env={**ENV, **(env or {})})


def _secrets(roster: Path) -> list[str]:
    """Every password and PIN the roster gives, from its CSV."""
    header, *rows = read_csv(run_module("generate", roster.name, cwd=roster.parent).stdout)
    found = [row[header.index(k)] for row in rows for k in ("password", "extension_password", "voicemail_pin")]
    found += re.findall(r'"password":"([^"]+)"', "".join(row[header.index("phones")] for row in rows))
    return [s for s in found if s]


def test_plan_from_empty_shows_creates_and_writes_nothing(pbx, roster):
    result = sync(pbx, "plan", roster.name, cwd=roster.parent)
    assert result.returncode == 0, result.stderr
    assert "7 to create, 0 to update" in result.stdout
    assert "+ maria.lopez (extension 0101)" in result.stdout and "password: set" in result.stdout
    assert pbx.state.writes() == []


def test_apply_then_a_second_plan_is_empty(pbx, roster):
    applied = sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent)
    assert applied.returncode == 0, applied.stderr
    assert "applied: 7 users done, 0 failed" in applied.stderr
    assert len(pbx.state.users) == 7 and sum(len(p) for p in pbx.state.phones.values()) == 6
    again = sync(pbx, "plan", roster.name, "--exit-code", cwd=roster.parent)
    assert again.returncode == 0, again.stdout
    assert "nothing to do" in again.stdout


def test_updates_inside_json_values_and_phones(pbx, roster):
    assert sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent).returncode == 0
    text = ROSTER.replace("Maria Lopez", "Maria López")
    text = text.replace('{mac: "cc:5e:f8:41:b7:95", model: SIP-T32G}',
                        '{mac: "cc:5e:f8:41:b7:99", model: SIP-T32G}')  # tom: a new phone for the old one
    text = text.replace('{mac: "cc:5e:f8:41:b7:96", model: SIP-T32G}',
                        '{mac: "cc:5e:f8:41:b7:96", model: V62 Pro}')  # anna: the same MAC, another model
    text = text.replace('friday: "08:30-13:00"', 'friday: "08:30-14:00"')
    text = text.replace("model: V62 Pro, transfer: ATTENDED}", "model: V62 Pro, transfer: BLIND}")  # in place
    roster.write_text(text, "utf-8")
    # tom's old phone is deleted only with --prune; anna's phone replace only with --allow-replace
    plan = sync(pbx, "plan", roster.name, "--format", "json", "--prune", "--allow-replace", cwd=roster.parent)
    data = json.loads(plan.stdout)
    by_name = {u["name"]: u for u in data["users"]}
    fields = [c["field"] for c in by_name["maria.lopez"]["changes"]]
    assert "display_name" in fields and "office_hours.friday.ranges[0].to" in fields
    assert {p["kind"] for p in by_name["tom.baker"]["phones"]} == {"create", "delete"}
    assert [p["kind"] for p in by_name["dr.anna.kim"]["phones"]] == ["replace"]
    changed = by_name["hygiene.room"]["phones"]
    assert [p["kind"] for p in changed] == ["update"]
    assert changed[0]["changes"] == [{"field": "phones[0c:38:3e:63:fe:ea].transfer", "old": "ATTENDED", "new": "BLIND",
                                      "secret": False}]
    # A default changed: 6 of 7 users updated, past the 30% update threshold on purpose.
    applied = sync(pbx, "apply", roster.name, "--yes", "--max-updates", "100", "--prune", "--allow-replace",
                   cwd=roster.parent)
    assert applied.returncode == 0, applied.stderr
    assert sync(pbx, "plan", roster.name, "--exit-code", cwd=roster.parent).returncode == 0


def test_an_extension_change_is_a_replace(pbx, roster):
    assert sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent).returncode == 0
    roster.write_text(ROSTER.replace('extension_number: "0401"', 'extension_number: "0402"'), "utf-8")
    plan = sync(pbx, "plan", roster.name, cwd=roster.parent)
    assert "-/+ hygiene.room (extension 0402): replace, the API cannot change an extension number" in plan.stdout
    assert sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent).returncode == 1  # held back: not asked for
    assert sync(pbx, "apply", roster.name, "--yes", "--replace", "hygiene.room", cwd=roster.parent).returncode == 0
    assert sync(pbx, "plan", roster.name, "--exit-code", cwd=roster.parent).returncode == 0


def test_users_not_in_the_roster_are_left_alone_unless_pruned(pbx, roster, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(ROSTER.replace("name: sam.patel", "name: sam.leaver"), "utf-8")
    assert sync(pbx, "apply", other.name, "--yes", cwd=tmp_path).returncode == 0
    roster.write_text(ROSTER.replace('extension_number: "0301"', 'extension_number: "0399"'), "utf-8")
    plan = sync(pbx, "plan", roster.name, cwd=tmp_path)
    assert "left alone (on the PBX, not in the roster; --prune deletes them): sam.leaver" in plan.stdout
    assert sync(pbx, "apply", roster.name, "--yes", cwd=tmp_path).returncode == 0
    assert any(u["name"] == "sam.leaver" for u in pbx.state.users.values())
    pruned = sync(pbx, "apply", roster.name, "--yes", "--prune", cwd=tmp_path)
    assert pruned.returncode == 0 and "- sam.leaver" in pruned.stdout
    assert not any(u["name"] == "sam.leaver" for u in pbx.state.users.values())


def test_a_stale_saved_plan_is_refused(pbx, roster, tmp_path):
    assert sync(pbx, "plan", roster.name, "--out", "plan.json", cwd=tmp_path).returncode == 0
    other = tmp_path / "one.yaml"
    other.write_text("pbx_version: v22\nusers:\n" + MINIMAL_USER.replace('"101"', '"0999"'), "utf-8")
    # meanwhile, someone adds a user to the PBX
    assert sync(pbx, "apply", other.name, "--yes", cwd=tmp_path).returncode == 0
    writes = len(pbx.state.writes())
    stale = sync(pbx, "apply", roster.name, "--plan", "plan.json", "--yes", cwd=tmp_path)
    assert stale.returncode == 1 and "changed since this plan was made" in stale.stderr
    assert len(pbx.state.writes()) == writes
    assert sync(pbx, "plan", roster.name, "--out", "fresh.json", cwd=tmp_path).returncode == 0
    fresh = sync(pbx, "apply", roster.name, "--plan", "fresh.json", "--yes", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr


@pytest.mark.parametrize("faults", [
    [Fault("429", r"/users$", 2, "POST")],
    [Fault("503", r"/phones$", 2)],
    [Fault("drop", r"/users$", 1, "POST"), Fault("drop", r"/phones$", 1, "POST")],
    [Fault("expire", r"/users$", 1, "POST")],
    [Fault("429", ".*", 3), Fault("503", ".*", 3), Fault("expire", "phones", 1)],
], ids=["429", "503", "dropped", "expired-token", "all"])
def test_apply_converges_through_retryable_faults(pbx, roster, faults, quick_retries):
    pbx.state.faults = faults
    applied = sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent)
    assert applied.returncode == 0, applied.stderr
    assert all(f.times == 0 for f in faults), "every fault was met"
    assert sync(pbx, "plan", roster.name, "--exit-code", cwd=roster.parent).returncode == 0


def test_a_refused_user_does_not_stop_the_others_and_a_rerun_finishes(pbx, roster, tmp_path):
    pbx.state.refused_names = {"tom.baker"}
    log = tmp_path / "requests.log"
    first = sync(pbx, "apply", roster.name, "--yes", "--log", str(log), cwd=tmp_path)
    assert first.returncode == 1
    assert "failed: user tom.baker: create: 422: user tom.baker refused: the password ******** is too weak" \
        in first.stderr
    assert "applied: 6 users done, 1 failed" in first.stderr
    pbx.state.refused_names = set()
    second = sync(pbx, "apply", roster.name, "--yes", "--log", str(log), cwd=tmp_path)
    assert second.returncode == 0 and "1 to create, 0 to update" in second.stdout
    assert sync(pbx, "plan", roster.name, "--exit-code", cwd=tmp_path).returncode == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines and set(lines[0]) == {"time", "method", "path", "status", "user", "attempt", "ms"}


def test_no_secret_in_any_output_or_log(pbx, roster, tmp_path):
    log = tmp_path / "requests.log"
    outputs = []
    for args in (["plan"], ["plan", "--format", "markdown"], ["plan", "--format", "json", "--out", "p.json"],
                 ["apply", "--yes", "--log", str(log)], ["plan", "--format", "json"]):
        result = sync(pbx, args[0], roster.name, *args[1:], cwd=tmp_path)
        outputs += [result.stdout, result.stderr]
    outputs += [log.read_text(), (tmp_path / "p.json").read_text()]
    secrets = _secrets(roster) + [ACCOUNT["password"]]
    assert len(secrets) > 20
    sent = "".join(pbx.state.bodies)
    assert all(s in sent for s in secrets[:3]), "the secrets did reach the PBX"
    for text in outputs:
        for secret in secrets:
            assert secret not in text
    tokens = [r for r in pbx.state.tokens]
    assert tokens and not any(t in "".join(outputs) for t in tokens)


def test_a_roster_with_problems_never_reaches_the_pbx(pbx, roster):
    roster.write_text(ROSTER + "    dnd_office_hours_forward_rule: ring\n", "utf-8")  # the API's dnd rules cannot
    result = sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent)
    assert result.returncode == 1 and "[api-unsupported]" in result.stderr
    assert pbx.state.requests == []


def test_login_words(pbx, roster):
    assert sync(pbx, "plan", roster.name, cwd=roster.parent, env={"PORTSIP_PASSWORD": "wrong"}).returncode == 2
    no_password = run_module("plan", roster.name, "--pbx", pbx.url, "--allow-http", "--username", "admin",
                             cwd=roster.parent,
                             env={"PORTSIP_PASSWORD": ""})
    assert no_password.returncode == 2 and "PORTSIP_PASSWORD" in no_password.stderr
    assert run_module("plan", roster.name, "--password", "x", cwd=roster.parent).returncode == 2
    insecure = sync(pbx, "plan", roster.name, "--insecure", cwd=roster.parent)
    assert "warning: --insecure" in insecure.stderr
    apply_in_ci = sync(pbx, "apply", roster.name, cwd=roster.parent)
    assert apply_in_ci.returncode == 2 and "--yes" in apply_in_ci.stderr


def test_an_account_with_two_factor_auth_gets_a_clear_error(pbx, roster):
    result = run_module("plan", roster.name, "--pbx", pbx.url, "--allow-http", "--username", "two.factor",
                        cwd=roster.parent,
                        env=ENV)
    assert result.returncode == 2 and "two-factor authentication" in result.stderr


def test_a_hostile_pbx_cannot_drive_the_terminal_or_the_paths(pbx, roster):
    pbx.state.users["NzAw"] = {"id": "NzAw", "name": "evil\x1b]0;owned\x07", "extension_number": "0999",
                                 "display_name": "E"}
    pbx.state.phones["NzAw"] = {}
    plan = sync(pbx, "plan", roster.name, cwd=roster.parent)
    assert plan.returncode == 0 and "\x1b" not in plan.stdout and "evil\\u001b" in plan.stdout
    pbx.state.users["../../x"] = {"id": "../../x", "name": "bad.id", "extension_number": "0998",
                                    "display_name": "B"}
    bad = sync(pbx, "plan", roster.name, cwd=roster.parent)
    assert bad.returncode == 2 and "an id that is not one" in bad.stderr


def test_every_command_lets_its_connections_go(pbx, roster, monkeypatch, quick_retries):
    """plan, apply and import --pbx close the client they opened, a plan the
    PBX fails half-way included: no connection is left to the process's end."""
    from generator.pbx.portsip.client import Client

    opened, closed = [], []
    real_init, real_close = Client.__init__, Client.close
    monkeypatch.setattr(Client, "__init__", lambda self, *a, **k: (opened.append(self), real_init(self, *a, **k))[1])
    monkeypatch.setattr(Client, "close", lambda self: (closed.append(self), real_close(self))[1])
    assert sync(pbx, "plan", roster.name, cwd=roster.parent).returncode == 0
    assert sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent).returncode == 0
    adopted = sync(pbx, "import", "-o", "adopted.yaml", cwd=roster.parent)
    assert adopted.returncode == 0, adopted.stderr
    pbx.state.faults = [Fault("503", r"/phones$", 50)]
    assert sync(pbx, "plan", roster.name, cwd=roster.parent).returncode != 0
    assert len(opened) == 4 and closed == opened
