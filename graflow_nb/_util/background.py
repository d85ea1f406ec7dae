"""Small file writes that must not hold up an event loop (the decision log, an answers file).

A write asked for on a thread that runs an event loop (the kernel's, an engine's) is handed to one
background thread and the call returns at once; writes run there one after another, in the order they
were asked for. A write asked for on any other thread (a script, the CLI) is done before the call
returns, after those queued before it. Readers call :meth:`BackgroundWrites.wait` first, so a process
always reads its own writes; the interpreter waits for them at exit.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable

logger = logging.getLogger("graflow_nb")


def _on_event_loop() -> bool:
    asyncio = sys.modules.get("asyncio")  # no loop runs before asyncio is imported: the CLI need not import it
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class BackgroundWrites:
    """One ordered queue of writes and the thread that does them; the thread ends when idle."""

    def __init__(self, idle_exit: float = 1.0) -> None:
        self.idle_exit = idle_exit
        self._changed = threading.Condition()
        self._queue: deque[tuple[int, Callable[[], None]]] = deque()
        self._asked = 0  # how many writes were asked for
        self._done = 0  # how many of them have been done (in order)
        self._writer: threading.Thread | None = None

    def run(self, write: Callable[[], None]) -> None:
        """Do ``write``: queued if this thread runs an event loop, else now (after the writes queued before)."""
        on_loop = _on_event_loop()
        with self._changed:
            if (not on_loop and self._done == self._asked) or threading.current_thread() is self._writer:
                number = None
            else:
                self._asked += 1
                number = self._asked
                self._queue.append((number, write))
                if self._writer is None:
                    self._writer = threading.Thread(target=self._write_queued, name="graflow-nb-writes", daemon=True)
                    self._writer.start()
                self._changed.notify_all()
                if on_loop:
                    return
                self._changed.wait_for(lambda: self._done >= number)
        if number is None:
            _do(write)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every write asked for so far is done; False if ``timeout`` passed first."""
        with self._changed:
            asked = self._asked
            return self._changed.wait_for(lambda: self._done >= asked, timeout)

    def _write_queued(self) -> None:
        while True:
            with self._changed:
                if not self._queue and not self._changed.wait_for(lambda: bool(self._queue), self.idle_exit):
                    self._writer = None
                    return
                number, write = self._queue.popleft()
            _do(write)
            with self._changed:
                self._done = number
                self._changed.notify_all()


def _do(write: Callable[[], None]) -> None:
    try:
        write()
    except Exception:  # a write says what went wrong itself; one that raises must not stop the others
        logger.exception("graflow_nb: a background write failed")


#: The process's background writes.
background_writes = BackgroundWrites()
atexit.register(background_writes.wait, 5.0)
