"""Rewrite every case's expected file from what the tool does now:

    python tests/regenerate.py            # all cases
    python tests/regenerate.py mac-format # some cases

Then read `git diff tests/cases`: every changed line is a change in behaviour
to approve or fix. A case keeps the kind of expectation it has (expected.csv,
expected_errors.txt or expected_warnings.txt); a new case folder with only a
roster gets expected_errors.txt when validate fails, else expected.csv.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import CASES, DEMO_KEY, run_module  # noqa: E402


def _args(case: Path) -> list[str]:
    args_file = case / "args.txt"
    return args_file.read_text("utf-8").split() if args_file.is_file() else []


def regenerate(case: Path) -> str:
    validated = run_module("validate", "roster.yaml", *_args(case), cwd=case)
    lines = [line for line in validated.stderr.splitlines() if not line.endswith("nothing written.")]
    if (case / "expected_warnings.txt").is_file():
        warnings = [line for line in lines if ": warning: " in line]
        (case / "expected_warnings.txt").write_text("".join(f"{w}\n" for w in warnings), "utf-8")
        return "expected_warnings.txt"
    if validated.returncode == 1 or (case / "expected_errors.txt").is_file():
        (case / "expected_errors.txt").write_text("".join(f"{line}\n" for line in lines), "utf-8")
        return "expected_errors.txt"
    generated = run_module("generate", "roster.yaml", *_args(case), cwd=case)
    if generated.returncode != 0:
        raise SystemExit(f"{case.name}: generate failed:\n{generated.stderr}")
    (case / "expected.csv").write_bytes(generated.stdout_bytes)
    return "expected.csv"


def main(names: list[str]) -> None:
    os.environ["PORTSIP_ROSTER_KEY"] = DEMO_KEY
    cases = [CASES / n for n in names] if names else sorted(p for p in CASES.iterdir() if p.is_dir())
    for case in cases:
        if (case / "roster.yaml").is_file():
            print(f"{case.name}: {regenerate(case)}")


if __name__ == "__main__":
    main(sys.argv[1:])
