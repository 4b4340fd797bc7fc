"""Properties over many rosters (hypothesis): a valid roster's CSV reads back
as exactly its resolved users; a mangled roster either works or is refused
with located errors, never a traceback and never a touched output file."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stderr, redirect_stdout

import pytest
import yaml
from conftest import ROOT, read_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.cells import cell_text
from generator.cli import app
from generator.commands.generate import generate
from generator.pipeline import run as resolve_roster

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Display names with what makes CSV and YAML hard: quotes, commas, newlines, accents.
# No control characters (a line break is refused as one): quotes, commas and other scripts.
TEXT = st.text(alphabet=st.sampled_from(list("abcXYZ 09,;'\"\\é漢:#&*!{}[]|>-=+@")), min_size=1, max_size=30)
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


def _safe_display(text: str) -> str:
    text = text.strip() or "x"
    return "x" + text if text[0] in "=+-@" else text  # formulas are refused on purpose; tested elsewhere


@st.composite
def rosters(draw) -> tuple[dict, list[dict]]:
    names = draw(st.lists(NAMES, min_size=1, max_size=8, unique_by=str.lower))
    users = []
    for i, name in enumerate(names):
        user = {"name": name, "display_name": _safe_display(draw(TEXT)),
                "extension_number": draw(st.sampled_from(["0", "1", "9"])) + f"{i:03d}"}
        for flag in ("enable_dnd", "enable_acb", "enabled"):
            if draw(st.booleans()):
                user[flag] = draw(st.booleans())
        if draw(st.booleans()):
            user["office_hours"] = {"weekdays": draw(st.sampled_from(["09:00-17:00", "closed", "open"]))}
        users.append(user)
    roster = {
        "pbx_version": draw(st.sampled_from(["v16", "v22"])),
        "defaults": {"email": "{{ name }}@example.com", "password": {"generate": True},
                     "extension_password": {"generate": True}, "voicemail_pin": {"generate": True}},
        "users": users,
    }
    return roster, users


@pytest.mark.slow
@SETTINGS
@given(rosters())
def test_valid_roster_reads_back_as_its_resolved_users(tmp_path, case):
    roster, users = case
    path = tmp_path / "roster.yaml"
    path.write_text(yaml.safe_dump(roster, allow_unicode=True, sort_keys=False), encoding="utf-8")
    header, *rows = read_csv(generate(path).text())
    resolved = resolve_roster(path).users
    assert len(rows) == len(users) == len(resolved)
    for row, user, written in zip(rows, resolved, users):
        cells = dict(zip(header, row))
        assert len(row) == len(header)
        assert cells["name"] == written["name"]
        assert cells["display_name"] == written["display_name"]
        assert cells["extension_number"] == written["extension_number"]
        assert cells["email"] == f"{written['name']}@example.com"
        for column in header:
            if column != "phones":
                assert cells[column] == cell_text(user.fields[column]), column


EXAMPLE = (ROOT / "roster.example.yaml").read_text("utf-8").splitlines()
SNIPPETS = ["&a", "*a", "*nope", ": x", "- ", "{", "}", "[", "]", '"', "'", "\t", "<<: *a", "!!python/object:os.system",
            "~", "null", "0o17", "1e3", "no", "on", "10:20:30", "0101", "{{ name }}", "{{ 1/0 }}", "=cmd", "- - -",
            "users:", "  - name: x", "pbx_version: v99", "---", "\x00", "\ufeff", "é", " " * 3, "#"]


@st.composite
def mangled(draw) -> str:
    lines = list(EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "insert", "append", "replace-char", "truncate", "swap"]))
        if kind == "delete":
            del lines[at]
        elif kind == "duplicate":
            lines.insert(at, lines[at])
        elif kind == "insert":
            lines.insert(at, draw(st.sampled_from(SNIPPETS)))
        elif kind == "append":
            lines[at] += draw(st.sampled_from(SNIPPETS))
        elif kind == "replace-char" and lines[at]:
            col = draw(st.integers(0, len(lines[at]) - 1))
            lines[at] = lines[at][:col] + draw(st.sampled_from(SNIPPETS)) + lines[at][col + 1:]
        elif kind == "truncate":
            lines = lines[:at]
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@SETTINGS
@given(mangled())
def test_mangled_roster_works_or_is_refused_cleanly(tmp_path, text):
    path, out = tmp_path / "roster.yaml", tmp_path / "users.csv"
    path.write_text(text, encoding="utf-8")
    out.write_text("previous content")
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            app(["generate", str(path), "-o", str(out)], prog_name="portsip-roster")
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
    lines = stderr.getvalue().splitlines()
    assert "Traceback" not in stderr.getvalue()
    assert code in (0, 1, 2), stderr.getvalue()
    if code == 0:
        header, *rows = read_csv(out.read_text("utf-8"))
        assert rows and all(len(row) == len(header) for row in rows)
    else:
        assert out.read_text() == "previous content"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["roster.yaml", "users.csv"]
    if code == 1:
        located = re.compile(re.escape(str(path)) + r":\d+:\d+: ")
        problems = [line for line in lines if not line.endswith("nothing written.")]
        assert problems and all(located.match(line) for line in problems), lines
    if code == 2:
        assert lines[-1].startswith("error: ")
