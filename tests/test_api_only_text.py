"""A value that never reaches a CSV cell is no formula: API-only fields (an
E.164 mobile_phone) generate and plan, while text a cell holds keeps the rule."""

from __future__ import annotations

import json

from conftest import MINIMAL_USER, ROOT, run_module
from fakepbx import ACCOUNT, FakeServer

HEAD = "pbx_version: v22\nusers:\n"
E164 = '    mobile_phone: "+14155550100"\n    work_phone: "+44 20 7946 0958"\n    department: "-Ops"\n'


def _sync(pbx: FakeServer, roster, command: str, *args: str):
    login = ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--allow-http"]
    return run_module(command, roster.name, *args, *login, cwd=roster.parent,
                      env={"PORTSIP_PASSWORD": ACCOUNT["password"]})


def test_e164_numbers_in_api_only_fields_generate_and_plan(pbx, write_roster):
    roster = write_roster(HEAD + MINIMAL_USER + E164)
    generated = run_module("generate", roster.name, cwd=roster.parent)
    assert generated.returncode == 0, generated.stderr
    assert "+1415" not in generated.stdout  # the CSV has no place for it
    planned = _sync(pbx, roster, "plan", "--format", "json")
    assert planned.returncode == 0, planned.stderr
    (user,) = json.loads(planned.stdout)["users"]
    assert user["kind"] == "create" and "[formula]" not in planned.stderr
    applied = _sync(pbx, roster, "apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    (sent,) = pbx.state.users.values()
    assert (sent["mobile_phone"], sent["work_phone"]) == ("+14155550100", "+44 20 7946 0958")


def test_text_a_cell_holds_is_still_refused(pbx, write_roster):
    roster = write_roster(HEAD + MINIMAL_USER.replace("Jim Keeny", '"+cmd"') + E164)
    for result in (run_module("generate", roster.name, cwd=roster.parent), _sync(pbx, roster, "plan")):
        assert result.returncode == 1
        assert "display_name: starts with '+'" in result.stderr
        assert "--allow-formulas to generate or validate" in result.stderr  # plan has no such option
        assert result.stderr.count("[formula]") == 1
    assert pbx.state.requests == []


def _templates_with(tmp_path, column: str):
    """A copy of the v22 column set with `column` added before phones."""
    folder = tmp_path / "templates"
    folder.mkdir()
    column_set = (ROOT / "templates" / "v22.yaml").read_text("utf-8")
    (folder / "v22.yaml").write_text(column_set.replace("  - {name: phones,", f"  - {column}\n  - {{name: phones,"),
                                     "utf-8")
    return folder


def test_an_api_only_field_a_custom_cell_reads_keeps_the_rule(write_roster, tmp_path):
    folder = _templates_with(tmp_path, '{name: mobile, cell: "user.mobile_phone"}')
    roster = write_roster(HEAD + MINIMAL_USER + E164)
    result = run_module("generate", roster.name, "--templates", folder, cwd=roster.parent)
    assert result.returncode == 1
    assert "mobile_phone: starts with '+'" in result.stderr and result.stderr.count("[formula]") == 1


def test_a_cell_that_reads_the_whole_user_keeps_the_rule_for_every_field(write_roster, tmp_path):
    folder = _templates_with(tmp_path, '{name: all, cell: "user[\'department\']"}')
    roster = write_roster(HEAD + MINIMAL_USER + E164)
    result = run_module("generate", roster.name, "--templates", folder, cwd=roster.parent)
    assert result.returncode == 1 and result.stderr.count("[formula]") == 3, result.stderr
