"""Documentation made from the code's own registries, so the two cannot drift:
`python -m generator.docs` rewrites docs/problems.md's table of problem codes
from model.CODES (tests/test_registries.py fails while they differ)."""

from __future__ import annotations

import sys
from pathlib import Path

from generator.model import CODES

BEGIN = "<!-- codes: made from generator/model.py CODES by `python -m generator.docs`; edit them there -->"
END = "<!-- end of codes -->"


def codes_table() -> str:
    rows = [f"| `{code}` | {entry.level} | {entry.means} |" for code, entry in CODES.items()]
    return "\n".join([BEGIN, "", "| code | level | what it means |", "|---|---|---|", *rows, "", END]) + "\n"


def with_codes_table(text: str) -> str:
    """`text` (docs/problems.md) with the table between the markers made anew."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"docs/problems.md lacks the markers {BEGIN!r} and {END!r}")
    return head + codes_table().rstrip("\n") + tail


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "docs" / "problems.md"
    text = path.read_text(encoding="utf-8")
    made = with_codes_table(text)
    if made != text:
        path.write_text(made, encoding="utf-8")
        print(f"{path}: table of codes rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
