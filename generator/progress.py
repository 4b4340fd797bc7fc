"""Progress on stderr for long runs: only on a terminal, and only once a run
has taken a while, so piped output, CI logs and short runs stay quiet.

A Progress is made by the command line and handed to the stages that walk
users; a stage given none reports nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

DELAY = 1.5  # seconds before anything is shown
EVERY = 0.2  # seconds between updates


class Progress:
    def __init__(self, stream: TextIO | None, delay: float = DELAY, clock: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None and stream.isatty() else None
        self.clock = clock
        self.start = clock()
        self.delay = delay
        self.last = 0.0
        self.shown = False

    def tick(self, stage: str, done: int, total: int, every: int = 256) -> None:
        """Called by the stages for each user; cheap when quiet or between updates."""
        if self.stream is None or done % every:
            return
        now = self.clock()
        if now - self.start < self.delay or now - self.last < EVERY:
            return
        self.last, self.shown = now, True
        self.stream.write(f"\r{stage}: {done:,} of {total:,}\033[K")
        self.stream.flush()

    def clear(self) -> None:
        if self.shown and self.stream is not None:
            self.stream.write("\r\033[K")
            self.stream.flush()
