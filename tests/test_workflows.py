"""Every GitHub Actions workflow the docs show passes zizmor, the static
analyser for Actions security: a workflow copied from the README runs
against a live PBX, so it must not hand a credential to pull-request code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SEVERE = {"medium", "high"}


def workflows() -> dict[str, str]:
    """Every ```yaml block of the README and docs/ that is a workflow (has jobs), by a file name that says where."""
    found = {}
    for page in PAGES:
        blocks = re.findall(r"```yaml\n(.*?)```", page.read_text("utf-8"), re.S)
        for i, block in enumerate(blocks):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and "jobs" in data:
                found[f"{page.stem}-block{i + 1}.yml"] = block
    return found


def zizmor() -> str:
    beside = Path(sys.executable).parent / "zizmor"
    found = str(beside) if beside.exists() else shutil.which("zizmor")
    assert found, "zizmor is missing: pip install -e '.[test]'"
    return found


def test_the_docs_show_the_workflows():
    names = workflows()
    assert any(n.startswith("README-") for n in names) and any(n.startswith("sync-") for n in names)
    assert any(n.startswith("git-workflow-") for n in names)


def test_every_documented_workflow_passes_zizmor(tmp_path):
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    for name, text in workflows().items():
        (folder / name).write_text(text, encoding="utf-8")
    # --no-ignores: a `# zizmor: ignore[...]` comment in a doc hides nothing.
    ran = subprocess.run([zizmor(), "--offline", "--no-config", "--no-ignores", "--no-exit-codes",
                          "--min-severity", "medium", "--format", "json", str(folder)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    findings = json.loads(ran.stdout)
    severe = [f for f in findings if f["determinations"]["severity"].lower() in SEVERE]
    assert not severe, "\n".join(_said(f) for f in severe)


def _said(finding: dict) -> str:
    where = finding["locations"][0]
    given = next(iter(where["symbolic"]["key"].get("Local", {}).values()), "?")
    line = where["concrete"]["location"]["start_point"]["row"] + 1
    return f"{Path(given).name}:{line}: {finding['ident']}: {finding['desc']} ({finding['determinations']['severity']})"


PINNED = re.compile(r"pip install (\S+)")
A_RELEASE = re.compile(r"['\"]?git\+https://\S+@[0-9a-f]{40}['\"]?$")


def test_pull_request_jobs_get_no_write_credential_and_install_no_pull_request_code():
    """The admin password lives only in the job that runs after a merge, in its
    protected environment; every job installs the tool from a pinned commit of
    the tool's own repository, never from the checkout a pull request changes."""
    for name, text in workflows().items():
        data = yaml.safe_load(text)
        assert "secrets." not in str(data.get("env", "")), f"{name}: a secret in the workflow-wide env"
        for job_name, job in data["jobs"].items():
            where = f"{name}: job {job_name}"
            after_merge = "github.event_name == 'push'" in str(job.get("if", ""))
            if "secrets.PORTSIP_PASSWORD" in str(job):
                assert after_merge and job.get("environment"), f"{where} holds the write credential"
            for step in job.get("steps", []):
                for source in PINNED.findall(step.get("run", "")):
                    assert A_RELEASE.match(source), f"{where} installs {source}, which a pull request can change"
