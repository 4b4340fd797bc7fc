"""A file as it was at a git revision, for `diff --base` and `generate --since`."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generator.errors import UsageError


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)


def _commit(path: Path, rev: str) -> str:
    """`rev` as a commit id. A revision is never passed where git could read
    it as an option (`--output=FILE`)."""
    if not rev or rev.startswith("-") or any(c in rev for c in "\0\n"):
        raise UsageError(f"cannot read {path} at {rev!r}: not a git revision")
    done = _git(path.resolve().parent, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if done.returncode != 0:
        raise UsageError(f"cannot read {path} at {rev}: not a git revision here")
    return done.stdout.decode("ascii", "replace").strip()


def git_show(path: Path, rev: str) -> bytes:
    """The bytes of `path` at `rev`, read through git in the file's own folder."""
    folder = path.resolve().parent
    try:
        commit = _commit(path, rev)
        done = _git(folder, "show", f"{commit}:./{path.name}")
    except FileNotFoundError as exc:
        raise UsageError("git is not installed, so --base/--since cannot read a revision") from exc
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"git took too long to read {path} at {rev}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"cannot read {path} at {rev}: {reason[-1] if reason else 'git failed'}")
    return done.stdout


def exists_at(path: Path, rev: str) -> bool:
    """Whether `path` was there at `rev` (a bad revision is still bad usage):
    a roster new since the base has no old side to read."""
    commit = _commit(path, rev)
    try:
        done = _git(path.resolve().parent, "cat-file", "-e", f"{commit}:./{path.name}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"cannot read {path} at {rev}: {exc}") from exc
    return done.returncode == 0


@contextmanager
def at_revision(path: Path, rev: str) -> Iterator[Path]:
    """A temporary copy of `path` as it was at `rev`, beside it so that its
    relative `include:` paths still resolve (to today's files). Removed after."""
    content = git_show(path, rev)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.at-", suffix=path.suffix, dir=path.resolve().parent)
    except OSError as exc:
        raise UsageError(f"cannot read {path} at {rev}: its folder is not writable ({exc.strerror}), and the old "
                         f"version must sit beside it for its includes to resolve") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def left_to_git(path: Path) -> bool:
    """Whether `path` sits in a git work tree that does not ignore it (so a
    `git add .` would take a file of secrets along)."""
    folder = path.resolve().parent
    try:
        inside = _git(folder, "rev-parse", "--is-inside-work-tree")
        if inside.returncode != 0 or inside.stdout.strip() != b"true":
            return False
        return _git(folder, "check-ignore", "-q", "--", path.name).returncode == 1
    except (OSError, subprocess.TimeoutExpired):
        return False


def left_to_git_warning(path: Path | None, what: str) -> str | None:
    """The warning for a file of secrets (`what`: "the key", ...) that a
    `git add` would take along, or None when git would not."""
    if path is None or not left_to_git(path):
        return None
    return (f"warning: {path} is in a git work tree that does not ignore it: add it to .gitignore before "
            f"`git add`, or {what} goes into the repository")
