"""One process-wide pool of threads for sync tasks that cannot ask for feedback (they only compute or do I/O).

Its threads outlive a run, so workflows run one after another (in a notebook session, in a benchmark)
do not pay for starting threads again; its size is that of concurrent.futures' default. A process
forked from one that used it (multiprocessing's default on Linux) starts a pool of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool_in_child() -> None:
    """After a fork the child has none of the pool's threads, but the pool thinks its idle ones are
    there and would start no new one: work handed to it would never run. The child makes its own."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # (not on Windows)
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _shared_pool() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per process, created on first use
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="graflow-nb")
        return _pool


def running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop; None under another anyio backend (trio)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def run_in_shared_pool(func: Callable[[], T]) -> T:
    """Run ``func`` in the shared pool and return its result; a cancel waits for it to finish."""
    loop = running_asyncio_loop()
    if loop is None:
        return await anyio.to_thread.run_sync(func)
    context = contextvars.copy_context()
    future = loop.run_in_executor(_shared_pool(), context.run, func)
    with anyio.CancelScope(shield=True):  # like anyio.to_thread: never abandon a running task
        result = await future
    return result  # noqa: RET504 - returning inside the scope would hide the return from mypy


class PooledCalls:
    """Calls handed to the shared pool straight from the event loop, collected in batches as they finish.

    Awaiting each call in an event-loop task of its own costs more than a trivial task does: here the
    loop only submits, and one collector takes whatever finished since it last woke (one wake-up per
    batch, not per call). Made and used on the loop's thread; only ``_finished`` runs in workers.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # Workers append and decide whether to wake the loop; the loop takes a batch and re-arms the
        # wake-up. Both steps hold this lock: a worker preempted between its append and its check could
        # otherwise leave the wake-up armed with nothing queued, and no later call would wake the loop.
        self._lock = threading.Lock()
        self._done: deque[tuple[str, Future[Any]]] = deque()
        self._wake = asyncio.Event()
        self._wake_scheduled = False
        self.running = 0

    def submit(self, key: str, func: Callable[[], Any]) -> None:
        """Start ``func`` in the pool (in a copy of the current context); ``key`` names it when it is done."""
        future = _shared_pool().submit(contextvars.copy_context().run, func)
        self.running += 1
        future.add_done_callback(functools.partial(self._finished, key))

    def _finished(self, key: str, future: Future[Any]) -> None:
        """In the worker (or the loop, for a call done before its callback was added): queue, wake once."""
        with self._lock:
            self._done.append((key, future))
            if self._wake_scheduled:
                return
            self._wake_scheduled = True
        self._loop.call_soon_threadsafe(self._wake.set)

    async def next_finished(self) -> list[tuple[str, Future[Any]]]:
        """Wait until some calls have finished and return them (empty when none is running)."""
        while True:
            with self._lock:
                if self._done or not self.running:
                    self._wake_scheduled = False  # re-armed with the batch taken: a later call wakes us again
                    batch = list(self._done)
                    self._done.clear()
                    break
            await self._wake.wait()
            self._wake.clear()
        self.running -= len(batch)
        return batch
