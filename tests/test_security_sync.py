"""Issue 16, items 5, 6, 9 and 11: what plan and apply write is guarded as
`generate -o` is, every command shows the roster's warnings, templates are
bounded however they are written, and two tracebacks are now errors. Each
test failed on the code before its fix."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import stat
import threading
from pathlib import Path

import pytest
from conftest import DEMO_KEY, MINIMAL_USER, ROOT, read_csv, run_module
from fakepbx import ACCOUNT, FakeServer

# The example without its online_busy rules, which the v22 API cannot express;
# its secrets are {generate: true}, so the master key (the demo key here) makes them.
ROSTER = "\n".join(line for line in (ROOT / "roster.example.yaml").read_text("utf-8").splitlines()
                   if "online_busy_forward_rule" not in line) + "\n"
SHARED = "defaults:\n  voicemail_prompt: en-US\n"
ENV = {"PORTSIP_PASSWORD": ACCOUNT["password"]}


@pytest.fixture
def roster(tmp_path) -> Path:
    """roster.yaml including shared.yaml, beside a secrets file, a key file
    and a password file (all owner-only, so that none is warned about)."""
    (tmp_path / "shared.yaml").write_text(SHARED, "utf-8")
    path = tmp_path / "roster.yaml"
    path.write_text("include: [shared.yaml]\n" + ROSTER, "utf-8")
    for name, text in (("s.yaml", "{}\n"), ("key.txt", "k" * 32 + "\n"), ("pw.txt", ACCOUNT["password"] + "\n")):
        (tmp_path / name).write_text(text, "utf-8")
        (tmp_path / name).chmod(0o600)
    return path


def sync(pbx: FakeServer, *args: str, cwd: Path, env: dict | None = None):
    login = ["--pbx", pbx.url, "--allow-http", "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"]]
    return run_module(*args, *login, cwd=cwd, env={**ENV, **(env or {})})


INPUTS = ["--secrets", "s.yaml", "--key-file", "key.txt", "--password-file", "pw.txt"]


# 5. plan --out and --log are checked as generate -o is, before any request
@pytest.mark.parametrize("target", ["roster.yaml", "shared.yaml", "s.yaml", "key.txt", "pw.txt"])
@pytest.mark.parametrize("option", ["--out", "--log"])
def test_plan_never_writes_an_input(pbx, roster, option, target):
    tmp_path = roster.parent
    before = (tmp_path / target).read_bytes()
    result = sync(pbx, "plan", roster.name, *INPUTS, option, target, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{target} is one of the inputs" in result.stderr
    assert (tmp_path / target).read_bytes() == before
    assert pbx.state.requests == []


def test_apply_never_logs_into_its_saved_plan(pbx, roster):
    tmp_path = roster.parent
    assert sync(pbx, "plan", roster.name, "--out", "plan.json", cwd=tmp_path).returncode == 0
    before, asked = (tmp_path / "plan.json").read_bytes(), len(pbx.state.requests)
    result = sync(pbx, "apply", roster.name, "--plan", "plan.json", "--yes", "--log", "plan.json", cwd=tmp_path)
    assert result.returncode == 2 and "plan.json is one of the inputs" in result.stderr
    assert (tmp_path / "plan.json").read_bytes() == before
    assert len(pbx.state.requests) == asked and pbx.state.writes() == []


def test_plan_out_and_log_are_not_one_file(pbx, roster):
    result = sync(pbx, "plan", roster.name, "--out", "x.json", "--log", "x.json", cwd=roster.parent)
    assert result.returncode == 2 and pbx.state.requests == []


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"]])
def test_the_log_is_never_written_through_a_link(pbx, roster, command):
    tmp_path = roster.parent
    (tmp_path / "elsewhere.txt").write_text("keep\n")
    (tmp_path / "run.log").symlink_to(tmp_path / "elsewhere.txt")
    result = sync(pbx, *command, roster.name, "--log", "run.log", cwd=tmp_path)
    assert result.returncode == 2 and "symbolic link" in result.stderr
    assert (tmp_path / "elsewhere.txt").read_text() == "keep\n"
    assert pbx.state.requests == []


def test_plan_out_into_a_missing_folder_is_bad_usage_before_any_request(pbx, roster):
    result = sync(pbx, "plan", roster.name, "--out", "nowhere/plan.json", cwd=roster.parent)
    assert result.returncode == 2 and "there is no folder nowhere" in result.stderr
    assert pbx.state.requests == []


def test_plan_out_or_log_as_a_folder_or_a_socket_is_refused(pbx, roster):
    tmp_path = roster.parent
    (tmp_path / "folder").mkdir()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "sock"))
    try:
        for option in ("--out", "--log"):
            for target in ("folder", "sock"):
                result = sync(pbx, "plan", roster.name, option, target, cwd=tmp_path)
                assert result.returncode == 2, (option, target, result.stderr)
    finally:
        listener.close()
    assert pbx.state.requests == []


def test_plan_out_to_a_fifo_is_written_in_place(pbx, roster):
    fifo = roster.parent / "plan.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = sync(pbx, "plan", roster.name, "--out", str(fifo), cwd=roster.parent)
    reader.join(10)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert got and json.loads(got[0])["fingerprint"]


def test_plan_out_and_log_to_a_device_leave_the_device(pbx, roster):
    # A device node of the test's own (the null device's numbers): the real
    # /dev/null is never at risk, even on code that would replace it.
    device = roster.parent / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    result = sync(pbx, "plan", roster.name, "--out", str(device), "--log", str(device), cwd=roster.parent)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(device.stat().st_mode)


# 6. the roster's warnings reach plan and apply (and diff and explain)
DEMO_KEY_WARNING = "the master key is the README's demo key"


def test_apply_warns_that_it_sends_passwords_of_the_demo_key(pbx, roster):
    result = sync(pbx, "apply", roster.name, "--yes", cwd=roster.parent, env={"PORTSIP_ROSTER_KEY": DEMO_KEY})
    assert result.returncode == 0, result.stderr
    assert DEMO_KEY_WARNING in result.stderr
    plan = sync(pbx, "plan", roster.name, cwd=roster.parent, env={"PORTSIP_ROSTER_KEY": DEMO_KEY})
    assert DEMO_KEY_WARNING in plan.stderr


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"]])
@pytest.mark.parametrize("file", ["key.txt", "pw.txt", "s.yaml"])
def test_plan_and_apply_warn_of_files_others_can_read(pbx, roster, command, file):
    (roster.parent / file).chmod(0o644)
    result = sync(pbx, *command, roster.name, *INPUTS, cwd=roster.parent, env={"PORTSIP_PASSWORD": ""})
    assert result.returncode == 0, result.stderr
    assert f"{file}:1:1: warning: " in result.stderr and f"chmod 600 {file}" in result.stderr
    assert [line for line in result.stderr.splitlines() if "chmod 600" in line] == [
        line for line in result.stderr.splitlines() if f"chmod 600 {file}" in line]


def test_plan_and_apply_are_quiet_on_owner_only_files(pbx, roster):
    for command in (["plan"], ["apply", "--yes"]):
        result = sync(pbx, *command, roster.name, *INPUTS, cwd=roster.parent, env={"PORTSIP_PASSWORD": ""})
        warnings = [line for line in result.stderr.splitlines() if "warning" in line and "--allow-http" not in line]
        assert result.returncode == 0 and not warnings, result.stderr


@pytest.mark.parametrize("command", [["diff", "old.yaml", "roster.yaml"], ["explain", "roster.yaml", "tom.baker"]])
def test_diff_and_explain_show_the_roster_warnings(roster, command):
    (roster.parent / "old.yaml").write_text(ROSTER, "utf-8")
    (roster.parent / "key.txt").chmod(0o644)
    result = run_module(*command, "--key-file", "key.txt", cwd=roster.parent)
    assert result.returncode == 0, result.stderr
    assert "key.txt:1:1: warning: the key file can be read by others" in result.stderr


# 11. tracebacks, now errors that name the place
@pytest.mark.parametrize("cell", ["[" * 900 + "]" * 900, '{"a":' * 900 + "1" + "}" * 900,
                                  '[{"mac": "00:11:22:33:44:55", "x": ' + "[" * 900 + "]" * 900 + "}]"])
@pytest.mark.parametrize("column", ["blfs", "office_hours", "phones"])
def test_import_of_a_deeply_nested_json_cell_names_its_place(tmp_path, column, cell):
    header, first, *rest = read_csv(run_module("generate", "roster.example.yaml").stdout_bytes.decode("utf-8"))
    first[header.index(column)] = cell
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, first, *rest])
    (tmp_path / "export.csv").write_text(out.getvalue(), encoding="utf-8")
    result = run_module("import", "export.csv", "-o", "roster.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert f"export.csv: warning: row 2: {column} nests more than 32 levels deep" in result.stderr
    assert cell not in (tmp_path / "roster.yaml").read_text("utf-8")
    again = run_module("diff", "export.csv", "export.csv", cwd=tmp_path)
    assert again.returncode == 0 and "no differences" in again.stdout



# 9. every template evaluation is bounded, loop or no loop, computed default or cell
def _templated(tmp_path: Path, template: str, users: int = 1) -> Path:
    people = "".join(MINIMAL_USER.replace("jim1", f"jim{n}").replace('"101"', f'"{100 + n}"')
                     for n in range(1, users + 1))
    path = tmp_path / "roster.yaml"
    path.write_text(f"pbx_version: v22\ndefaults:\n  custom_options: {template!r}\nusers:\n" + people, "utf-8")
    return path


# Each ran to the end before (seconds of work, or hundreds of MB held) and gave a
# value; none needs more than a million characters or items made in all.
GREEDY = [
    "{{ range(100000) | map('center', 99990) | map('length') | sum }}",
    "{{ (range(1) | batch(2000, 'a' * 99999) | list) | string | length }}",
    "{{ (['a' * 99999] * 2000) | string | length }}",
    "{{ ([0] * 100000) | map('d', range(100000) | batch(50000) | list, true) | list | length }}",
    "{{ range(300000) | select | select | select | select | list | length }}",
]


@pytest.mark.parametrize("template", GREEDY)
def test_a_greedy_template_without_a_loop_is_stopped(tmp_path, template):
    path = _templated(tmp_path, template)
    result = run_module("generate", path.name, cwd=tmp_path)
    assert result.returncode == 1 and "[computed-value]" in result.stderr
    # The work budget stops each of these well inside the time limit; on a
    # machine loaded enough, the time limit may come first: stopped either way.
    assert "characters or items in all" in result.stderr or "took longer than 2 s" in result.stderr


def test_an_exhausted_template_is_not_run_again_for_every_user(tmp_path):
    path = _templated(tmp_path, GREEDY[0], users=3)
    result = run_module("validate", path.name, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("(for an earlier user)") == 2, result.stderr


def test_a_greedy_cell_template_is_stopped(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    text = (ROOT / "templates" / "v22.yaml").read_text("utf-8")
    greedy = "user.name ~ (range(100000) | map('center', 99990) | map('length') | sum)"
    (folder / "v22.yaml").write_text(text.replace('cell: "user.name"}', f'cell: "{greedy}"}}'), "utf-8")
    path = _templated(tmp_path, "x")
    result = run_module("generate", path.name, "--templates", str(folder), cwd=tmp_path)
    assert result.returncode == 1 and "[cell-template]" in result.stderr
    assert "characters or items in all" in result.stderr


# 5, the same checks for every file written: generate and import too
def test_generate_never_writes_a_file_the_roster_includes(roster):
    before = (roster.parent / "shared.yaml").read_bytes()
    result = run_module("generate", roster.name, "-o", "shared.yaml", cwd=roster.parent)
    assert result.returncode == 2 and "shared.yaml is one of the inputs" in result.stderr
    assert (roster.parent / "shared.yaml").read_bytes() == before


@pytest.mark.parametrize("args", [["-o", "export.csv"], ["-o", "r.yaml", "--secrets-out", "export.csv"],
                                  ["-o", "r.yaml", "--secrets-out", "r.yaml"]])
def test_import_never_overwrites_its_export_even_with_force(tmp_path, args):
    export = tmp_path / "export.csv"
    export.write_bytes(run_module("generate", "roster.example.yaml").stdout_bytes)
    before = export.read_bytes()
    result = run_module("import", "export.csv", *args, "--force", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert export.read_bytes() == before
