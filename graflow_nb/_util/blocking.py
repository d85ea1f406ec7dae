"""Running an async function to its end from sync code, inside a running event loop or not."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def run_blocking(start: Callable[[], Awaitable[T]]) -> T:
    """Run an async function to completion from sync code.

    Where this thread already runs an event loop (a Jupyter kernel), the run gets a thread of its own.
    """
    import asyncio  # with anyio: loaded by the first run, not on import

    import anyio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop_running = False
    else:
        loop_running = True
    if not loop_running:
        return anyio.run(start)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(anyio.run(start))
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=target, name="graflow-nb-run")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
