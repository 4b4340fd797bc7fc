"""Progress on stderr for long runs: only on a terminal, and only once a run
has taken a while, so piped output, CI logs and short runs stay quiet."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

DELAY = 1.5  # seconds before anything is shown
EVERY = 0.2  # seconds between updates


class Progress:
    def __init__(self, stream: TextIO | None, delay: float = DELAY):
        self.stream = stream
        self.start = time.monotonic()
        self.delay = delay
        self.last = 0.0
        self.shown = False

    def tick(self, stage: str, done: int, total: int) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self.start < self.delay or now - self.last < EVERY:
            return
        self.last, self.shown = now, True
        self.stream.write(f"\r{stage}: {done:,} of {total:,}\033[K")
        self.stream.flush()

    def clear(self) -> None:
        if self.shown and self.stream is not None:
            self.stream.write("\r\033[K")
            self.stream.flush()


_current = Progress(None)


def tick(stage: str, done: int, total: int) -> None:
    """Called by the stages every so many users; costs nothing when quiet."""
    if done % 256 == 0:
        _current.tick(stage, done, total)


@contextmanager
def reporting(stream: TextIO = sys.stderr, delay: float = DELAY) -> Iterator[None]:
    """Show progress during the block if `stream` is a terminal."""
    global _current
    saved = _current
    _current = Progress(stream if stream.isatty() else None, delay)
    try:
        yield
    finally:
        _current.clear()
        _current = saved
