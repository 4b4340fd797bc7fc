"""Progress shows on a terminal once a run has taken a while, and never otherwise."""

from __future__ import annotations

import io

from conftest import ROOT, run_module

from generator.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_long_run_on_a_terminal_shows_progress_then_clears_it():
    screen, clock = Terminal(), Clock()
    progress = Progress(screen, delay=1.5, clock=clock)
    clock.now += 2.0
    for done in range(0, 2048, 256):
        progress.tick("resolving users", done, 2048)
    progress.clear()
    shown = screen.getvalue()
    assert "\rresolving users: 0 of 2,048" in shown
    assert shown.endswith("\r\033[K")  # the line is cleared at the end


def test_nothing_shows_before_the_delay_then_it_does():
    screen, clock = Terminal(), Clock()
    progress = Progress(screen, delay=1.5, clock=clock)
    clock.now += 1.4
    progress.tick("resolving users", 0, 10)
    assert screen.getvalue() == ""
    clock.now += 0.2  # past the delay: the same call now shows
    progress.tick("resolving users", 0, 10)
    assert "resolving users: 0 of 10" in screen.getvalue()


def test_piped_output_stays_quiet():
    pipe, clock = io.StringIO(), Clock()
    progress = Progress(pipe, delay=0, clock=clock)
    clock.now += 5
    progress.tick("resolving users", 0, 10)
    assert pipe.getvalue() == ""
    result = run_module("generate", ROOT / "roster.example.yaml")
    assert "\r" not in result.stderr
