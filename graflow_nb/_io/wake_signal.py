"""A nudge from the process that filed an answer to the run waiting for it, so the run reads the
answers folder now instead of at its next poll.

A run with requests waiting listens on a UDP port of 127.0.0.1 and names it in
``<checkpoint_dir>/wake/<run_id>`` (``"<port> <pid> <token>"``, readable by its owner only). Whoever
files an answer, a closure or a deadline into the folder sends one empty datagram to every listener
named there whose process is alive. The datagram carries nothing: it only ends the run's wait early,
so a stray one costs one directory listing. The poll stays, for folders shared across machines and
for a lost datagram. A datagram with content is a message for the run (``answer_handoff.py``): only
one carrying the file's token is heeded, so only its owner's processes can send one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._util.processes import process_alive

if TYPE_CHECKING:  # anyio is imported by the run that listens, not by the process that nudges
    from anyio.abc import UDPSocket

LOCALHOST = "127.0.0.1"
#: A listener file is a few bytes; anything larger is not one of ours.
LISTENER_FILE_LIMIT = 128
#: The largest message read from a listener's port (an answer with a form's data).
MESSAGE_LIMIT = 65_000


@dataclass(frozen=True)
class Listener:
    """A waiting run's entry in the wake folder."""

    port: int
    pid: int
    token: str  #: "" in a file written before tokens (nudges only)


@dataclass(frozen=True)
class Message:
    """A datagram a listener received: its content and where to reply."""

    content: bytes
    sender: tuple[str, int]


def wake_directory(checkpoint_dir: Path) -> Path:
    """Where the runs waiting on this folder name their ports."""
    return checkpoint_dir / "wake"


class WakeListener:
    """The run's side: the bound socket, for as long as :func:`listening`'s block runs."""

    def __init__(self, udp: UDPSocket, token: str) -> None:
        self._udp = udp
        self.token = token  #: what a message must carry to be heeded

    async def wait(self, seconds: float) -> Message | None:
        """Wait up to ``seconds`` for a datagram: the nudge or message that came, else None."""
        import anyio

        with anyio.move_on_after(seconds):
            content, sender = await self._udp.receive()
            return Message(content[:MESSAGE_LIMIT], (sender[0], sender[1]))
        return None

    async def reply(self, message: Message, content: bytes) -> None:
        """Send ``content`` back to a message's sender (a lost reply makes the sender fall back)."""
        with contextlib.suppress(OSError):
            await self._udp.sendto(content, *message.sender)


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
        listener = Listener(udp.extra(SocketAttribute.local_port), os.getpid(), secrets.token_hex(16))
        try:
            await anyio.to_thread.run_sync(_name_port, path, listener)
        except OSError:
            yield None
            return
        try:
            yield WakeListener(udp, listener.token)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_remove_if_ours, path, listener)
    finally:
        await udp.aclose()


def _name_port(path: Path, listener: Listener) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{listener.pid}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the token is a secret
    try:
        os.write(descriptor, f"{listener.port} {listener.pid} {listener.token}".encode())
    finally:
        os.close(descriptor)
    temporary.replace(path)  # whole or not at all: a reader never sees half a token


def _remove_if_ours(path: Path, listener: Listener) -> None:
    """Remove the listener file unless a newer run of the same id (a resume) has replaced it."""
    if read_listener(path) == listener:
        path.unlink(missing_ok=True)


def read_listener(path: Path) -> Listener | None:
    """The listener a wake file names, or None for anything that is not one."""
    try:
        with path.open("rb") as file:
            raw = file.read(LISTENER_FILE_LIMIT + 1)
    except OSError:
        return None
    try:
        port_text, pid_text, *token = raw.decode("ascii").split()
        port, pid = int(port_text), int(pid_text)
    except ValueError:
        return None
    if len(raw) > LISTENER_FILE_LIMIT or not (0 < port < 65536 and 0 < pid < 2**31) or len(token) > 1:
        return None
    return Listener(port, pid, token[0] if token else "")


def live_listeners(checkpoint_dir: Path) -> list[Listener]:
    """The runs listening on this folder whose processes are alive."""
    try:
        entries = list(os.scandir(wake_directory(checkpoint_dir)))
    except OSError:
        return []
    found = (read_listener(Path(entry.path)) for entry in entries if not entry.name.startswith("."))
    return [listener for listener in found if listener is not None and process_alive(listener.pid)]


def nudge_waiting_runs(checkpoint_dir: Path) -> int:
    """Tell every run listening on this folder to look at its answers now; how many were told.

    Never raises: a run not told still finds the answer at its next poll.
    """
    told = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for listener in live_listeners(checkpoint_dir):
            with contextlib.suppress(OSError):
                sender.sendto(b"", (LOCALHOST, listener.port))
                told += 1
    return told
