"""The README's examples work as printed."""

from __future__ import annotations

import re

from conftest import DEMO_KEY, ROOT, read_csv

from generator.commands.generate import generate

README = (ROOT / "README.md").read_text("utf-8")


def test_readme_roster_generates(write_roster, monkeypatch):
    monkeypatch.setenv("ANNA_SIP_PASSWORD", "Kx7-Sip-Pass-9")
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
