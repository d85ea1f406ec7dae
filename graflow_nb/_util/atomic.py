"""Crash-safe file writes: a file on disk is always either the old version or the new one, whole."""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time
from pathlib import Path

from .processes import process_alive


def _write_temporary(path: Path, data: bytes) -> Path:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(descriptor, view)
            view = view[written:]
        os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)
        temporary.unlink(missing_ok=True)
        raise
    os.close(descriptor)
    return temporary


def _sync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync of the folder."""
    temporary = _write_temporary(path, data)
    try:
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def create_exclusively(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` only if it does not exist yet; return whether this call created it.

    The file appears whole (hard link of a synced temporary file), and of two racing callers in
    any processes exactly one wins.
    """
    temporary = _write_temporary(path, data)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)
    return True


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary file left by a write (e.g. one a crash interrupted)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


#: Environment variable raising (or lowering) the largest file graflow_nb reads from a checkpoint folder.
MAX_FILE_MB_ENV = "GRAFLOW_NB_MAX_FILE_MB"
DEFAULT_MAX_FILE_MB = 2048


def max_file_bytes() -> int:
    """The largest file read from a checkpoint folder (``$GRAFLOW_NB_MAX_FILE_MB``, default 2048 MB)."""
    configured = os.environ.get(MAX_FILE_MB_ENV, "")
    try:
        megabytes = float(configured) if configured else DEFAULT_MAX_FILE_MB
    except ValueError:
        megabytes = DEFAULT_MAX_FILE_MB
    return int(megabytes * 1024 * 1024)


class UnsafeFileError(OSError):
    """A file in a checkpoint folder that graflow_nb will not read: not a regular file, or too large."""


def read_regular_file(path: Path, limit: int | None = None) -> bytes:
    """Read ``path`` if it is a regular file (not a link, FIFO or device) of at most ``limit`` bytes.

    A folder may come from elsewhere (a cloned repository): a link to ``/dev/zero`` must not exhaust
    memory, nor a FIFO hang the reader.
    """
    limit = max_file_bytes() if limit is None else limit
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFileError(
                errno.ELOOP, "is a symbolic link; graflow_nb reads only regular files", str(path)
            ) from None
        raise
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise UnsafeFileError(errno.EINVAL, "is not a regular file", str(path))
        if status.st_size > limit:
            raise UnsafeFileError(
                errno.EFBIG,
                f"is {status.st_size / 2**20:.0f} MB, over the {limit / 2**20:.0f} MB limit "
                f"(raise it with {MAX_FILE_MB_ENV})",
                str(path),
            )
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise UnsafeFileError(errno.EFBIG, f"grew past the {limit / 2**20:.0f} MB limit while read", str(path))
        return data
    finally:
        os.close(descriptor)


_TEMPORARY_NAME = re.compile(r"\..+\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")
STALE_TEMPORARY_SECONDS = 3600


def sweep_stale_temporaries(directory: Path) -> int:
    """Remove temporary files a crashed write left in ``directory``; return how many.

    A temporary file is stale when the process that wrote it is gone, or when it is older than an
    hour (a write takes milliseconds; a process id may have been reused).
    """
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    now = time.time()
    for entry in entries:
        match = _TEMPORARY_NAME.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMPORARY_SECONDS
            if old or not process_alive(int(match["pid"])):
                Path(entry.path).unlink()
                removed += 1
        except OSError:
            continue
    return removed
