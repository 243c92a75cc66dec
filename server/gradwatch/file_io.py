"""Reading and writing the user's files without surprises.

Reading: only regular files are opened (a FIFO named `x.py` would block forever,
a link to `/dev/zero` never ends), and never more than the limit is read.

Writing fixes: the file keeps its permissions, owner and hard links, a symlink
stays a symlink (its target is written), a read-only file is left alone, and
an interrupted write (Ctrl-C, `kill`) leaves the old content and no temporary file.
"""

from __future__ import annotations

import os
import signal
import stat
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

UTF8_BOM = b"\xef\xbb\xbf"
TEMPORARY_SUFFIX = ".gradwatch"
# `kill` and a closed terminal: without a handler they end the process on the spot,
# skipping the clean-up of a half-written temporary file.
_TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class RefusedFile(Exception):
    """A file we will not read or write; the message says why, for the user."""


class ReadOnlyFile(RefusedFile):
    """The user protected this file from writing: its fixes are not written."""


def read_bounded(path: str | os.PathLike, limit: int) -> bytes:
    """The content of the regular file at `path` (symlinks followed); RefusedFile for anything
    else or anything larger than `limit` bytes, OSError when it cannot be read."""
    # Look before opening: opening a FIFO waits for a writer, and opening some devices acts.
    _require_regular(os.stat(path))
    # O_NONBLOCK: should a FIFO replace the file after the check, open returns at once.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags)
    try:
        info = os.fstat(descriptor)
        _require_regular(info)
        if info.st_size > limit:
            raise RefusedFile(f"larger than {_size_text(limit)}")
        # One byte past the limit tells a file that grew since fstat from one that fits.
        chunks, wanted = [], limit + 1
        while wanted > 0:
            chunk = os.read(descriptor, min(wanted, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > limit:
        raise RefusedFile(f"larger than {_size_text(limit)}")
    return data


def write_fixed_text(path: str | os.PathLike, text: str) -> None:
    """Replace the content of the file at `path` by `text` (UTF-8; a byte order mark is kept).

    Raises ReadOnlyFile when the file is protected against writing, RefusedFile when
    it is not a regular file, OSError when writing fails (the file is then unchanged).
    """
    target = Path(os.path.realpath(path))  # a symlink stays a link: its target gets the text
    info = os.stat(target)
    _require_regular(info)
    if _is_read_only(target, info):
        raise ReadOnlyFile("read-only, fixes not written")
    with open(target, "rb") as original:
        bom = original.read(len(UTF8_BOM)) == UTF8_BOM
    data = (UTF8_BOM if bom else b"") + text.encode("utf-8")
    with _termination_raises():
        if info.st_nlink > 1 or not _replace(target, data, info):
            _write_in_place(target, data)


def _replace(target: Path, data: bytes, info: os.stat_result) -> bool:
    """Write a sibling temporary file and rename it over `target` (atomic: the file is
    never half written). False, with nothing changed, when the new file could not be
    given the old one's owner: the caller then writes in place instead."""
    import tempfile  # here, not at the top: its imports cost every run start-up time

    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if not _same_owner(temporary, info):
            os.unlink(temporary)
            return False
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return True


def _write_in_place(target: Path, data: bytes) -> None:
    # The inode stays, so every hard link, the owner and the mode stay too. Not atomic:
    # the price of keeping links, which a rename would split (the other names would
    # keep the old text).
    with open(target, "r+b") as stream:
        stream.write(data)
        stream.truncate()
        stream.flush()
        os.fsync(stream.fileno())


def _same_owner(temporary: str, info: os.stat_result) -> bool:
    if not hasattr(os, "chown"):
        return True  # Windows: the replaced file's owner is the writer's anyway
    created = os.stat(temporary)
    if (created.st_uid, created.st_gid) == (info.st_uid, info.st_gid):
        return True
    try:
        os.chown(temporary, info.st_uid, info.st_gid)
    except OSError:
        return False
    return True


def _is_read_only(target: Path, info: os.stat_result) -> bool:
    # os.access answers "yes" to root for any file, so the mode's write bits decide too:
    # `chmod 444` means "do not change this" whoever runs the tool.
    no_write_bits = not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    return no_write_bits or not os.access(target, os.W_OK)


def _require_regular(info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise RefusedFile(f"not a regular file ({_kind(info.st_mode)})")


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a plain file")


def _size_text(limit: int) -> str:
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"


class _Terminated(SystemExit):
    """Raised by a terminating signal during a write, so the clean-up runs; exits 128 + signal."""


@contextmanager
def _termination_raises() -> Iterator[None]:
    """While writing, SIGTERM/SIGHUP raise (like Ctrl-C does) instead of ending the process
    on the spot, so no temporary file is left behind. Handlers can be set only in the main
    thread; handlers someone else installed are left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, _frame):
        raise _Terminated(128 + signum)

    previous = {}
    for signum in _TERMINATING_SIGNALS:
        if signal.getsignal(signum) == signal.SIG_DFL:
            previous[signum] = signal.signal(signum, terminate)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
