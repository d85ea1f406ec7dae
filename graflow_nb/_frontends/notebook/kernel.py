"""The Jupyter kernel this code runs in, and serving its widget messages while a cell blocks.

A cell that blocks (``wf.execute()``) keeps the kernel from reading its shell channel, so widget
clicks would wait until the cell ends: a deadlock when the cell waits for the click. While such a
cell waits, :class:`ShellPump` reads the shell messages itself: comm messages (widget clicks and
value changes) are handled at once; anything else (the next cells of "Run All") is handed back to
the kernel, in order, when the cell ends. Supports ipykernel 6 and 7.

Every widget message handled while a cell runs is framed as the kernel frames it between cells: a
``busy`` and an ``idle`` status whose parent is that message, and the message as the parent of what the
handler sends back (ipywidgets' echo of the new value). ipywidgets' frontend keeps one update per
control in flight and sends the next only after that ``idle``; without it, only the first change to a
control would ever reach the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import zmq

from ..._util.environment import running_kernel

__all__ = [
    "MainThreadCalls",
    "ShellPump",
    "answering",
    "await_serving_widgets",
    "frame_concurrent_widget_messages",
    "handle_comm_message",
    "running_kernel",
]

_LET_EARLIER_MESSAGES_QUEUE = 5  # event-loop turns for ipykernel 7's pending shell tasks to reach its lock
_COMM_MESSAGES = frozenset({"comm_open", "comm_msg", "comm_close"})


def handle_comm_message(kernel: Any, frames: list[Any], reply_stream: Any) -> bool:
    """Hand a widget (comm) message to its handler now; return False for any other message."""
    session = kernel.session
    idents, message_frames = session.feed_identities(frames, copy=False)
    # Peek at the header without verifying the message: a verified signature is remembered by the
    # session, which would then refuse the message when the kernel itself handles it later.
    header = message_frames[1].bytes if hasattr(message_frames[1], "bytes") else message_frames[1]
    msg_type = json.loads(header).get("msg_type")
    handler = kernel.shell_handlers.get(msg_type) if msg_type in _COMM_MESSAGES else None
    if handler is None:
        return False
    message = session.deserialize(message_frames, content=True, copy=False)
    with answering(kernel, idents, message):
        try:
            handler(reply_stream, idents, message)
        except Exception:
            kernel.log.exception("graflow_nb: widget message handler failed")
    return True


def _kernel_parent(kernel: Any) -> tuple[Any, Any]:
    """The shell request the kernel answers now (a running cell's), as (idents, message)."""
    ident_var = getattr(kernel, "_shell_parent_ident", None)
    if ident_var is not None:  # ipykernel 7 keeps them in context variables
        return ident_var.get(), kernel._shell_parent.get()
    return kernel._parent_ident.get("shell"), kernel._parents.get("shell")


@contextlib.contextmanager
def answering(kernel: Any, idents: Any, message: dict[str, Any]) -> Iterator[None]:
    """Frame a widget message handled while a cell runs as the kernel frames one between cells.

    Only the kernel's own parent changes (ipykernel's base ``set_parent``), not the output streams':
    what the cell and its tasks print meanwhile still goes to the cell.
    """
    from ipykernel.kernelbase import Kernel as BaseKernel

    set_kernel_parent: Callable[..., None] = BaseKernel.set_parent
    cell_idents, cell = _kernel_parent(kernel)
    with _busy_then_idle(kernel, message, cell, lambda: True):
        set_kernel_parent(kernel, idents, message, "shell")
        try:
            yield
        finally:
            set_kernel_parent(kernel, cell_idents, cell, "shell")


@contextlib.contextmanager
def _busy_then_idle(kernel: Any, message: Any, cell: Any, cell_runs: Callable[[], bool]) -> Iterator[None]:
    """The status frame of one handled message: busy, idle (parent: the message), then busy again for the
    cell if it still runs, so the kernel is not shown idle while it runs a cell."""
    kernel._publish_status("busy", "shell", parent=message)
    try:
        yield
    finally:
        kernel._publish_status("idle", "shell", parent=message)
        if cell and cell_runs():
            kernel._publish_status("busy", "shell", parent=cell)


def frame_concurrent_widget_messages(kernel: Any) -> None:
    """Make ipykernel 7 frame the widget messages it handles while a cell awaits (once per kernel).

    ipykernel 7 dispatches them beside the awaiting cell (``concurrent=True``) but publishes no busy or
    idle status for them, so a control's second change would never be sent by the browser.
    """
    original = type(kernel).dispatch_shell
    if "concurrent" not in inspect.signature(original).parameters or "dispatch_shell" in vars(kernel):
        return

    async def dispatch_shell(msg: Any, /, subshell_id: str | None = None, *, concurrent: bool = False) -> None:
        if not concurrent:
            await original(kernel, msg, subshell_id=subshell_id)
            return
        _, frames = kernel.session.feed_identities(msg, copy=False)
        header = kernel.session.deserialize(frames, content=False, copy=False)  # no digest recorded
        cell = kernel.get_parent("shell")
        with _busy_then_idle(kernel, header, cell, kernel._main_asyncio_lock.locked):  # locked: the cell runs
            await original(kernel, msg, subshell_id=subshell_id, concurrent=True)

    kernel.dispatch_shell = dispatch_shell


async def await_serving_widgets(kernel: Any, finished: asyncio.Future[Any]) -> None:
    """Await ``finished`` from a cell while widget messages keep being handled.

    ipykernel 7 already handles them while a cell awaits. ipykernel 6 queues them behind the awaiting
    cell, so they are taken from its queue and handled here; everything else goes back, in order.
    """
    queue = getattr(kernel, "msg_queue", None)
    if queue is None or hasattr(kernel, "shell_main"):
        await asyncio.wait({finished})
        return
    kept: list[Any] = []
    try:
        while not finished.done():
            while True:
                try:
                    item = queue.get_nowait()
                except Exception:  # noqa: BLE001 - asyncio's or tornado's QueueEmpty
                    break
                _, dispatch, args = item
                is_shell = getattr(dispatch, "__func__", None) is getattr(type(kernel), "dispatch_shell", None)
                if not (is_shell and handle_comm_message(kernel, args[0], kernel.shell_stream)):
                    kept.append(item)
            await asyncio.wait({finished}, timeout=0.01)
    finally:
        # Whatever arrived since the last look came after the kept messages: take it too, then put
        # everything back in the order it arrived (put back alone, the kept ones would go last).
        while True:
            try:
                kept.append(queue.get_nowait())
            except Exception:  # noqa: BLE001 - asyncio's or tornado's QueueEmpty
                break
        for item in kept:
            queue.put_nowait(item)


class MainThreadCalls:
    """Runs callables on the kernel's main thread, where widgets must be created and updated.

    From the main thread a call runs at once; from another thread it goes through the kernel's
    event loop, or through the pump while a blocking cell runs it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pump: ShellPump | None = None

    def call(self, function: Callable[[], object]) -> None:
        """Run ``function`` on the main thread, now or soon."""
        if threading.current_thread() is threading.main_thread():
            function()
            return
        with self._lock:
            if self._pump is not None:
                self._pump.enqueue(function)
                return
        self._loop.call_soon_threadsafe(function)

    def call_later(self, seconds: float, function: Callable[[], object]) -> None:
        """Run ``function`` on the main thread in ``seconds`` (from any thread; a timer thread waits)."""
        timer = threading.Timer(seconds, self.call, args=(function,))
        timer.daemon = True
        timer.start()

    def call_on_loop(self, function: Callable[[], object]) -> None:
        """Run ``function`` on the kernel's event loop (from any thread), even after a blocking cell ended."""
        self._loop.call_soon_threadsafe(function)

    def pumping(self, pump: ShellPump | None) -> None:
        """Route calls through ``pump`` while it runs (None when it stops)."""
        with self._lock:
            self._pump = pump


class ShellPump:
    """Handles the kernel's incoming widget messages from inside a blocking cell (main thread only)."""

    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel
        channel_thread = getattr(kernel, "shell_channel_thread", None)
        if channel_thread is not None:  # ipykernel 7: the shell channel thread forwards to the main thread
            self._socket = channel_thread.manager._shell_channel_to_main.to_socket
            self._reply_stream = channel_thread.manager.get_subshell_to_shell_channel_socket(None)
        else:  # ipykernel 6 (or 7 without subshells): the main thread reads the shell socket
            self._socket = kernel.shell_stream.socket
            self._reply_stream = kernel.shell_stream
        self._deferred: list[Any] = []
        self._handed_back: set[asyncio.Future[Any]] = set()  # keeps the kernel's tasks referenced
        self._calls: deque[Callable[[], object]] = deque()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        # wake() runs in other threads; closing the pipe under the same lock means no thread ever writes
        # to its descriptor number after it was closed (and perhaps reused for another file)
        self._pipe_lock = threading.Lock()
        self._pipe_open = True

    def enqueue(self, function: Callable[[], object]) -> None:
        """Queue a call for the main thread and wake the pump (any thread)."""
        self._calls.append(function)
        self.wake()

    def wake(self) -> None:
        """Make the pump look at its queue and its stop condition now (any thread)."""
        with self._pipe_lock:
            if self._pipe_open:
                with contextlib.suppress(BlockingIOError):  # the pipe is full: the pump is awake anyway
                    os.write(self._wake_write, b"x")

    def run_until(
        self,
        finished: Callable[[], bool],
        tick: Callable[[], object],
        tick_seconds: float = 0.1,
        on_interrupt: Callable[[], object] | None = None,
    ) -> bool:
        """Serve widget messages and queued calls until ``finished()``; call ``tick`` regularly.

        An interrupt (the ■ button, nbclient's interrupt_on_timeout) calls ``on_interrupt`` and the pump
        goes on serving until ``finished()``: the run it waits for must first save itself. Returns
        whether it was interrupted (the caller raises KeyboardInterrupt once everything has ended).
        """
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._wake_read, zmq.POLLIN)
        interrupted = False
        try:
            while True:
                try:
                    self._run_calls()
                    self._read_shell()
                    if finished():
                        break
                    tick()
                    poller.poll(int(tick_seconds * 1000))
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_read, 4096)
                except KeyboardInterrupt:
                    if on_interrupt is None:
                        raise
                    interrupted = True
                    on_interrupt()
        finally:
            self._run_calls()
            self._hand_back()
            with self._pipe_lock:
                self._pipe_open = False
                os.close(self._wake_read)
                os.close(self._wake_write)
        return interrupted

    def _run_calls(self) -> None:
        while self._calls:
            self._calls.popleft()()

    def _read_shell(self) -> None:
        while True:
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if not handle_comm_message(self._kernel, frames, self._reply_stream):
                self._deferred.append(frames)

    def _hand_back(self) -> None:
        """Give the messages kept back (e.g. the next cells' execute requests) to the kernel, in order."""
        kernel = self._kernel
        deferred, self._deferred = self._deferred, []
        if not hasattr(kernel, "shell_main"):  # ipykernel 6: its queue keeps the order
            for frames in deferred:
                kernel.schedule_dispatch(kernel.dispatch_shell, frames)
            return

        async def in_order() -> None:
            # ipykernel 7 may already hold tasks for messages it read before this cell blocked; let them
            # queue on the shell lock first, then queue ours behind them, in the order they arrived.
            for _ in range(_LET_EARLIER_MESSAGES_QUEUE):
                await asyncio.sleep(0)
            for frames in deferred:
                task = asyncio.ensure_future(kernel.shell_main(None, frames))
                self._handed_back.add(task)
                task.add_done_callback(self._handed_back.discard)
                await asyncio.sleep(0)

        self._handed_back.add(asyncio.ensure_future(in_order()))
