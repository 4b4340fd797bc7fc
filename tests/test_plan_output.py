"""What plan and diff say, and how: the example roster planned whole, the same
bytes on every run, exit codes for scripts, notes where silence would
mislead, colour on a terminal, markdown a reviewer can read raw, and a PBX's
words never reaching the terminal raw (tests/fakepbx.py on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import MINIMAL_USER, ROOT, run_module, run_real
from fakepbx import ACCOUNT, FakeServer

ROSTER = (ROOT / "roster.example.yaml").read_text("utf-8")
ENV = {"PORTSIP_PASSWORD": ACCOUNT["password"]}
FORMATS = ("text", "markdown", "json")


@pytest.fixture
def pbx():
    with FakeServer() as server:
        yield server


@pytest.fixture
def roster(tmp_path) -> Path:
    path = tmp_path / "roster.yaml"
    path.write_text(ROSTER, "utf-8")
    return path


def login(pbx: FakeServer) -> list[str]:
    return ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"]]


def sync(pbx: FakeServer, *args: str, cwd: Path, env: dict | None = None):
    return run_module(*args, *login(pbx), cwd=cwd, env={**ENV, **(env or {})})


def pbx_user(pbx: FakeServer, name: str) -> dict:
    return next(u for u in pbx.state.users.values() if u["name"] == name)


# 1. the example roster plans and applies; online_busy goes as the API's busy rules

def test_the_whole_example_applies_with_its_busy_rules_sent_as_the_apis(pbx, roster):
    plans = {fmt: sync(pbx, "plan", roster.name, "--format", fmt, cwd=roster.parent) for fmt in FORMATS}
    for fmt, result in plans.items():
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("busy_office_hours_forward_rule and busy_non_office_hours_forward_rule") == 1, fmt
    assert any("online_busy_forward_rule is sent as" in n for n in json.loads(plans["json"].stdout)["notes"])
    applied = sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent)
    assert applied.returncode == 0, applied.stderr
    voicemail, to_maria = {"action": "FORWARD_TO_VOICEMAIL", "number": ""}, {"action": "FORWARD_TO_NUMBER",
                                                                             "number": "0101"}
    for name, rule in (("maria.lopez", voicemail), ("dr.anna.kim", to_maria)):  # the default; the clinician profile
        user = pbx_user(pbx, name)
        assert user["busy_office_hours_forward_rule"] == rule
        assert user["busy_non_office_hours_forward_rule"] == rule
    assert sync(pbx, "plan", roster.name, "--exit-code", cwd=roster.parent).returncode == 0


def test_a_rosters_own_busy_rule_wins_over_online_busy(pbx, tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("pbx_version: v22\nusers:\n" + MINIMAL_USER + "    online_busy_forward_rule: \"0102\"\n"
                    "    busy_non_office_hours_forward_rule: hangup\n", "utf-8")
    assert sync(pbx, "apply", path.name, "--yes", cwd=tmp_path).returncode == 0
    user = pbx_user(pbx, "jim1")
    assert user["busy_office_hours_forward_rule"] == {"action": "FORWARD_TO_NUMBER", "number": "0102"}
    assert user["busy_non_office_hours_forward_rule"]["action"] == "HANGUP"


def test_an_action_the_apis_rule_lacks_is_a_located_problem(pbx, tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("pbx_version: v22\nusers:\n" + MINIMAL_USER + "    lunch_office_hours_forward_rule: ring\n",
                    "utf-8")
    result = sync(pbx, "plan", path.name, cwd=tmp_path)
    assert result.returncode == 1 and pbx.state.requests == []
    assert "one.yaml:10:38: user jim1: lunch_office_hours_forward_rule: the v22 REST API's " \
           "lunch_office_hours_forward_rule has no action RING_ANYWAY" in result.stderr
    assert "[api-unsupported]" in result.stderr


# 2. the same roster and PBX give the same bytes, whatever the hash seed

def test_plan_is_the_same_bytes_under_any_hash_seed(pbx, tmp_path):
    roster = tmp_path / "one.yaml"
    roster.write_text("pbx_version: v22\nusers:\n" + MINIMAL_USER, "utf-8")  # a new user: its secrets are "set"
    seen: dict[str, set[str]] = {}
    for seed in ("1", "2", "3"):
        for fmt in ("text", "markdown"):
            out = roster.parent / f"plan-{seed}-{fmt}.json"
            done = run_real("plan", roster.name, "--format", fmt, "--out", out.name, *login(pbx), cwd=roster.parent,
                            env={**ENV, "PYTHONHASHSEED": seed})
            assert done.returncode == 0, done.stderr
            seen.setdefault(fmt, set()).add(done.stdout)
            seen.setdefault("json", set()).add(json.dumps({**json.loads(out.read_text("utf-8")), "pbx": ""}))
    assert {fmt: len(outputs) for fmt, outputs in seen.items()} == {"text": 1, "markdown": 1, "json": 1}


def test_diff_is_the_same_bytes_under_any_hash_seed(tmp_path):
    (tmp_path / "old.yaml").write_text(ROSTER, "utf-8")
    new = ROSTER.replace("Maria Lopez", "Maria López").replace("rotate: 1", "rotate: 2")
    (tmp_path / "new.yaml").write_text(new + "  - {name: kate.new, display_name: Kate, extension_number: \"0105\"}\n",
                                       "utf-8")
    for fmt in FORMATS:
        outputs = {run_real("diff", "old.yaml", "new.yaml", "--format", fmt, cwd=tmp_path,
                            env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
        assert len(outputs) == 1 and "kate" in outputs.pop(), fmt
