"""Running quick sync tasks on the event loop's own thread, without starving checkpoints.

A thread switch costs far more than a trivial task. So a sync task that is alone in flight (nothing
else could run meanwhile anyway) and cannot ask for feedback runs directly on the loop's thread. If it
turns out to be long, a watchdog thread saves the unsaved progress of the tasks before it, as the
loop's own coalesced writer would have: the run's state cannot change while such a task runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class InlineRunner:
    """Calls tasks on the current thread; ``save`` runs on a watchdog thread while one runs long."""

    def __init__(self, interval: float, save: Callable[[], None]) -> None:
        self._interval = interval
        self._save = save
        self._lock = threading.Lock()  # held while the watchdog saves: the loop waits before changing state
        self._since: float | None = None
        self._stopped = threading.Event()
        self._watchdog: threading.Thread | None = None

    def run(self, call: Callable[[], T]) -> T:
        """Return ``call()``; while it runs longer than the interval, progress is saved meanwhile."""
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="graflow-nb-watchdog", daemon=True)
            self._watchdog.start()
        self._since = time.monotonic()
        try:
            return call()
        finally:
            with self._lock:
                self._since = None

    def close(self) -> None:
        """Stop the watchdog (it ends at once on its own: no task runs, so it has nothing to save)."""
        self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(self._interval):
            with self._lock:
                since = self._since
                if since is not None and time.monotonic() - since >= self._interval:
                    self._save()
