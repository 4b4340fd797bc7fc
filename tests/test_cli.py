"""The real command, in subprocesses: exit codes, output, atomic writes."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import MINIMAL_USER, ROOT, installed_command, read_csv, run_module, run_real

GOOD = "pbx_version: v22\nusers:\n" + MINIMAL_USER
BAD = GOOD.replace('"409296"', '"111111"')


def test_generate_example_gives_32_columns_per_row():
    result = run_module("generate", "roster.example.yaml")
    assert result.returncode == 0, result.stderr
    rows = read_csv(result.stdout)
    assert len(rows) == 8
    assert all(len(row) == 32 for row in rows)


def test_same_roster_same_bytes(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for out, seed in ((first, "1"), (second, "2")):  # set and dict order must not leak in
        result = run_real("generate", "roster.example.yaml", "-o", out, env={"PYTHONHASHSEED": seed})
        assert result.returncode == 0
    assert first.read_bytes() == second.read_bytes()


def test_bad_roster_exits_1_and_leaves_file_untouched(write_roster, tmp_path):
    out = tmp_path / "users.csv"
    out.write_text("previous content")
    result = run_module("generate", write_roster(BAD), "-o", out)
    assert result.returncode == 1
    assert "voicemail_pin: must not repeat a digit" in result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_text() == "previous content"
    assert not list(tmp_path.glob(".users.csv.*"))


def test_output_is_owner_only(write_roster, tmp_path):
    out = tmp_path / "users.csv"
    assert run_module("generate", write_roster(GOOD), "-o", out).returncode == 0
    assert out.stat().st_mode & 0o077 == 0
    assert len(read_csv(out.read_text("utf-8"))[0]) == 32


def test_bom_option(write_roster):
    plain = run_module("generate", write_roster(GOOD))
    with_bom = run_module("generate", write_roster(GOOD), "--bom")
    assert not plain.stdout.startswith("\ufeff")
    assert with_bom.stdout == "\ufeff" + plain.stdout


def test_pbx_version_option_overrides_roster(write_roster):
    result = run_module("generate", write_roster(GOOD), "--pbx-version", "v16")
    assert result.returncode == 0, result.stderr
    assert len(read_csv(result.stdout)[0]) == 31


def test_usage_errors_exit_2(write_roster, tmp_path):
    assert run_module("generate", tmp_path / "missing.yaml").returncode == 2
    assert run_module("generate", write_roster(GOOD), "--pbx-version", "v99").returncode == 2
    assert run_module("generate", write_roster(GOOD), "--no-such-option").returncode == 2
    unversioned = write_roster(GOOD.replace("pbx_version: v22\n", ""), "plain.yaml")
    result = run_module("validate", unversioned)
    assert result.returncode == 2
    assert "pbx_version" in result.stderr


def test_validate_prints_every_problem_and_exits_1(write_roster):
    text = BAD + MINIMAL_USER.replace("jim1", "kate")
    result = run_module("validate", write_roster(text))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith(str(write_roster(text)) + ":9:20: user jim1: voicemail_pin")
               for line in lines), lines
    assert any(": user kate: extension_number: already used by user jim1" in line for line in lines), lines


def test_explain_shows_sources_and_hides_secrets():
    result = run_module("explain", "roster.example.yaml", "tom.baker")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    email = next(line for line in lines if line.startswith("email "))
    assert "tom.baker@brightsmile.example" in email and "computed in defaults (roster.example.yaml:" in email
    assert "profile front-desk" in next(line for line in lines if line.startswith("role "))
    assert "Hy3$mKd8rTq5" not in result.stdout
    assert run_module("explain", "roster.example.yaml", "nobody").returncode == 2


def test_schema_and_columns_commands():
    schema = json.loads(run_module("schema").stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    v16 = run_module("columns", "v16").stdout.split()
    v22 = run_module("columns", "v22").stdout.split()
    assert (len(v16), len(v22)) == (31, 32)
    assert v22.index("sms") == v22.index("delivery_outbound_cid") + 1


def test_custom_templates_add_a_column(write_roster, tmp_path):
    folder = tmp_path / "my-templates"
    folder.mkdir()
    column_set = (ROOT / "templates" / "v22.yaml").read_text("utf-8")
    column_set = column_set.replace(
        '  - {name: phones,',
        '  - {name: department,                        cell: "user.extra.department"}\n'
        '  - {name: phones,',
    )
    (folder / "v22.yaml").write_text(column_set, "utf-8")
    roster = write_roster(GOOD + "    extra: {department: Sales}\n")
    result = run_module("generate", roster, "--templates", folder)
    assert result.returncode == 0, result.stderr
    header, row = read_csv(result.stdout)
    assert header[-2:] == ["department", "phones"]
    assert row[-2] == "Sales"


def test_broken_custom_template_is_located(write_roster, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "v22.yaml").write_text("columns:\n  - {name: a, cell: 'user.name +'}\n"
                                     "  - {name: b, cell: 'user.name ), ( 1'}\n", "utf-8")
    result = run_module("generate", write_roster(GOOD), "--templates", folder)
    assert result.returncode == 1
    assert "v22.yaml:2:" in result.stderr and "v22.yaml:3:" in result.stderr
    assert "Traceback" not in result.stderr


def test_failing_custom_cell_is_located_per_user(write_roster, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    column_set = (ROOT / "templates" / "v22.yaml").read_text("utf-8")
    column_set = column_set.replace("  - {name: phones,", "  - {name: department, cell: user.extra.missing}\n"
                                    "  - {name: phones,")
    (folder / "v22.yaml").write_text(column_set, "utf-8")
    result = run_module("generate", write_roster(GOOD), "--templates", folder)
    assert result.returncode == 1
    assert "user jim1: department: cell template failed" in result.stderr, result.stderr


def test_installed_command_runs_outside_the_checkout(tmp_path):
    shutil.copy(ROOT / "roster.example.yaml", tmp_path / "roster.yaml")
    command = installed_command()
    version = subprocess.run([command, "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("portsip-roster ")
    result = subprocess.run([command, "generate", "roster.yaml", "-o", "users.csv"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_csv((tmp_path / "users.csv").read_text("utf-8"))
    assert len(rows) == 8 and all(len(r) == 32 for r in rows)


def test_explain_a_user_held_back_by_schema_problems(write_roster):
    result = run_module("explain", write_roster(GOOD + "    enabled: yes\n"), "jim1")
    assert result.returncode == 1
    assert "user jim1: enabled: must be true or false" in result.stderr


class _Told:
    """A Say (commands/sync.py) that keeps what a command tells, in order."""

    def __init__(self):
        self.told = []

    def problems(self, problems):
        self.told.append(("problems", list(problems)))

    def plan(self, made):
        self.told.append(("plan", made))


def test_diff_is_a_command_the_cli_only_calls(tmp_path):
    # the usage check, each warning once and the plan handed to the Say are commands/diff.py's, not the CLI's
    from generator.commands.diff import run_diff
    from generator.errors import UsageError
    from generator.pipeline import Options

    old = tmp_path / "roster.yaml"
    old.write_text((ROOT / "tests/cases/forward-target-warning/roster.yaml").read_text("utf-8"), "utf-8")
    new = tmp_path / "new.yaml"
    new.write_text(old.read_text("utf-8").replace("Jim Keeny", "Jim Keene"), "utf-8")
    say = _Told()
    assert run_diff(old, old, None, Options(), True, say) == 0
    (kind, warnings), (shown, plan) = say.told
    assert kind == "problems" and [p.code for p in warnings] == ["target-unknown"] * 2  # both sides warn: once
    assert shown == "plan" and plan.empty
    say = _Told()
    assert run_diff(old, new, None, Options(), True, say) == 2
    assert [c.field for c in say.told[1][1].users[0].changes] == ["display_name"]
    assert run_diff(old, new, None, Options(), False, _Told()) == 0
    with pytest.raises(UsageError, match="give OLD and NEW, or --base REV and one roster"):
        run_diff(old, new, "main", Options(), False, _Told())


def test_a_pbx_error_is_bad_usage_in_printable_words():
    from generator.commands.sync import pbx_errors_as_usage
    from generator.errors import UsageError
    from generator.pbx.base import PbxError

    def refused():
        raise PbxError(403, "no\x1b[31m entry", "/users")

    assert pbx_errors_as_usage(lambda: 7) == 7
    with pytest.raises(UsageError) as caught:
        pbx_errors_as_usage(refused)
    assert "\x1b" not in str(caught.value) and str(caught.value).startswith("the PBX: /users: 403: no")


def test_the_git_warning_for_a_file_of_secrets_is_worded_by_the_commands(tmp_path):
    from generator.commands.revision import left_to_git_warning

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    key = tmp_path / "acme.key"
    key.write_text("k\n")
    warning = left_to_git_warning(key, "the key")
    assert warning.startswith(f"warning: {key} is in a git work tree that does not ignore it") and "the key goes" \
        in warning
    (tmp_path / ".gitignore").write_text("*.key\n")
    assert left_to_git_warning(key, "the key") is None and left_to_git_warning(None, "the key") is None
