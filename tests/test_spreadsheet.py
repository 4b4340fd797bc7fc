"""A real spreadsheet opens what the tool writes and runs no formula.

LibreOffice Calc (Debian's libreoffice-calc-nogui) converts each CSV to flat
ODF; a cell it would evaluate carries `table:formula=`. Skipped where there is
no `soffice`, except in CI (`CI` set), where .ci/run installs it and a missing
one is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import CASES, MINIMAL_USER, run_module

SOFFICE = shutil.which("soffice")
# All on one worker of a parallel run (pytest-xdist), so LibreOffice starts
# with one profile, once per call, never two at a time on one profile.
pytestmark = [pytest.mark.xdist_group("libreoffice"), pytest.mark.slow]


@pytest.fixture(scope="module")
def formulas_in(tmp_path_factory):
    if SOFFICE is None:
        if os.environ.get("CI"):
            pytest.fail("soffice is missing in CI: .ci/run installs libreoffice-calc-nogui")
        pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui")
    profile = tmp_path_factory.mktemp("lo-profile")

    def formulas(csv_files: list[Path]) -> dict[str, list[str]]:
        """Per file name, the formulas LibreOffice finds in it on opening."""
        out = csv_files[0].parent / "fods"
        subprocess.run([SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless",
                        "--infilter=CSV:44,34,76,1", "--convert-to", "fods", "--outdir", str(out),
                        *map(str, csv_files)], check=True, capture_output=True, timeout=300)
        found = {}
        for csv_file in csv_files:
            text = (out / f"{csv_file.stem}.fods").read_text("utf-8")
            found[csv_file.name] = [part.split('"', 1)[0] for part in text.split('table:formula="')[1:]]
        return found

    return formulas


HOSTILE = """pbx_version: v22
users:
""" + MINIMAL_USER.replace("Jim Keeny", "'|cmd /C calc'") + """    custom_options: "%0A=1+1"
    offline_office_hours_forward_rule: "+15555550142"
    extra: {note: "'=1+1", other: "a=1", sum: "1+1", json: '{"x": "=1+1"}', pipe: "|calc"}
    phones: [{mac: "0c:38:3e:63:fe:e8", model: "=M", vendor: "@V", filename: "-f.xml", password: "=Ph0ne-Pass!",
              timezone: "+cmd|' /C calc'!A0"}]
"""


def test_no_cell_is_a_formula(tmp_path, formulas_in):
    files = []
    for case in sorted(CASES.iterdir()):
        if (case / "expected.csv").is_file() and case.name != "formula-allowed":
            files.append(tmp_path / f"{case.name}.csv")
            shutil.copy(case / "expected.csv", files[-1])
    roster = tmp_path / "hostile.yaml"
    roster.write_text(HOSTILE)
    generated = run_module("generate", roster.name, "--allow-formulas", "-o", "hostile.csv", cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    files.append(tmp_path / "hostile.csv")
    control = tmp_path / "control.csv"
    control.write_text('name,display_name\r\njim,=1+1\r\n')  # so this test can fail: a real formula is seen
    found = formulas_in([*files, control])
    assert found.pop("control.csv") == ["of:=1+1"]
    assert found == {f.name: [] for f in files}


PREFIXES = ["=", "+", "-", "@", " =", "\u00a0=", "\u3000=", "\uff1d", "\n=", "\u200b=", "\ufeff=", "|", "%", "'=",
            "\t="]


def test_every_prefix_libreoffice_runs_is_refused(tmp_path, formulas_in):
    """Each cell is a prefix and SUM(<its row>): a formula LibreOffice finds
    names its row, so each one it runs is checked against the tool: as a
    user's display name, validate must refuse it as a formula."""
    cells = [f"{prefix}SUM({i})" for i, prefix in enumerate(PREFIXES)]
    (tmp_path / "prefixes.csv").write_text("a\r\n" + "".join(f'"{c}"\r\n' for c in cells), "utf-8")
    found = formulas_in([tmp_path / "prefixes.csv"])["prefixes.csv"]
    ran = [i for i in range(len(cells)) if any(f"SUM({i})" in formula for formula in found)]
    assert ran, "LibreOffice ran none: the check itself is broken"
    users = "".join(MINIMAL_USER.replace("jim1", f"u{i}").replace('"101"', f'"{200 + i}"')
                    .replace("Jim Keeny", json.dumps(cells[i])) for i in ran)
    (tmp_path / "roster.yaml").write_text("pbx_version: v22\nusers:\n" + users, "utf-8")
    result = run_module("validate", "roster.yaml", "--format", "json", cwd=tmp_path)
    problems = json.loads(result.stdout or "[]")
    refused = {p["user"] for p in problems if p["code"] == "formula" and p["field"] == "display_name"}
    for i in ran:
        assert f"u{i}" in refused, f"LibreOffice runs {cells[i]!r}, which the tool lets through"
    assert result.returncode == 1, result.stderr
