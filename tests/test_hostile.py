"""Hostile and broken input: each gets a clear, located error, quickly and in
bounded memory, and never a traceback or a partial file.

Each run has a budget (a timeout and an address-space limit) so that a
regression fails here instead of hanging CI; the times themselves are
measured by benchmarks/, not asserted.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DEMO_KEY, ROOT, read_csv

BUDGET_SECONDS = 20  # a hang, not a slow run: the clear error comes in well under a second
BUDGET_BYTES = 2 * 1024**3


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (BUDGET_BYTES, BUDGET_BYTES))


def run_limited(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PORTSIP_ROSTER_KEY": DEMO_KEY}
    return subprocess.run([sys.executable, "-m", "generator", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=BUDGET_SECONDS, preexec_fn=_limits)


BOMB = "pbx_version: v22\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9)
) + "users: *j\n"

HOSTILE = {
    "alias-bomb": (BOMB.encode(), "roster.yaml:6:32: aliases expand to far more data than the file holds"),
    "deep-nesting": (b"users: " + b"[" * 200 + b"]" * 200 + b"\n", "roster.yaml:1:72: nested more than 64 levels deep"),
    "very-deep-nesting": (b"users: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nesting depth"),  # libyaml's limit
    "deep-block-nesting": ("".join(f"{'  ' * i}k{i}:\n" for i in range(500)).encode() + b"  " * 500 + b"x\n",
                           "nested more than 64 levels deep"),
    "huge-scalar": (b"pbx_version: v22\nusers:\n  - name: " + b"x" * 20_000_000 + b"\n",
                    "roster.yaml:3:11: a value of 20,000,000 characters: far longer than any field takes"),
    "not-utf8": (b"pbx_version: v22\nusers:\n  - name: caf\xe9\n",
                 "roster.yaml:3:14: the file is not UTF-8 (byte 0xe9)"),
    "control-character": (b"pbx_version: v22\nusers:\n  - name: a\x01b\n",
                          "roster.yaml:3:12: YAML syntax: unacceptable character #x0001"),
    "empty": (b"", "roster.yaml:1:1: the roster is empty"),
    "a-list": (b"- name: jim\n", "roster.yaml:1:1: the roster must be a mapping"),
    "a-string": (b"just some text\n", "roster.yaml:1:1: the roster must be a mapping"),
    "two-documents": (b"users: []\n---\nusers: []\n", "more than one YAML document"),
    "unknown-alias": (b"users: *nothing\n", "alias *nothing names no anchor"),
    "python-tag": (b"pbx_version: !!python/object:os.system echo\nusers: []\n", "unsupported YAML tag"),
}


# Those that could eat memory or time run in a process of their own, under
# limits; the rest in this one (a traceback there fails the test as well).
BOUNDED = {"alias-bomb", "deep-nesting", "very-deep-nesting", "deep-block-nesting", "huge-scalar"}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_roster_gets_a_clear_error(tmp_path, name):
    from conftest import run_module

    content, message = HOSTILE[name]
    (tmp_path / "roster.yaml").write_bytes(content)
    (tmp_path / "users.csv").write_text("previous content")
    args = ("generate", "roster.yaml", "-o", "users.csv")
    result = run_limited(*args, cwd=tmp_path) if name in BOUNDED else \
        run_module(*args, cwd=tmp_path, env={"PORTSIP_ROSTER_KEY": DEMO_KEY})
    assert result.returncode == 1, result.stderr[-2000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < 2000  # one clear line, not the megabytes that caused it
    assert (tmp_path / "users.csv").read_text() == "previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roster.yaml", "users.csv"]


def test_templates_run_in_the_sandbox(write_roster):
    from conftest import MINIMAL_USER, run_module

    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    path = write_roster(f'pbx_version: v22\ndefaults:\n  display_name: "{escape}"\nusers:\n{MINIMAL_USER}'
                        .replace("    display_name: Jim Keeny\n", ""))
    result = run_module("validate", path.name, cwd=path.parent)
    assert result.returncode == 1
    assert "roster.yaml:3:17: user jim1: display_name: computed value" in result.stderr
    assert "unsafe" in result.stderr and "Traceback" not in result.stderr


def test_roster_values_are_never_templates(write_roster):
    from conftest import MINIMAL_USER, run_module

    path = write_roster("pbx_version: v22\nusers:\n" + MINIMAL_USER.replace("Jim Keeny", '"{{ 7 * 7 }}"'))
    result = run_module("generate", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert read_csv(result.stdout)[1][6] == "{{ 7 * 7 }}"


# ---- interrupted runs ----------------------------------------------------------------

def big_roster(count: int) -> str:
    lines = ["pbx_version: v22", "defaults:", '  email: "{{ name }}@example.com"',
             "  password: {generate: true}", "  extension_password: {generate: true}",
             "  voicemail_pin: {generate: true}", "users:"]
    for i in range(count):
        lines.append(f'  - {{name: user{i}, display_name: User {i}, extension_number: "{100000 + i}"}}')
    return "\n".join(lines) + "\n"


def _writing(pid: int, folder: Path) -> bool:
    """Whether the process holds a file open in `folder` (the CSV being written)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        targets = [os.readlink(fd) for fd in fds.iterdir()]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return any(target.startswith(str(folder) + "/") and "roster.yaml" not in target for target in targets)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the write start")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_killed_mid_write_leaves_the_old_file(tmp_path, how):
    (tmp_path / "roster.yaml").write_text(big_roster(6000))
    (tmp_path / "users.csv").write_text("previous content")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PORTSIP_ROSTER_KEY": DEMO_KEY}
    # SIGINT as a terminal gives it: a run started in the background (nohup,
    # `&` in a script) inherits SIGINT ignored, and Python keeps it ignored.
    child = subprocess.Popen([sys.executable, "-m", "generator", "generate", "roster.yaml", "-o", "users.csv"],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not _writing(child.pid, tmp_path):
        assert child.poll() is None, "the run ended before it was caught writing"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    child.send_signal(how)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode in (-signal.SIGKILL, 130), stderr
    assert "Traceback" not in stderr
    assert (tmp_path / "users.csv").read_text() == "previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roster.yaml", "users.csv"]


@pytest.mark.slow
def test_a_finished_run_replaces_the_file_whole(tmp_path):
    (tmp_path / "roster.yaml").write_text(big_roster(3000))
    (tmp_path / "users.csv").write_text("previous content")
    result = run_limited("generate", "roster.yaml", "-o", "users.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_csv((tmp_path / "users.csv").read_text())
    assert len(rows) == 3001 and rows[-1][0] == "user2999"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roster.yaml", "users.csv"]


@pytest.mark.slow
def test_the_template_timer_never_outlives_the_run():
    """Python puts SIGALRM back to "end the process" while it shuts down; a
    template timer still pending then killed a run that had ended well (or by
    Ctrl-C) with SIGALRM (exit -14). Here an exit handler registered first,
    so run last, stands for that late part of shutting down."""
    code = ("import atexit, signal, time\n"
            "from generator import sandbox\n"
            "sandbox.SECONDS = 0.3\n"  # a shorter timer: the same race, a second sooner
            "late = lambda: (signal.signal(signal.SIGALRM, signal.SIG_DFL), time.sleep(sandbox.SECONDS + 0.5))\n"
            "atexit.register(late)\n"
            "sandbox.end(sandbox.begin())\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, (done.returncode, done.stderr)
