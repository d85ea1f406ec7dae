"""Crossing into a run's event loop from other threads: tasks' worker threads, widgets, the API.

Once the run has ended, a call that was waiting for the loop is told so (RunEndedError) instead of
hanging, and later calls are refused the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import CancelledError, Future
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
from typing_extensions import TypeVarTuple, Unpack

from .._model.errors import BlockingCallError
from .._model.status import RunStatus
from .._util.worker_pool import running_asyncio_loop
from .state import RunEndedError

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class LoopBridge:
    """The way into one run's event loop from other threads, open from the run's start to its end."""

    def __init__(self, status: Callable[[], RunStatus]) -> None:
        self._status = status  # the run's status, told to callers the run's end turns away
        self._loop_thread: int | None = None
        self.token: anyio.lowlevel.EventLoopToken | None = None  #: None until the run starts
        self._asyncio_loop: asyncio.AbstractEventLoop | None = None
        self._crossings: set[Future[Any]] = set()  # calls from other threads waiting for the loop
        self._lock = threading.Lock()
        self._closed = False

    def open(self) -> None:
        """The run starts on this thread's event loop."""
        self._loop_thread = threading.get_ident()
        self.token = anyio.lowlevel.current_token()
        self._asyncio_loop = running_asyncio_loop()

    def close(self) -> None:
        """The run has ended: calls from other threads not yet run never will (their callers are told)."""
        with self._lock:
            self._closed = True
            waiting = list(self._crossings)
        for crossing in waiting:
            crossing.cancel()

    def on_loop_thread(self) -> bool:
        """Whether the caller runs on the run's event loop thread."""
        return threading.get_ident() == self._loop_thread

    def require_worker_thread(self, async_alternative: str) -> None:
        """Refuse a blocking call made from the event loop, where it would freeze every task."""
        if self.on_loop_thread():
            raise BlockingCallError(
                f"this call blocks, and it was made from an async task; use `await {async_alternative}(...)`"
            )

    def call_from_worker(self, func: Callable[[Unpack[Ts]], Coroutine[Any, Any, T]], *args: Unpack[Ts]) -> T:
        """Run a coroutine function on the loop from a worker thread and wait for its result."""
        return anyio.from_thread.run(func, *args, token=self.token)

    def run_on_loop(self, func: Callable[[], T]) -> T:
        """``func()`` on the loop's thread, called from another thread, waiting for it; raises
        RunEndedError if the run ends before it ran (a call queued as the loop stops never hangs)."""
        if self.on_loop_thread():  # waiting here for the loop would wait for ourselves
            return func()
        crossing: Future[T] = Future()

        def call() -> None:
            if crossing.set_running_or_notify_cancel():  # not dropped by the run's end meanwhile
                try:
                    crossing.set_result(func())
                except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
                    crossing.set_exception(error)

        with self._lock:
            if self._closed or self.token is None:
                raise RunEndedError(self._status())
            self._crossings.add(crossing)
        try:
            if self._asyncio_loop is not None:
                self._asyncio_loop.call_soon_threadsafe(call)  # RuntimeError once the loop is closed
            else:
                anyio.from_thread.run_sync(call, token=self.token)
            return crossing.result()
        except (CancelledError, RuntimeError):
            if crossing.done() and not crossing.cancelled():
                raise  # func's own RuntimeError
            raise RunEndedError(self._status()) from None
        finally:
            with self._lock:
                self._crossings.discard(crossing)

    def call_soon(self, func: Callable[[Unpack[Ts]], object], *args: Unpack[Ts]) -> None:
        """Run ``func`` on the loop: directly when already there, else soon, without waiting for it
        (the loop may be busy with a task running on its thread)."""
        if self.on_loop_thread():
            func(*args)
        elif self._asyncio_loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
                self._asyncio_loop.call_soon_threadsafe(func, *args)
        else:
            anyio.from_thread.run_sync(func, *args, token=self.token)
