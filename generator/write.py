"""Stage 6, write: CSV bytes to stdout, or atomically to a file.

A regular file (or a new path) is written to a temporary sibling and renamed
over the target, so a run that fails or is interrupted leaves the previous
file exactly as it was. A FIFO or a character device (/dev/stdout) is
written in place: renaming over it would take it away from its reader.
Anything else (a folder, a socket, a block device) is refused.

Where the temporary file needs a name (between linkat and rename, or on a
system without O_TMPFILE), the name holds the writer's process id, and a
later write to the same folder removes such files whose writer is gone.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

from generator.errors import UsageError

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
            temporary = _temporary_name(name)
            try:
                os.link(f"/proc/self/fd/{fd}", temporary, dst_dir_fd=folder_fd, follow_symlinks=True)
                return str(folder / temporary)
            except FileExistsError:
                continue
    finally:
        os.close(folder_fd)


def _temporary_name(name: str) -> str:
    return f".{name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"


def _clean_leftovers(folder: Path, name: str) -> None:
    """Remove temporary files of earlier writes to `name` whose process is gone
    (killed between naming and renaming): each may hold every password."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)\.[0-9a-f]{{12}}\.tmp")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if found and not _alive(int(found.group(1))) and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: leave its file alone
    return True


def _named_temporary(folder: Path, name: str) -> tuple[int, str]:
    while True:
        temporary = str(folder / _temporary_name(name))
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), temporary
        except FileExistsError:
            continue


def write_atomic(path: Path, text: str | Iterable[str], ok: Callable[[], bool] = lambda: True) -> None:
    """Replace `path` with `text` (UTF-8; a string or pieces of one) in one
    rename, so the old file stays whole until the new one is; nothing is
    kept when `ok()` says no once the text is written. The file is created
    readable by its owner only: every row holds passwords."""
    folder = path.parent if str(path.parent) else Path(".")
    _clean_leftovers(folder, path.name)
    pieces = [text] if isinstance(text, str) else text
    fd = _unnamed_file(folder)
    unnamed = fd is not None
    temporary = None
    if not unnamed:
        fd, temporary = _named_temporary(folder, path.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for piece in pieces:
                handle.write(piece)
            handle.flush()
            if not ok():
                return
            os.fsync(handle.fileno())
            if unnamed:
                temporary = _give_name(handle.fileno(), folder, path.name)
        os.replace(temporary, path)
        temporary = None
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def _write_in_place(path: Path, pieces: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for piece in pieces:
            handle.write(piece)


def output_kind(path: Path) -> str:
    """"replace" (a regular file or a new path), "stream" (a FIFO or a
    character device, written in place) or "refuse"."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "refuse" if path.is_symlink() else "replace"  # a link to nothing: where would it go?
    if stat.S_ISREG(mode):
        return "replace" if not path.is_symlink() else "stream"
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return "stream"
    return "refuse"


def write_output(path: Path | None, pieces: Iterable[str], ok: Callable[[], bool] = lambda: True) -> None:
    """The CSV to stdout (None), or to `path` as its kind allows (output_kind)."""
    if path is None:
        write_stdout(pieces)
        return
    kind = output_kind(path)
    if kind == "refuse":
        raise UsageError(f"cannot write {path}: not a regular file, a pipe or a terminal")
    try:
        if kind == "stream":
            _write_in_place(path, pieces)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, pieces, ok)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_new_private(path: Path, text: str) -> None:
    """A new file readable by its owner only; an existing one is never replaced."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise UsageError(f"{path} exists; a key is never overwritten (remove it first)") from exc
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def input_named(target: Path, inputs: Iterable[Path | None]) -> Path | None:
    """The input that writing `target` would overwrite: one of `inputs`, or
    an input folder (the templates) that would hold it; None if none."""
    for source in inputs:
        if source is not None and (same_file(target, source)
                                   or (source.is_dir() and same_file(target.parent, source))):
            return source
    return None


def check_output(path: Path, inputs: Iterable[Path | None], what: str) -> None:
    """Before any work is done (or any PBX read): `path` can take `what` the
    way write_output writes it, and is none of the `inputs`; UsageError if not."""
    kind = output_kind(path)
    if kind == "refuse":
        raise UsageError(f"cannot write {what} to {path}: not a regular file, a pipe or a terminal")
    folder = path.parent
    if kind == "replace" and not folder.is_dir():
        raise UsageError(f"cannot write {what} to {path}: there is no folder {folder}")
    if kind == "replace" and not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {what} to {path}: the folder {folder} is not writable")
    source = input_named(path, inputs)
    if source is not None:
        raise UsageError(f"{path} is one of the inputs ({source}); write {what} somewhere else")


def open_log(path: Path, inputs: Iterable[Path | None]) -> TextIO:
    """`path` opened to append to, never through a symbolic link (a link
    planted where CI writes its log would send the lines anywhere); a
    regular file, a pipe or a terminal only, and none of the `inputs`."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"cannot write the log {path}: it is a symbolic link, and a log is never written "
                             f"through one") from exc
        raise UsageError(f"cannot write the log {path}: {exc.strerror}") from exc
    mode = os.fstat(fd).st_mode
    source = input_named(path, inputs)
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)) or source is not None:
        os.close(fd)
        if source is not None:
            raise UsageError(f"{path} is one of the inputs ({source}); write the log somewhere else")
        raise UsageError(f"cannot write the log {path}: not a regular file, a pipe or a terminal")
    return os.fdopen(fd, "a", encoding="utf-8")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links, or both new and equal)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


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
