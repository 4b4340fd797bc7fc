"""Shared helpers: run the real command, and read CSV output back."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases"
# The README quick start's key. Every test runs with it unless it says otherwise.
DEMO_KEY = "demo-key-for-the-example-only"


# pytest rewrites each test module's asserts as it imports it; where
# PYTHONDONTWRITEBYTECODE is set it keeps nothing, and every worker of a
# parallel run redoes them all (2 s of CPU a worker). Kept (in __pycache__,
# which git ignores), they are rewritten once.
sys.dont_write_bytecode = False


def pytest_configure(config):
    """In the process that starts a parallel run's workers, import the test
    modules once first, so that each worker reads their rewritten asserts
    rather than making them again. A module that fails to import here is
    left to the workers to report."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", None):
        return
    import importlib

    for path in sorted((ROOT / "tests").glob("test_*.py")):
        try:
            importlib.import_module(path.stem)
        # pytest.skip/importorskip at module level raise Skipped, no Exception:
        # escaping here, it ended the whole run with an INTERNALERROR.
        except (Exception, pytest.skip.Exception):  # noqa: BLE001 - a worker collects it again and says what is wrong
            continue


def pytest_collection_modifyitems(items):
    """Tests marked slow first, the order otherwise kept: a parallel run
    hands tests out in this order, so the long ones start early and end
    together rather than one running on alone while the other workers idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def quick_retries(monkeypatch):
    """Retries without the client's backoff (seconds of sleep a test): for
    tests of what a run does through faults, not of how long it waits,
    which tests/test_sync_speed.py and test_sync_hostile.py test."""
    monkeypatch.setattr("generator.pbx.portsip.client._retry_after", lambda header, attempt: 0.001)


@pytest.fixture(autouse=True, scope="session")
def master_key():
    saved = os.environ.get("PORTSIP_ROSTER_KEY")
    os.environ["PORTSIP_ROSTER_KEY"] = DEMO_KEY
    yield DEMO_KEY
    if saved is None:
        del os.environ["PORTSIP_ROSTER_KEY"]
    else:
        os.environ["PORTSIP_ROSTER_KEY"] = saved


class Ran:
    """What a run of the command gave: the shape of subprocess.CompletedProcess."""

    def __init__(self, returncode: int, stdout: str, stderr: str, stdout_bytes: bytes = b""):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.stdout_bytes = stdout_bytes  # as written: `stdout` has its line ends made \n by click


def _build_once() -> None:
    """typer builds the click command from the app's functions on every
    invoke (half the time of a small run); the app does not change within a
    test run, so it is built once here."""
    import functools

    import typer.testing

    build = getattr(typer.testing, "_get_command", None)
    if build is not None and not hasattr(build, "cache_info"):
        typer.testing._get_command = functools.lru_cache(maxsize=None)(build)


def run_module(*args: str, cwd: Path | None = None, env: dict | None = None) -> Ran:
    """The command in this process (typer's CliRunner), from folder `cwd`,
    with `env` over the environment. Fast: most CLI tests use this. Anything
    but a clean exit (a traceback) fails the test here."""
    from typer.testing import CliRunner

    from generator.cli import app

    _build_once()
    saved = os.getcwd()
    os.chdir(cwd or ROOT)
    try:
        result = CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=True)
    finally:
        os.chdir(saved)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)


def run_real(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m generator ARGS` in a subprocess, as a user would run it, on
    this checkout's code: for what only a real process shows (hash seeds,
    signals, a terminal, the entry point)."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "generator", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=60, env=env)


def installed_command() -> str:
    """The console script installed beside this interpreter (pip install .)."""
    beside = Path(sys.executable).parent / "portsip-roster"
    found = str(beside) if beside.exists() else shutil.which("portsip-roster")
    if not found:
        pytest.fail("portsip-roster is not installed: run the README's test command")
    return found


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.fixture
def write_roster(tmp_path):
    """Write a roster text to tmp_path/roster.yaml and return its path."""

    def write(text: str, name: str = "roster.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


# A user with only the fields the PBX requires: the built-in defaults do the rest.
MINIMAL_USER = """\
  - name: jim1
    extension_number: "101"
    email: jim@example.com
    display_name: Jim Keeny
    password: "Pa55word!x"
    extension_password: "Ext-Pa55!x"
    voicemail_pin: "409296"
"""


@pytest.fixture(scope="module")
def server():
    """One fake PortSIP PBX (tests/fakepbx.py) on 127.0.0.1 per test module."""
    from fakepbx import FakeServer

    with FakeServer() as running:
        yield running


@pytest.fixture
def pbx(server):
    """The module's fake PBX with a new, empty tenant for each test."""
    from fakepbx import State

    server.state = State()
    return server


# A roster's head whose secrets are all generated (from the demo key in tests).
HEAD = """pbx_version: v22
defaults:
  email: "{{ name }}@example.com"
  password: {generate: true}
  extension_password: {generate: true}
  voicemail_pin: {generate: true}
users:
"""


def user(name: str, extension: str, *lines: str) -> str:
    """One roster user under HEAD's `users:`, with more of its lines."""
    return "".join(f"  {line}\n" for line in (f"- name: {name}", f"  display_name: {name.title()}",
                                                f'  extension_number: "{extension}"', *(f"  {x}" for x in lines)))


@pytest.fixture
def roster(tmp_path) -> Path:
    """The whole example roster at tmp_path/roster.yaml (its online_busy rules
    go to the API as its busy rules)."""
    path = tmp_path / "roster.yaml"
    path.write_text((ROOT / "roster.example.yaml").read_text("utf-8"), "utf-8")
    return path
