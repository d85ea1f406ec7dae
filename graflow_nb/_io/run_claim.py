"""One run, one runner: an OS lock held for as long as an engine may run a run.

``<checkpoint_dir>/locks/<run_id>.lock`` is locked with ``flock`` when an engine is prepared for the
run and unlocked when that engine ends. Another process, or a second engine in this one (``flock``
locks belong to an open file, not to a process), gets :class:`RunInUseError` at once. The lock ends
with its process, however it ends, so a crashed owner never blocks a resume, whatever became of its
process id.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from .._model.checkpoint_format import RUN_ID_PATTERN
from .._model.errors import RunInUseError
from .._model.status import RunStatus
from .._util.processes import process_alive

if TYPE_CHECKING:
    from .._model.checkpoint import CheckpointDocument

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; runs are then not guarded across processes
    fcntl = None  # type: ignore[assignment]


class RunClaim:
    """The right to run one run, held by this process until :meth:`release` (or its end)."""

    def __init__(self, run_id: str, path: Path, descriptor: int | None) -> None:
        self.run_id = run_id
        self.path = path
        self._descriptor = descriptor

    @classmethod
    def acquire(cls, directory: Path, run_id: str) -> RunClaim:
        """Claim ``run_id`` now, or raise RunInUseError if another engine holds it."""
        if not RUN_ID_PATTERN.fullmatch(run_id):
            raise RunInUseError(f"{run_id!r} is not a run id graflow_nb writes; refusing to use it")
        locks = directory / "locks"
        path = locks / f"{run_id}.lock"
        if fcntl is None:
            return cls(run_id, path, None)
        locks.mkdir(parents=True, exist_ok=True)
        while True:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                raise RunInUseError(f"run {run_id} is being run by another process or another cell right now") from None
            # the holder before us may have removed the file as it let go: lock the file that is there now
            try:
                same = os.fstat(descriptor).st_ino == path.lstat().st_ino
            except FileNotFoundError:
                same = False
            if same:
                return cls(run_id, path, descriptor)
            os.close(descriptor)

    @property
    def held(self) -> bool:
        """Whether this claim still holds its run."""
        return self._descriptor is not None or fcntl is None

    def release(self) -> None:
        """Let the run go (idempotent): the lock file is removed, then unlocked."""
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(descriptor)

    def __repr__(self) -> str:
        return f"<RunClaim {self.run_id} {'held' if self._descriptor is not None else 'released'}>"


def owner_alive(document: CheckpointDocument) -> bool:
    """Whether the process a running run's checkpoint names as running it is still there (read only:
    taking the run's lock to find out could make a resume starting that moment fail). A process of
    another machine (a shared folder) is taken at its word."""
    if document.status is not RunStatus.RUNNING or document.owner_pid is None:
        return False
    if document.owner_host not in (None, socket.gethostname()):
        return True
    return process_alive(document.owner_pid)
