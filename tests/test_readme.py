"""The README's examples work as printed."""

from __future__ import annotations

import re

from conftest import DEMO_KEY, ROOT, read_csv

from generator.commands.generate import generate

README = (ROOT / "README.md").read_text("utf-8")


def test_readme_roster_generates(write_roster, monkeypatch):
    monkeypatch.setenv("ROSTER_SECRET_ANNA_SIP", "Kx7-Sip-Pass-9")
    monkeypatch.setenv("PORTSIP_ROSTER_KEY", "a-key-of-this-tenant-only")  # not the demo key: no warning
    roster = re.findall(r"```yaml\n(.*?)```", README, re.S)[0]
    generated = generate(write_roster(roster))
    assert generated.count == 2
    header, *rows = read_csv(generated.text())
    assert len(header) == 32 and len(rows) == 2
    assert not generated.warnings


def test_readme_opens_with_the_two_commands():
    commands = re.findall(r"```sh\n(.*?)\n```", README, re.S)[:2]
    assert "portsip-roster generate roster.example.yaml" in commands[0]
    assert f"PORTSIP_ROSTER_KEY={DEMO_KEY} " in commands[0], "the quick start must give the example its key"
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert commands[1] in ci, "CI must run the README test command"


def _command_lines() -> list[tuple[str, str]]:
    """(page, line) for every `portsip-roster ...` line in a sh block of the README and docs/."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for page in pages:
        for block in re.findall(r"```(?:sh|bash|yaml)?\n(.*?)```", page.read_text("utf-8"), re.S):
            for line in block.splitlines():
                if line.lstrip().startswith("#") or "entry:" in line:
                    continue
                for part in re.split(r"&&|;|\|", line.split(" #")[0]):
                    at = part.find("portsip-roster ")
                    if at >= 0 and not part[at + len("portsip-roster "):].lstrip().startswith(("#", "&")):
                        found.append((page.name, part[at:].split(">")[0].strip()))
    return found


def test_every_documented_command_line_names_real_options():
    import shlex

    import typer

    from generator.cli import app

    group = typer.main.get_command(app)
    lines = _command_lines()
    assert len(lines) > 10
    for page, line in lines:
        words = shlex.split(line.replace("<(", "(").replace("...", ""))[1:]
        if not words or words[0].startswith("-"):
            continue
        command = group.commands.get(words[0])
        assert command is not None, f"{page}: {line}: no command {words[0]!r}"
        options = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
        for word in words[1:]:
            if word.startswith("-"):
                assert word.split("=")[0] in options, f"{page}: {line}: {words[0]} has no option {word}"
