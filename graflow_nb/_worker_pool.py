"""One process-wide pool of threads for sync tasks that cannot ask for feedback (they only compute or do I/O).

Its threads outlive a run, so workflows run one after another (in a notebook session, in a benchmark)
do not pay for starting threads again; its size is that of concurrent.futures' default.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


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
