"""apply must never lose a user: conflicts refused before any write, replaces
only when asked, what a replace loses read and said, a replace that cannot
make its user again retried and reported in plain words, thresholds against
mass changes, and references between new users converging in one run.
Against the fake PBX (tests/fakepbx.py), which checks uniqueness and
references as a real PBX does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import HEAD, run_module, user
from fakepbx import ACCOUNT, FakeServer, Fault

import generator.sync.apply as apply_module
from generator.compare.plan import Plan
from generator.pbx.base import PbxError
from generator.pbx.portsip.client import Client, Login
from generator.sync.plan import SYNC

PHONE = '{mac: "%s", model: T31, vendor: Yealink, filename: y.xml, password: {generate: true}, timezone: GMT}'




WAREHOUSE = user("warehouse", "400", "phones:", "  - " + PHONE % "0c:38:3e:00:00:01")
KATE = user("kate", "0105")




@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(apply_module, "REMAKE_BACKOFF", (0.0, 0.0, 0.0), raising=False)


def sync(pbx: FakeServer, folder: Path, *args: str):
    login = ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--rate", "1000",
             "--allow-http"]
    return run_module(*args, *login, cwd=folder, env={"PORTSIP_PASSWORD": ACCOUNT["password"]})


def write(folder: Path, *users: str) -> str:
    text = HEAD + "".join(users)
    (folder / "roster.yaml").write_text(text, "utf-8")
    return text


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# ---- 1. a replace never leaves a user deleted by accident ----------------------------------------

@pytest.mark.parametrize("case", ["extension", "name", "mac", "queue"])
def test_what_another_pbx_user_has_is_refused_before_any_write(pbx, tmp_path, case):
    pbx.state.add_user("warehouse", "400", macs=("0c:38:3e:00:00:01",))
    pbx.state.add_user("front.desk", "0101", macs=("0c:38:3e:00:00:09",))  # made in the portal: left alone
    if case == "extension":  # warehouse 400 -> 0101: planned as a replace, which would delete warehouse first
        text = write(tmp_path, WAREHOUSE.replace('"400"', '"0101"'))
        where, field = line_of(text, '"0101"'), "extension_number"
    elif case == "name":
        text = write(tmp_path, WAREHOUSE, user("Front.Desk", "0500"))
        where, field = line_of(text, "name: Front.Desk"), "name"
    elif case == "mac":
        text = write(tmp_path, WAREHOUSE, user("kate", "0105", "phones:", "  - " + PHONE % "0C-38-3E-00-00-09"))
        where, field = line_of(text, "0C-38-3E-00-00-09"), "phones[0].mac"
    else:  # a replace onto a call queue's extension: the PBX would refuse the remake too
        pbx.state.add_group("queues", "Sales", "8000", [])
        text = write(tmp_path, WAREHOUSE.replace('"400"', '"8000"'))
        where, field = line_of(text, '"8000"'), "extension_number"
    planned = sync(pbx, tmp_path, "plan", "roster.yaml")
    assert planned.returncode == 1, planned.stdout
    assert f"roster.yaml:{where}:" in planned.stderr and f": {field}: " in planned.stderr
    holder = "call queue Sales (8000)" if case == "queue" else "front.desk (not in the roster, left alone)"
    assert holder in planned.stderr and "[pbx-conflict]" in planned.stderr
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--allow-replace")
    assert applied.returncode == 1 and "[pbx-conflict]" in applied.stderr
    assert pbx.state.writes() == []
    assert pbx.state.user_id("warehouse") is not None


def test_a_replace_is_held_back_unless_asked_for(pbx, tmp_path):
    dock = user("dock", "401")
    write(tmp_path, WAREHOUSE, dock)
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, WAREHOUSE.replace('"400"', '"0102"'), dock.replace('"401"', '"0103"'))
    before = len(pbx.state.writes())
    held = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes")
    assert held.returncode == 1
    assert "held back: a replace deletes the user" in held.stdout and "pass --replace warehouse" in held.stdout
    assert "held back: user warehouse: nothing sent" in held.stderr and "2 held back" in held.stderr
    assert len(pbx.state.writes()) == before
    one = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--replace", "warehouse")
    assert one.returncode == 1 and "held back: user dock" in one.stderr  # dock is still not asked for
    extensions = {u["name"]: u["extension_number"] for u in pbx.state.users.values()}
    assert extensions == {"warehouse": "0102", "dock": "401"}
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--allow-replace").returncode == 0
    assert {u["name"]: u["extension_number"] for u in pbx.state.users.values()}["dock"] == "0103"


def _tenant_with_memberships(pbx, tmp_path) -> tuple[str, str]:
    write(tmp_path, WAREHOUSE, KATE)
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    warehouse, kate = pbx.state.user_id("warehouse"), pbx.state.user_id("kate")
    pbx.state.add_group("queues", "Sales", "8000", ["400", "0105"])
    pbx.state.add_group("ring_groups", "Support", "8100", ["400"])
    greeting = {"id": "Zw", "enabled": True, "file_name": "hello.wav", "file_size": 1000}
    pbx.state.kept[warehouse] = {"greetings": [greeting, {**greeting, "id": "Zx"}],
                                 "speed_dial_8": [{"id": "Zy", "code": "2", "phone_number": "0105"}]}
    return warehouse, kate


def test_a_plan_reads_the_ring_groups_once_for_deletes_and_unknown_targets_alike(pbx, tmp_path):
    _tenant_with_memberships(pbx, tmp_path)
    pbx.state.requests.clear()
    write(tmp_path, WAREHOUSE, user("newbie", "0106", 'offline_office_hours_forward_rule: "8000"'))  # 8000: a queue
    planned = sync(pbx, tmp_path, "plan", "roster.yaml", "--prune", "--force")
    assert planned.returncode == 0, planned.stderr
    lists = [p.split("?")[0] for p in pbx.state.reads() if p.split("?")[0] in ("/api/ring_groups", "/api/call_queues")]
    assert sorted(lists) == ["/api/call_queues", "/api/ring_groups"], lists


def test_the_plan_says_what_a_replace_loses_reading_only_for_that_user(pbx, tmp_path):
    warehouse, kate = _tenant_with_memberships(pbx, tmp_path)
    pbx.state.requests.clear()
    write(tmp_path, WAREHOUSE, KATE.replace("kate", "kate", 1) + "    department: Front\n")  # an update only
    assert sync(pbx, tmp_path, "plan", "roster.yaml").returncode == 0
    assert not any("call_queues" in p or "ring_groups" in p for p in pbx.state.reads())  # no replace: no reads
    write(tmp_path, WAREHOUSE.replace('"400"', '"0102"'), KATE)
    plan = sync(pbx, tmp_path, "plan", "roster.yaml")
    assert plan.returncode == 0
    assert ("loses: member of call queue Sales (8000); member of ring group Support (8100); "
            "2 voicemail greetings; 1 speed dial; voicemail messages") in plan.stdout
    reads = pbx.state.reads()
    assert f"/api/users/{warehouse}/call_queues" in reads and f"/api/users/{warehouse}/greetings" in reads
    assert not any(p.startswith(f"/api/users/{kate}/") and not p.endswith(kate) for p in reads if "phones" not in p)
    data = json.loads(sync(pbx, tmp_path, "plan", "roster.yaml", "--format", "json").stdout)
    assert "member of call queue Sales (8000)" in data["users"][0]["loses"]
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--replace", "warehouse").returncode == 0
    queue = next(iter(pbx.state.queues.values()))
    assert queue["agents"] == ["0105"]  # the loss the plan named did happen


def test_a_replace_whose_create_fails_is_retried(pbx, tmp_path):
    _tenant_with_memberships(pbx, tmp_path)
    write(tmp_path, WAREHOUSE.replace('"400"', '"0102"'), KATE)
    pbx.state.faults.append(Fault("refuse", r"^/api/users$", times=2, method="POST"))
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--replace", "warehouse")
    assert applied.returncode == 0, applied.stderr
    assert sum(r[:2] == ("POST", "/api/users") for r in pbx.state.requests) == 2 + 2 + 1  # 2 made, 2 refused, 1
    assert {u["name"]: u["extension_number"] for u in pbx.state.users.values()}["warehouse"] == "0102"


def test_a_replace_that_cannot_make_its_user_again_says_the_user_is_gone(pbx, tmp_path):
    _tenant_with_memberships(pbx, tmp_path)
    write(tmp_path, WAREHOUSE.replace('"400"', '"0102"'), KATE)
    pbx.state.faults.append(Fault("refuse", r"^/api/users$", times=50, method="POST"))
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--replace", "warehouse")
    assert applied.returncode == 1
    assert "failed: user warehouse: replace: make the user again after its delete (4 tries): 422" in applied.stderr
    assert "LOST: user warehouse was deleted from the PBX and is NOT on it now" in applied.stderr
    assert "Gone with it: member of call queue Sales (8000); member of ring group Support (8100)" in applied.stderr
    assert "run `portsip-roster apply roster.yaml` again" in applied.stderr
    assert pbx.state.user_id("warehouse") is None
    pbx.state.faults.clear()
    again = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes")
    assert again.returncode == 0 and "+ warehouse (extension 0102)" in again.stdout


# ---- 2. thresholds against a mass change ------------------------------------------------------------

SEVEN = [user(f"u{n}", f"20{n}") for n in range(1, 8)]


def test_a_roster_cut_to_one_user_does_not_wipe_the_tenant(pbx, tmp_path):
    write(tmp_path, *SEVEN)
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, SEVEN[0])
    before = len(pbx.state.writes())
    planned = sync(pbx, tmp_path, "plan", "roster.yaml", "--prune")
    assert planned.returncode == 1 and "- u7 (extension 207)" in planned.stdout
    assert ("thresholds (share of the 7 users on the PBX): delete 6 (at most 2: 30%), replace 0 (at most 2: 30%), "
            "update 0 (at most 2: 30%): OVER for delete: apply refuses this plan without --force") in planned.stdout
    assert "past its thresholds (6 deletes where at most 2 may go, of 7 users" in planned.stderr
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--prune", "--yes")
    assert applied.returncode == 1 and "nothing was changed" in applied.stderr
    assert len(pbx.state.writes()) == before and len(pbx.state.users) == 7
    as_json = json.loads(sync(pbx, tmp_path, "plan", "roster.yaml", "--prune", "--format", "json").stdout)
    assert as_json["thresholds"]["delete"] == {"count": 6, "limit": 2, "percent": 30}
    assert as_json["thresholds"]["within"] is False
    markdown = sync(pbx, tmp_path, "plan", "roster.yaml", "--prune", "--format", "markdown").stdout
    assert "OVER for delete" in markdown
    forced = sync(pbx, tmp_path, "apply", "roster.yaml", "--prune", "--yes", "--force")
    assert forced.returncode == 0 and len(pbx.state.users) == 1


def test_thresholds_are_set_per_run(pbx, tmp_path):
    write(tmp_path, *SEVEN)
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, *SEVEN[:5])  # 2 of 7: within 30%
    within = sync(pbx, tmp_path, "plan", "roster.yaml", "--prune")
    assert within.returncode == 0 and ": within" in within.stdout
    assert sync(pbx, tmp_path, "plan", "roster.yaml", "--prune", "--max-deletes", "0").returncode == 1
    write(tmp_path, *SEVEN[:2])
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--prune", "--yes", "--max-deletes", "80").returncode == 0
    assert len(pbx.state.users) == 2


@pytest.mark.parametrize(("existing", "limit"), [(1, 1), (3, 1), (7, 2), (10, 3), (100, 30)])
def test_small_tenants_are_protected_too(existing, limit):
    plan = Plan(SYNC, pbx="pbx", existing=existing)
    assert plan.limit("delete") == limit


# ---- 3. references between new users ------------------------------------------------------------------

def test_new_users_referring_to_each_other_converge_in_one_run(pbx, tmp_path):
    write(tmp_path, user("quinn", "2103", 'blfs: ["2104"]', 'offline_office_hours_forward_rule: "2104"'),
          user("rita", "2104", 'blfs: ["2103"]', "custom_forward_rules:",
               '  - {action: FORWARD_TO_NUMBER, number: "2103", type: ALL_HOURS}'))
    applied = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes")
    assert applied.returncode == 0, applied.stderr
    users = {u["name"]: u for u in pbx.state.users.values()}
    assert [b["value"] for b in users["quinn"]["blfs"]] == ["2104"]
    assert users["quinn"]["offline_office_hours_forward_rule"]["number"] == "2104"
    assert users["rita"]["custom_forward_rules"][0]["number"] == "2103"
    again = sync(pbx, tmp_path, "plan", "roster.yaml", "--exit-code")
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_the_fake_pbx_refuses_what_a_real_one_would(pbx):
    pbx.state.add_user("front.desk", "0101", macs=("0c:38:3e:00:00:09",))
    pbx.state.add_group("queues", "Sales", "8000", [])
    client = Client(Login(pbx.url, ACCOUNT["username"], ACCOUNT["password"], ACCOUNT["domain"], allow_http=True))
    client.sign_in()
    base = {"display_name": "X", "password": "Pa55word!x", "email": "x@example.com", "role": "User",
            "extension_password": "Ext-Pa55!x", "voicemail_pin": "409296"}

    def status(body: dict, path: str = "/users") -> int:
        try:
            client.call("POST", path, body)
            return 200
        except PbxError as exc:
            return exc.status

    assert status({**base, "name": "FRONT.DESK", "extension_number": "0500"}) == 409
    assert status({**base, "name": "x1", "extension_number": "0101"}) == 409
    assert status({**base, "name": "x1", "extension_number": "8000"}) == 409  # a queue's
    assert status({**base, "name": "x1", "extension_number": "0501", "blfs": [{"key": "0599", "value": "0599"}]}) == 422
    rule = {"action": "FORWARD_TO_NUMBER", "number": "0599"}
    assert status({**base, "name": "x1", "extension_number": "0501", "busy_office_hours_forward_rule": rule}) == 422
    fine = {"blfs": [{"key": "8000", "value": "8000"}], "custom_forward_rules": [{**rule, "number": "+15555550142"}],
            "busy_office_hours_forward_rule": {**rule, "number": "0501"}}  # a queue, a number outside, itself
    assert status({**base, "name": "x1", "extension_number": "0501", **fine}) == 200
    x1 = pbx.state.user_id("x1")
    assert status({"blfs": [{"key": "0599", "value": "0599"}]}, f"/users/{x1}") == 422
    phone = {"mac": "0C-38-3E-00-00-09", "vendor": "Yealink", "model": "T31", "filename": "y.xml"}
    assert status(phone, f"/users/{x1}/phones") == 409  # the MAC of front.desk's phone, written otherwise


def test_a_replace_that_cannot_be_checked_against_queues_and_groups_is_refused(pbx, tmp_path, quick_retries):
    """A replace deletes first: if the call queues (or ring groups) cannot be
    read, its new extension may be one of theirs, the remake would be refused
    and the user lost. So nothing is sent (the queue read fails here)."""
    write(tmp_path, WAREHOUSE)
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, WAREHOUSE.replace('"400"', '"0102"'))
    pbx.state.faults = [Fault("503", r"/call_queues$", 50)]
    before = len(pbx.state.writes())
    refused = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--allow-replace")
    assert refused.returncode == 1 and "[pbx-conflict]" in refused.stderr, refused.stderr
    assert "cannot be checked against the PBX's call queues and ring groups" in refused.stderr
    assert len(pbx.state.writes()) == before and pbx.state.user_id("warehouse")


def test_a_phone_replace_whose_create_fails_says_the_phone_is_gone(pbx, tmp_path, quick_retries):
    write(tmp_path, WAREHOUSE)
    assert sync(pbx, tmp_path, "apply", "roster.yaml", "--yes").returncode == 0
    write(tmp_path, WAREHOUSE.replace("model: T31", "model: T33"))  # the API cannot change a model in place
    pbx.state.faults = [Fault("503", r"/phones$", 50, "POST")]
    failed = sync(pbx, tmp_path, "apply", "roster.yaml", "--yes", "--allow-replace")
    assert failed.returncode == 1
    assert "the phone was deleted and is NOT on the PBX now; run apply again to make it" in failed.stderr
