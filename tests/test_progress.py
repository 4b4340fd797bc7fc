"""Progress shows on a terminal once a run has taken a while, and never otherwise."""

from __future__ import annotations

import io

from conftest import ROOT, run_module

from generator import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_long_run_on_a_terminal_shows_progress_then_clears_it():
    screen = Terminal()
    with progress.reporting(screen, delay=0):
        for done in range(0, 2048, 256):
            progress.tick("resolving users", done, 2048)
    shown = screen.getvalue()
    assert "\rresolving users: 0 of 2,048" in shown
    assert shown.endswith("\r\033[K")  # the line is cleared at the end


def test_a_short_run_shows_nothing():
    screen = Terminal()
    with progress.reporting(screen):  # the default delay is longer than this run
        progress.tick("resolving users", 0, 10)
    assert screen.getvalue() == ""


def test_piped_output_stays_quiet():
    pipe = io.StringIO()
    with progress.reporting(pipe, delay=0):
        progress.tick("resolving users", 0, 10)
    assert pipe.getvalue() == ""
    result = run_module("generate", ROOT / "roster.example.yaml")
    assert "\r" not in result.stderr
