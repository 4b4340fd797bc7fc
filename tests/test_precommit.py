"""The pre-commit configurations in docs/git-workflow.md, run by the real
pre-commit, the second one against a git repository made from this
checkout's files (so the test runs from a release tarball as well as from a
clone). Skipped where pre-commit is missing, except in CI, where the test
extras install it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
pytestmark = pytest.mark.slow
DOCS = (ROOT / "docs" / "git-workflow.md").read_text("utf-8")
CONFIGS = re.findall(r"```yaml\n(# \.pre-commit-config\.yaml.*?)```", DOCS, re.S)


def _git(*args: str, cwd: Path) -> str:
    # Without the caller's GIT_* variables (a hook running the tests sets
    # GIT_DIR and GIT_INDEX_FILE), and with an identity of its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c",
                           "commit.gpgsign=false", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def rosters(tmp_path):
    if not PRE_COMMIT.exists():
        if os.environ.get("CI"):
            pytest.fail("pre-commit is missing in CI: it is in the test extras")
        pytest.skip("pre-commit is not installed (pip install '.[test]')")
    folder = tmp_path / "rosters"
    folder.mkdir()
    shutil.copy(ROOT / "roster.example.yaml", folder / "roster.yaml")
    _git("init", "-q", cwd=folder)
    return folder


def _commit_check(folder: Path, config: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (folder / ".pre-commit-config.yaml").write_text(config)
    _git("add", ".", cwd=folder)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(PRE_COMMIT), "run", "--all-files"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_docs_give_both_configurations():
    assert len(CONFIGS) == 2
    assert "rev: v0.1.0" not in DOCS  # a tag that never existed


def test_the_installed_command_configuration_works_as_written(rosters, tmp_path):
    ok = _commit_check(rosters, CONFIGS[0], tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (rosters / "roster.yaml").write_text((rosters / "roster.yaml").read_text().replace('"0101"', '"01"'))
    bad = _commit_check(rosters, CONFIGS[0], tmp_path)
    assert bad.returncode != 0 and "extension_number" in bad.stdout


# What pre-commit needs of this repository to install the hooks: the hook
# list, and what `pip install .` builds the package from.
HOOK_REPOSITORY = [".pre-commit-hooks.yaml", "pyproject.toml", "README.md", "generator", "templates", "schemas"]


def _hook_repository(folder: Path) -> str:
    """A git repository of this checkout's files, made here so that the test
    runs from a release tarball too: its commit id."""
    folder.mkdir()
    for name in HOOK_REPOSITORY:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(source, folder / name)
    _git("init", "-q", cwd=folder)
    _git("add", ".", cwd=folder)
    _git("commit", "-q", "-m", "portsip-roster", cwd=folder)
    return _git("rev-parse", "HEAD", cwd=folder)


def test_the_hooks_of_this_repository_work_from_a_clone(rosters, tmp_path):
    clone = tmp_path / "portsip-roster"
    commit = _hook_repository(clone)
    config = CONFIGS[1].replace("https://git.example.com/you/portsip-roster", str(clone))
    config = re.sub(r"rev: [0-9a-f]{40}", f"rev: {commit}", config)
    made = subprocess.run([sys.executable, "-m", "generator", "generate", "roster.yaml", "--redact", "-o",
                           "users.review.csv"], cwd=rosters, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "PORTSIP_ROSTER_KEY": ""})
    assert made.returncode == 0, made.stderr
    ok = _commit_check(rosters, config, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "validate PortSIP rosters" in ok.stdout and "check the generated CSV" in ok.stdout
