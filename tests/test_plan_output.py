"""What plan and diff say, and how: the example roster planned whole, the same
bytes on every run, exit codes for scripts, notes where silence would
mislead, colour on a terminal, markdown a reviewer can read raw, and a PBX's
words never reaching the terminal raw (tests/fakepbx.py on 127.0.0.1)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import MINIMAL_USER, ROOT, run_module, run_real
from fakepbx import ACCOUNT, FakeServer, Fault

ROSTER = (ROOT / "roster.example.yaml").read_text("utf-8")
ENV = {"PORTSIP_PASSWORD": ACCOUNT["password"]}
FORMATS = ("text", "markdown", "json")


def login(pbx: FakeServer) -> list[str]:
    """The fake's account, and no rate cap worth the name (the fake needs none)."""
    return ["--pbx", pbx.url, "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--rate", "1000",
            "--allow-http"]


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
    path.write_text("pbx_version: v22\nusers:\n" + MINIMAL_USER + "    online_busy_forward_rule: \"5550102\"\n"
                    "    busy_non_office_hours_forward_rule: hangup\n", "utf-8")
    assert sync(pbx, "apply", path.name, "--yes", cwd=tmp_path).returncode == 0
    user = pbx_user(pbx, "jim1")
    assert user["busy_office_hours_forward_rule"] == {"action": "FORWARD_TO_NUMBER", "number": "5550102"}
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
    for seed in ("1", "2"):  # two seeds order a set differently; a third finds nothing more
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


# 3. --exit-code as Terraform's -detailed-exitcode: 0 nothing to do, 2 changes, 1 any error

def test_plan_exit_code_tells_changes_from_errors(pbx, roster):
    assert sync(pbx, "plan", roster.name, "--exit-code", cwd=roster.parent).returncode == 2  # all to create
    assert sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent).returncode == 0
    assert sync(pbx, "plan", roster.name, "--exit-code", cwd=roster.parent).returncode == 0
    roster.write_text(ROSTER.replace('extension_number: "0101"', 'extension_number: "01x"'), "utf-8")
    assert sync(pbx, "plan", roster.name, "--exit-code", cwd=roster.parent).returncode == 1  # a bad roster
    assert sync(pbx, "plan", roster.name, cwd=roster.parent).returncode == 1
    for bad in (["--exit-code", "--no-such-option"], ["--exit-code", "--format", "yaml"]):
        assert sync(pbx, "plan", roster.name, *bad, cwd=roster.parent).returncode == 1, bad
        assert sync(pbx, "plan", roster.name, *bad[1:], cwd=roster.parent).returncode == 2, bad
    roster.write_text(ROSTER, "utf-8")
    no_pbx = run_module("plan", roster.name, "--exit-code", cwd=roster.parent, env={"PORTSIP_URL": ""})
    assert no_pbx.returncode == 1 and "which PBX?" in no_pbx.stderr
    assert "-detailed-exitcode" in run_module("plan", "-h").stdout


def test_diff_exit_code_tells_changes_from_errors(tmp_path):
    (tmp_path / "old.yaml").write_text(ROSTER, "utf-8")
    (tmp_path / "new.yaml").write_text(ROSTER.replace("Maria Lopez", "Maria López"), "utf-8")
    (tmp_path / "bad.yaml").write_text(ROSTER.replace('extension_number: "0101"', 'extension_number: "01x"'), "utf-8")

    def diff(*args: str) -> int:
        return run_module("diff", *args, cwd=tmp_path).returncode

    assert diff("old.yaml", "new.yaml", "--exit-code") == 2
    assert diff("old.yaml", "old.yaml", "--exit-code") == 0
    assert diff("old.yaml", "bad.yaml", "--exit-code") == 1
    assert diff("old.yaml", "--exit-code") == 1  # bad usage: no NEW and no --base
    assert diff("old.yaml", "--exit-code", "--no-such-option") == 1
    assert diff("old.yaml", "new.yaml") == 0 and diff("old.yaml") == 2
    assert "-detailed-exitcode" in run_module("diff", "-h").stdout


# 4. silence that misleads

def test_a_pending_rotation_without_base_says_secrets_were_not_compared(pbx, roster):
    assert sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent).returncode == 0
    roster.write_text(ROSTER.replace("rotate: 1", "rotate: 2"), "utf-8")
    for fmt in FORMATS:
        result = sync(pbx, "plan", roster.name, "--format", fmt, "--exit-code", cwd=roster.parent)
        assert result.returncode == 0, result.stderr
        # 7 users with 3 secrets each, 6 phones with a web password
        assert result.stdout.count("27 secrets of users already on the PBX not compared") == 1, fmt
        assert "--base REV" in result.stdout
    assert "see the notes" in sync(pbx, "plan", roster.name, cwd=roster.parent).stdout


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo), "PATH": "/usr/bin:/bin"})


def test_a_roster_new_since_the_base_is_all_additions(pbx, tmp_path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "commit", "-q", "--allow-empty", "-m", "start")
    (tmp_path / "rosters").mkdir()
    (tmp_path / "rosters" / "newsite.yaml").write_text(ROSTER, "utf-8")
    for fmt in FORMATS:
        result = run_module("diff", "--base", "HEAD", "rosters/newsite.yaml", "--format", fmt, "--exit-code",
                            cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "maria" in result.stdout and "exists on disk" not in result.stderr
    data = json.loads(run_module("diff", "--base", "HEAD", "rosters/newsite.yaml", "--format", "json",
                                 cwd=tmp_path).stdout)
    assert len(data["added"]) == 7 and data["removed"] == data["changed"] == [] and data["columns"]["added"] == []
    planned = sync(pbx, "plan", "rosters/newsite.yaml", "--base", "HEAD", cwd=tmp_path)
    assert planned.returncode == 0 and "7 to create" in planned.stdout, planned.stderr
    assert run_module("diff", "--base", "no-such-rev", "rosters/newsite.yaml", cwd=tmp_path).returncode == 2


def test_apply_says_what_it_did_in_a_syncs_words(pbx, tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("pbx_version: v22\nusers:\n" + MINIMAL_USER, "utf-8")
    applied = sync(pbx, "apply", path.name, "--yes", cwd=tmp_path)
    assert applied.returncode == 0 and "applied: 1 user done, 0 failed (" in applied.stderr
    path.write_text("pbx_version: v22\nusers:\n" + MINIMAL_USER.replace('"101"', '"1x"'), "utf-8")
    refused = sync(pbx, "apply", path.name, "--yes", cwd=tmp_path)
    assert refused.returncode == 1 and "nothing sent to the PBX" in refused.stderr
    assert "nothing written" not in refused.stderr


# 5. a plan a reviewer reads at a glance

def test_plan_colours_kinds_on_a_terminal_only(pbx, roster, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(ROSTER.replace("name: sam.patel", "name: sam.leaver").replace('"0301"', '"0399"'), "utf-8")
    assert sync(pbx, "apply", other.name, "--yes", cwd=tmp_path).returncode == 0
    roster.write_text(ROSTER.replace("Maria Lopez", "Maria López").replace('"0401"', '"0402"'), "utf-8")
    forced = sync(pbx, "plan", roster.name, "--prune", "--allow-replace", cwd=tmp_path, env={"FORCE_COLOR": "1"}).stdout
    for colour, head in (("32", "+ sam.patel"), ("33", "~ maria.lopez"), ("35", "-/+ hygiene.room"),
                         ("31", "- sam.leaver")):
        assert f"\x1b[{colour}m{head} (extension" in forced, head
    assert "\x1b" not in sync(pbx, "plan", roster.name, cwd=tmp_path, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert "\x1b" not in sync(pbx, "plan", roster.name, cwd=tmp_path).stdout  # piped
    for fmt in ("markdown", "json"):
        assert "\x1b" not in sync(pbx, "plan", roster.name, "--format", fmt, cwd=tmp_path,
                                  env={"FORCE_COLOR": "1"}).stdout
    diffed = run_module("diff", "other.yaml", "roster.yaml", cwd=tmp_path, env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[32m+ sam.patel  (extension" in diffed and "\x1b[31m- sam.leaver  (extension" in diffed
    assert "\x1b" not in run_module("diff", "other.yaml", "roster.yaml", cwd=tmp_path).stdout


def test_colour_follows_the_terminal_and_no_color():
    from generator.compare.formats import wants_colour

    class Terminal:
        def isatty(self) -> bool:
            return True

    assert wants_colour(Terminal(), {}) and not wants_colour(Terminal(), {"NO_COLOR": "1"})
    assert not wants_colour(Terminal(), {"TERM": "dumb"}) and wants_colour(Terminal(), {"NO_COLOR": ""})
    assert not wants_colour(object(), {}) and wants_colour(object(), {"FORCE_COLOR": "1"})
    for off in ("0", "false", "FALSE", ""):
        assert not wants_colour(object(), {"FORCE_COLOR": off}), off
    assert not wants_colour(Terminal(), {"FORCE_COLOR": "0"}) and wants_colour(Terminal(), {"FORCE_COLOR": ""})


def test_markdown_reads_as_text_and_escapes_only_markup(pbx, roster, tmp_path):
    planned = sync(pbx, "plan", roster.name, "--format", "markdown", cwd=roster.parent).stdout
    assert "- <code>+ maria.lopez (extension 0101)</code>" in planned
    assert "<code>phone 0c:38:3e:63:fe:e8: create</code>" in planned
    (tmp_path / "new.yaml").write_text(ROSTER.replace("Maria Lopez", "Maria López"), "utf-8")
    diffed = run_module("diff", "roster.yaml", "new.yaml", "--format", "markdown", cwd=tmp_path).stdout
    assert '<code>maria.lopez</code> (extension 0101)' in diffed
    assert '<code>"Maria Lopez"</code> → <code>"Maria López"</code>' in diffed


@pytest.mark.parametrize("value", ["[approve](https://evil.example/x)", "![i](x.png)", "@team", "<img src=x>",
                                   "*bold* _it_ ~~gone~~", "a | b", "`code`", "#12", "www.evil.example",
                                   "&amp;", "\\*", "$x$", "> quote", "  >> nested", "[x]: evil.example",
                                   "[a][b]", "[[a]](x)", "[a]: <x>"])
def test_markdown_lets_no_markup_through(value):
    from generator.compare.formats import md

    shown = md(value)
    left = re.sub(r"&#\d+;", "\x00", shown)  # what is not an entity reference (each kept as a place)
    assert not set(left) & set("<`*~|$&@#\\"), (value, left)
    assert not re.search(r"\][(\[:]", left) and not re.match(r"\s*[>\[]", left), (value, left)  # links, quotes
    assert "_i" not in left and "www." not in left
    assert md("quinn.hale_x 0c:38:3e:63:fe:e8 13:00") == "quinn.hale_x 0c:38:3e:63:fe:e8 13:00"


def test_markdown_reads_arrows_and_brackets_as_they_are():
    from generator.compare.formats import md

    assert md('display_name: "Ann" -> "Ann Lee"') == 'display_name: "Ann" -> "Ann Lee"'
    assert md("ranges[0].start: 1 -> 2") == "ranges[0].start: 1 -> 2"
    assert md("phones[0c:38:3e:00:00:01].model") == "phones[0c:38:3e:00:00:01].model"


# 6. the PBX's words never reach the terminal raw

HOSTILE = ["evil\x1b]0;owned\x07", "c1\x9b31m", "bidi\u202etxt.exe", "lrm\u200e", "lone\ud800",
           "x\nnothing to do: the PBX matches the roster", "nel\x85", "del\x7f", "ls\u2028"]
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u200e", "\ud800", "\x85", "\x7f", "\u2028")


def test_a_hostile_pbx_reaches_no_terminal_raw(pbx, roster):
    assert sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent).returncode == 0
    for n, name in enumerate(HOSTILE):  # users the roster does not name: left alone, or pruned
        key = f"SG9zdGlsZ{n}"
        pbx.state.users[key] = {"id": key, "name": name, "extension_number": f"09\x9b{n}", "display_name": name}
        pbx.state.phones[key] = {}
    maria = pbx_user(pbx, "maria.lopez")
    maria["display_name"] = "Maria\u202e\x1b[2J\ud800"  # an old value
    maria["blfs"] = [{"\x1b[31mkey\u202e\ud800": "x\x9b"}]  # a field name the PBX made up
    for fmt in FORMATS:
        for prune in ([], ["--prune", "--force"]):
            result = sync(pbx, "plan", roster.name, "--format", fmt, *prune, cwd=roster.parent)
            assert result.returncode == 0, result.stderr
            for raw in RAW:
                assert raw not in result.stdout, (fmt, prune, repr(raw))
            assert "nothing to do: the PBX matches the roster" not in result.stdout.splitlines()
            assert "\\u001b" in result.stdout and "\\ud800" in result.stdout and "\\u202e" in result.stdout
            if fmt == "json":
                data = json.loads(result.stdout)  # the escapes read back as the PBX's very words
                names = {u["name"] for u in data["users"]} | set(data["left_alone"])
                assert set(HOSTILE) <= names
    text = sync(pbx, "plan", roster.name, cwd=roster.parent).stdout
    assert "blfs[0].\\u001b[31mkey\\u202e\\ud800" in text and "Maria\\u202e\\u001b[2J\\ud800" in text


def test_a_pbxs_refusal_reaches_no_terminal_raw(pbx, tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("pbx_version: v22\nusers:\n" + MINIMAL_USER, "utf-8")
    pbx.state.faults = [Fault("refuse", r"/users$", 1, "POST", message="no\x1b]0;owned\x07 \u202eway\ud800\x9b")]
    failed = sync(pbx, "apply", path.name, "--yes", cwd=tmp_path)
    assert failed.returncode == 1 and "failed: user jim1: create: 422: no\\u001b]0;owned\\u0007" in failed.stderr
    assert not any(raw in failed.stderr for raw in RAW)
