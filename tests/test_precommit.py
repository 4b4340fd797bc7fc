"""The pre-commit configurations in docs/git-workflow.md, run by the real
pre-commit against a local clone of this repository. Skipped where
pre-commit is missing, except in CI, where the test extras install it."""

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
DOCS = (ROOT / "docs" / "git-workflow.md").read_text("utf-8")
CONFIGS = re.findall(r"```yaml\n(# \.pre-commit-config\.yaml.*?)```", DOCS, re.S)


@pytest.fixture
def rosters(tmp_path):
    if not PRE_COMMIT.exists():
        if os.environ.get("CI"):
            pytest.fail("pre-commit is missing in CI: it is in the test extras")
        pytest.skip("pre-commit is not installed (pip install '.[test]')")
    folder = tmp_path / "rosters"
    folder.mkdir()
    shutil.copy(ROOT / "roster.example.yaml", folder / "roster.yaml")
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    return folder


def _commit_check(folder: Path, config: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (folder / ".pre-commit-config.yaml").write_text(config)
    subprocess.run(["git", "add", "."], cwd=folder, check=True)
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


def test_the_hooks_of_this_repository_work_from_a_clone(rosters, tmp_path):
    clone = tmp_path / "portsip-roster"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True,
                            check=True).stdout.strip()
    config = CONFIGS[1].replace("https://git.example.com/you/portsip-roster", str(clone))
    config = re.sub(r"rev: [0-9a-f]{40}", f"rev: {commit}", config)
    made = subprocess.run([sys.executable, "-m", "generator", "generate", "roster.yaml", "--redact", "-o",
                           "users.review.csv"], cwd=rosters, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "PORTSIP_ROSTER_KEY": ""})
    assert made.returncode == 0, made.stderr
    ok = _commit_check(rosters, config, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "validate PortSIP rosters" in ok.stdout and "check the generated CSV" in ok.stdout
