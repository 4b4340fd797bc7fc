"""Stage 6, write: CSV bytes to stdout, or atomically to a file.

A file is written to a temporary sibling and renamed over the target, so a run
that fails or is interrupted leaves the previous file exactly as it was.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

BOM = "\ufeff"


def csv_text(header: list[str], rows: Iterable[list[str]], bom: bool = False) -> str:
    buffer = io.StringIO()
    if bom:
        buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) in one rename. The file is created
    readable by its owner only: every row holds passwords."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_stdout(text: str) -> None:
    stream = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    if stream is None:  # a captured stream in tests
        sys.stdout.write(text)
        return
    stream.write(text.encode("utf-8"))
    stream.flush()
