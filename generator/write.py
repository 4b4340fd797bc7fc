"""Stage 6, write: CSV bytes to stdout, or atomically to a file.

A file is written to a temporary sibling and renamed over the target, so a run
that fails or is interrupted leaves the previous file exactly as it was.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

BOM = "\ufeff"


ROWS_PER_CHUNK = 1000


def csv_chunks(header: list[str], rows: Iterable[list[str]], bom: bool = False) -> Iterator[str]:
    """The CSV as pieces of text, a thousand rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM if bom else "")
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _unnamed_file(folder: Path) -> int | None:
    """A file in `folder` with no name yet (Linux O_TMPFILE): if the run is
    killed, even with SIGKILL, nothing is left behind. None where unsupported."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not Path("/proc/self/fd").is_dir():
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, 0o600)
    except OSError:
        return None


def _give_name(fd: int, folder: Path, name: str) -> str:
    """Link the unnamed file into `folder` under a fresh temporary name. A
    folder descriptor makes Python use linkat(), which can follow the
    /proc/self/fd link to the file itself (plain link() cannot)."""
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            temporary = f".{name}.{secrets.token_hex(6)}.tmp"
            try:
                os.link(f"/proc/self/fd/{fd}", temporary, dst_dir_fd=folder_fd, follow_symlinks=True)
                return str(folder / temporary)
            except FileExistsError:
                continue
    finally:
        os.close(folder_fd)


def write_atomic(path: Path, text: str | Iterable[str]) -> None:
    """Replace `path` with `text` (UTF-8; a string or pieces of one) in one
    rename, so the old file stays whole until the new one is. The file is
    created readable by its owner only: every row holds passwords."""
    folder = path.parent if str(path.parent) else Path(".")
    pieces = [text] if isinstance(text, str) else text
    fd = _unnamed_file(folder)
    unnamed = fd is not None
    temporary = None
    if not unnamed:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for piece in pieces:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
            if unnamed:
                temporary = _give_name(handle.fileno(), folder, path.name)
        os.replace(temporary, path)
    except BaseException:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise


def write_stdout(text: str | Iterable[str]) -> None:
    pieces = [text] if isinstance(text, str) else text
    stream = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    for piece in pieces:
        if stream is None:  # a captured stream in tests
            sys.stdout.write(piece)
        else:
            stream.write(piece.encode("utf-8"))
    if stream is not None:
        stream.flush()
