"""A nudge from the process that filed an answer to the run waiting for it, so the run reads the
answers folder now instead of at its next poll.

A run with requests waiting listens on a UDP port of 127.0.0.1 and names it in
``<checkpoint_dir>/wake/<run_id>`` (``"<port> <pid>"``). Whoever files an answer, a closure or a
deadline into the folder sends one empty datagram to every listener named there whose process is
alive. The datagram carries nothing: it only ends the run's wait early, so a stray one costs one
directory listing. The poll stays, for folders shared across machines and for a lost datagram.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from .._util.processes import process_alive

if TYPE_CHECKING:  # anyio is imported by the run that listens, not by the process that nudges
    from anyio.abc import UDPSocket

LOCALHOST = "127.0.0.1"
#: A listener file is a few bytes; anything larger is not one of ours.
LISTENER_FILE_LIMIT = 64


def wake_directory(checkpoint_dir: Path) -> Path:
    """Where the runs waiting on this folder name their ports."""
    return checkpoint_dir / "wake"


class WakeListener:
    """The run's side: the bound socket, for as long as :func:`listening`'s block runs."""

    def __init__(self, udp: UDPSocket) -> None:
        self._udp = udp

    async def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a nudge; whether one came."""
        import anyio

        with anyio.move_on_after(seconds):
            await self._udp.receive()
            return True
        return False


@contextlib.asynccontextmanager
async def listening(checkpoint_dir: Path, run_id: str) -> AsyncIterator[WakeListener | None]:
    """Listen for nudges to ``run_id`` while the block runs; None when no port could be had (the
    caller polls, as it would anyway). The listener file is written and removed in a worker thread: the
    loop may be a kernel's, which must never wait on the disk."""
    import anyio
    import anyio.to_thread
    from anyio.abc import SocketAttribute

    try:
        udp = await anyio.create_udp_socket(family=socket.AF_INET, local_host=LOCALHOST)
    except OSError:
        yield None
        return
    path = wake_directory(checkpoint_dir) / run_id
    try:
        port = udp.extra(SocketAttribute.local_port)
        try:
            await anyio.to_thread.run_sync(_name_port, path, port)
        except OSError:
            yield None
            return
        try:
            yield WakeListener(udp)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_remove_if_ours, path, port)
    finally:
        await udp.aclose()


def _name_port(path: Path, port: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"{port} {os.getpid()}".encode())  # a torn read is skipped: the poll remains


def _remove_if_ours(path: Path, port: int) -> None:
    """Remove the listener file unless a newer run of the same id (a resume) has replaced it."""
    if _read_listener(path) == (port, os.getpid()):
        path.unlink(missing_ok=True)


def _read_listener(path: Path) -> tuple[int, int] | None:
    try:
        with path.open("rb") as file:
            raw = file.read(LISTENER_FILE_LIMIT + 1)
    except OSError:
        return None
    try:
        port_text, pid_text = raw.decode("ascii").split()
        port, pid = int(port_text), int(pid_text)
    except ValueError:
        return None
    if len(raw) > LISTENER_FILE_LIMIT or not (0 < port < 65536 and pid > 0):
        return None
    return port, pid


def nudge_waiting_runs(checkpoint_dir: Path) -> int:
    """Tell every run listening on this folder to look at its answers now; how many were told.

    Never raises: a run not told still finds the answer at its next poll.
    """
    try:
        entries = list(os.scandir(wake_directory(checkpoint_dir)))
    except OSError:
        return 0
    told = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for entry in entries:
            listener = _read_listener(Path(entry.path))
            if listener is None or not process_alive(listener[1]):
                continue
            with contextlib.suppress(OSError):
                sender.sendto(b"", (LOCALHOST, listener[0]))
                told += 1
    return told
