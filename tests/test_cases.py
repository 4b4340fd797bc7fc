"""Golden cases found on disk: tests/cases/<name>/roster.yaml with either
expected.csv (compared cell by cell), expected_errors.txt (validate exits 1
with exactly these lines) or expected_warnings.txt (validate exits 0 with these).
An optional args.txt adds command-line arguments, one per line. Every case
runs with the README's demo master key, so generated secrets are reproducible.

To add a case, add a folder; nothing here needs to change.
"""

from __future__ import annotations

import json

import pytest
from conftest import CASES, read_csv, run_module

CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "roster.yaml").is_file())
CSV_CASES = [p for p in CASE_DIRS if (p / "expected.csv").is_file()]
ERROR_CASES = [p for p in CASE_DIRS if (p / "expected_errors.txt").is_file()]
WARNING_CASES = [p for p in CASE_DIRS if (p / "expected_warnings.txt").is_file()]


def test_every_case_has_an_expectation():
    assert CASE_DIRS, "no cases found"
    assert set(CASE_DIRS) == set(CSV_CASES) | set(ERROR_CASES) | set(WARNING_CASES)


def _run(command: str, case) -> object:
    args_file = case / "args.txt"
    extra = args_file.read_text("utf-8").split() if args_file.is_file() else []
    return run_module(command, "roster.yaml", *extra, cwd=case)


def _as_data(cell: str):
    if cell[:1] in ("[", "{"):
        return json.loads(cell)
    return cell


@pytest.mark.parametrize("case", CSV_CASES, ids=lambda p: p.name)
def test_csv_case(case):
    result = _run("generate", case)
    assert result.returncode == 0, result.stderr
    got = read_csv(result.stdout)
    want = read_csv((case / "expected.csv").read_text("utf-8"))
    assert got[0] == want[0], "header differs"
    assert len(got) == len(want), "row count differs"
    for row_number, (got_row, want_row) in enumerate(zip(got[1:], want[1:]), start=2):
        assert len(got_row) == len(want[0])
        for column, got_cell, want_cell in zip(want[0], got_row, want_row):
            where = f"row {row_number}, column {column}"
            assert _as_data(got_cell) == _as_data(want_cell), where
            assert got_cell == want_cell, f"{where}: same data, different text"


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda p: p.name)
def test_error_case(case):
    result = _run("validate", case)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.endswith("nothing written.")]
    want = (case / "expected_errors.txt").read_text("utf-8").splitlines()
    assert lines == want
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", WARNING_CASES, ids=lambda p: p.name)
def test_warning_case(case):
    result = _run("validate", case)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert warnings == (case / "expected_warnings.txt").read_text("utf-8").splitlines()
