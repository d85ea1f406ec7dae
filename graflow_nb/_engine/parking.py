"""Parking sync tasks that wait for a person, so that a batch of thousands does not hold a thread each.

A sync task's ``ctx.request_feedback`` blocks its thread until the answer comes (~88 kB of memory with
the thread). Up to :func:`threads_for_waiting` tasks of a run wait so; the next one that asks is
*parked*: :class:`TaskParked` unwinds it, freeing its thread, the run waits for the answer on its loop
(as for an ``async def`` task), then runs the task again from its start. Each call of the re-run is
given what the same call got before (:class:`Outcome`), the answer last: a task re-run so must be
idempotent, as it must be for a resume (the guide's rule).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._model.feedback import FeedbackRequest, FeedbackResponse, LiveParts

#: Environment variable setting how many sync tasks of a run may wait for an answer holding a thread.
WAITING_THREADS_ENV = "GRAFLOW_NB_WAITING_THREADS"
DEFAULT_WAITING_THREADS = 128


def threads_for_waiting() -> int:
    """How many sync tasks of a run wait for an answer in a thread (``$GRAFLOW_NB_WAITING_THREADS``)."""
    configured = os.environ.get(WAITING_THREADS_ENV, "").strip()
    if not configured:
        return DEFAULT_WAITING_THREADS
    try:
        count = int(configured)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(f"${WAITING_THREADS_ENV} must be a whole number >= 0, not {configured!r}")
    return count


class ThreadBudget:
    """How many of a run's threads may wait for an answer; taken and given back by worker threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._taken = 0

    def take(self) -> bool:
        """Take one thread's place; False when all are taken (the asking task is parked)."""
        with self._lock:
            if self._taken >= self.size:
                return False
            self._taken += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._taken -= 1

    @property
    def taken(self) -> int:
        with self._lock:
            return self._taken


@dataclass(frozen=True)
class Outcome:
    """What one ``request_feedback`` call of a task got: an answer, an error, or None (the run stops)."""

    request: FeedbackRequest
    response: FeedbackResponse | None = None
    error: Exception | None = None

    def given(self) -> FeedbackResponse | None:
        """The answer again, or the error raised again."""
        if self.error is not None:
            raise self.error
        return self.response


class TaskParked(BaseException):
    """Unwinds a sync task whose request waits without a thread (a BaseException: ``except Exception``
    in the task does not catch it); the run asks, waits, and runs the task again."""

    def __init__(self, request: FeedbackRequest, live: LiveParts) -> None:
        super().__init__(f"{request.task_id} waits for {request.feedback_id} without a thread")
        self.request = request
        self.live = live
