"""plan and apply through Prism, which checks every request the tool sends
and every answer the fake PBX gives against PortSIP's own OpenAPI document
(schemas/portsip-v22-api.json, the paths a sync uses, copied unchanged).

Prism runs in proxy mode with --errors: a violation either way becomes an
error answer, which fails the command and so the test. Started with npx
(`@stoplight/prism-cli` from npm); skipped without npx, except in CI (`CI`
set), where a missing npx is a failure.

One change to the document, for Prism only: the sign-in answer is a oneOf
of two object schemas with no required keys, so every answer matches both
and none can pass. Here each branch requires the key that tells it
(two_factor_enabled, access_token).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from conftest import ROOT, run_module
from fakepbx import ACCOUNT, FakeServer, State

PRISM = "@stoplight/prism-cli@5"
# All on one worker of a parallel run (pytest-xdist), so Prism starts once.
pytestmark = [pytest.mark.xdist_group("prism"), pytest.mark.slow]
ROSTER = (ROOT / "roster.example.yaml").read_text("utf-8")  # its online_busy rules go as the API's busy rules


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _document(tmp_path) -> str:
    data = json.loads((ROOT / "schemas" / "portsip-v22-api.json").read_text("utf-8"))
    answer = data["paths"]["/auth/sign_in"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    answer["oneOf"][0]["required"] = ["two_factor_enabled"]
    answer["oneOf"][1]["required"] = ["access_token"]
    path = tmp_path / "portsip-v22-api.json"
    path.write_text(json.dumps(data), "utf-8")
    return str(path)


def _start_prism(folder, pbx_url: str) -> tuple[subprocess.Popen, int]:
    """Prism in front of `pbx_url`, and its port. The port is free when
    chosen, but another process (another test worker) may take it before
    Prism binds it: then Prism never says it listens, and a new port is tried.
    Ready means Prism's own log line, not any answer on the port."""
    for attempt in range(3):
        port = _free_port()
        log_path = folder / f"prism-{attempt}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(["npx", "--yes", PRISM, "proxy", "--errors", "-h", "127.0.0.1", "-p",
                                        str(port), _document(folder), pbx_url], stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 240  # the first run downloads Prism
        while f"Prism is listening on http://127.0.0.1:{port}" not in log_path.read_text("utf-8", "replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        else:
            return process, port
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        if "EADDRINUSE" not in log_path.read_text("utf-8", "replace"):
            break
    pytest.fail(f"Prism did not start: {log_path.read_text('utf-8', 'replace')[-2000:]}")


@pytest.fixture(scope="module")
def prism(tmp_path_factory):
    """(the fake PBX, Prism's URL in front of it)."""
    if shutil.which("npx") is None:
        if os.environ.get("CI"):
            pytest.fail("npx is missing in CI: the Prism layer must run")
        pytest.skip("npx (Node.js) is not installed: the Prism contract layer cannot run")
    folder = tmp_path_factory.mktemp("prism")
    with FakeServer() as pbx:
        process, port = _start_prism(folder, pbx.url)
        try:
            yield pbx, f"http://127.0.0.1:{port}"
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


@pytest.fixture
def through(prism, tmp_path):
    pbx, url = prism
    pbx.state = State()  # a fresh tenant for each test

    def sync(*args: str):
        return run_module(*args, "--pbx", url, "--allow-http", "--username", ACCOUNT["username"],
                          "--domain", ACCOUNT["domain"],
                          cwd=tmp_path, env={"PORTSIP_PASSWORD": ACCOUNT["password"]})

    (tmp_path / "roster.yaml").write_text(ROSTER, "utf-8")
    return pbx, sync, tmp_path


def test_plan_apply_and_an_empty_plan_pass_the_contract(through):
    pbx, sync, _ = through
    plan = sync("plan", "roster.yaml")
    assert plan.returncode == 0, plan.stderr
    assert pbx.state.writes() == []
    applied = sync("apply", "roster.yaml", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert len(pbx.state.users) == 7
    assert sync("plan", "roster.yaml", "--exit-code").returncode == 0


def test_updates_phones_and_prune_pass_the_contract(through):
    pbx, sync, folder = through
    assert sync("apply", "roster.yaml", "--yes").returncode == 0
    text = ROSTER.replace("Maria Lopez", "Maria López").replace('friday: "08:30-13:00"', 'friday: "08:30-14:00"')
    text = text.replace('{mac: "cc:5e:f8:41:b7:96", model: SIP-T32G}', '{mac: "cc:5e:f8:41:b7:96", model: V62 Pro}')
    text = text.replace('{mac: "cc:5e:f8:41:b7:95", model: SIP-T32G}', '{mac: "cc:5e:f8:41:b7:99", model: SIP-T32G}')
    text = text.replace("name: sam.patel", "name: sam.new").replace('"0301"', '"0302"')
    (folder / "roster.yaml").write_text(text, "utf-8")
    applied = sync("apply", "roster.yaml", "--yes", "--prune", "--allow-replace", "--max-updates", "100")  # 6 of 7
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "- sam.patel" in applied.stdout and "+ sam.new" in applied.stdout
    assert sync("plan", "roster.yaml", "--exit-code", "--prune").returncode == 0


def test_a_refused_user_then_a_rerun_pass_the_contract(through):
    pbx, sync, _ = through
    pbx.state.refused_names = {"tom.baker"}
    first = sync("apply", "roster.yaml", "--yes")
    assert first.returncode == 1 and "failed: user tom.baker" in first.stderr
    pbx.state.refused_names = set()
    assert sync("apply", "roster.yaml", "--yes").returncode == 0
    assert sync("plan", "roster.yaml", "--exit-code").returncode == 0


def test_what_a_replace_loses_is_read_within_the_contract(through):
    pbx, sync, folder = through
    assert sync("apply", "roster.yaml", "--yes").returncode == 0
    hygiene = pbx.state.user_id("hygiene.room")
    pbx.state.add_group("queues", "Recall", "8000", ["0401", "0101"])
    pbx.state.add_group("ring_groups", "Front", "8100", ["0401"])
    pbx.state.kept[hygiene] = {"greetings": [{"id": "Zw", "enabled": True, "file_name": "hi.wav", "file_size": 10}],
                               "holidays": [{"id": "Zx", "name": "Summer", "every_year": True}],
                               "speed_dial_100": [{"id": "Zy", "code": "01", "phone_number": "0101"}]}
    (folder / "roster.yaml").write_text(ROSTER.replace('"0401"', '"0402"'), "utf-8")
    plan = sync("plan", "roster.yaml")
    assert plan.returncode == 0, plan.stderr
    assert "loses: member of call queue Recall (8000); member of ring group Front (8100); 1 voicemail greeting; " \
           "1 personal holiday; 1 speed dial" in plan.stdout
