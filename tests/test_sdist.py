"""The release tarball holds what the suite reads, so that the suite passes
from it as well as from a git clone. The README ("Development") gives the
command that builds the tarball and runs the suite from it."""

from __future__ import annotations

import re

from conftest import ROOT

PYPROJECT = (ROOT / "pyproject.toml").read_text("utf-8")


def _sdist_include() -> set[str]:
    section = PYPROJECT.split("[tool.hatch.build.targets.sdist]", 1)[1]
    listed = re.search(r"^include = \[(.*?)\]", section, re.S | re.M)
    assert listed, "pyproject.toml: the sdist's include list is missing"
    return set(re.findall(r'"([^"]+)"', listed.group(1)))


def test_the_sdist_ships_every_top_level_path_the_tests_read():
    sources = [path.read_text("utf-8") for path in sorted((ROOT / "tests").glob("*.py"))]
    read = {name for text in sources for name in re.findall(r'ROOT / "([\w.-]+)', text)}
    assert {"docs", ".ci", "roster.example.yaml"} <= read, "the search finds what the tests read"
    # pyproject.toml goes into every sdist by itself
    assert read - {"pyproject.toml"} <= _sdist_include()
