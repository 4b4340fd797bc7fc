"""A file as it was at a git revision, for `diff --base` and `generate --since`."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generator.errors import UsageError


def git_show(path: Path, rev: str) -> bytes:
    """The bytes of `path` at `rev`, read through git in the file's own folder."""
    folder = path.resolve().parent
    try:
        done = subprocess.run(["git", "-C", str(folder), "show", f"{rev}:./{path.name}"],
                              capture_output=True, timeout=60)
    except FileNotFoundError as exc:
        raise UsageError("git is not installed, so --base/--since cannot read a revision") from exc
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"git took too long to read {path} at {rev}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"cannot read {path} at {rev}: {reason[-1] if reason else 'git failed'}")
    return done.stdout


@contextmanager
def at_revision(path: Path, rev: str) -> Iterator[Path]:
    """A temporary copy of `path` as it was at `rev`, beside it so that its
    relative `include:` paths still resolve (to today's files). Removed after."""
    content = git_show(path, rev)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.at-", suffix=path.suffix, dir=path.resolve().parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
