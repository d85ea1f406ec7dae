"""The requests of a run on Graflow's workers, kept in Redis as Graflow keeps its own, and answered there.

Shown requests are written where Graflow's feedback manager writes (``feedback:request:<id>``, with the
whole graflow_nb request in its metadata), so ``graflow-nb answer ID --redis URL``, the Graflow panel of
another notebook and Graflow's own ``provide_feedback`` see and answer them. An answer stored there is
taken by the run as if given here (logged with who gave it, and via what); the first answer wins (see
``_io/redis_store.py``).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from .._io.graflow_redis import GraflowRedisRequests, response_from_graflow
from .._model.errors import GraflowRedisError, InvalidAnswerError
from .._model.feedback import FeedbackAlreadySettledError, FeedbackRequest, FeedbackResponse, given_fields

if TYPE_CHECKING:
    from .._engine.presenting import RunView, TaskState

logger = logging.getLogger("graflow_nb.redis")

#: Seconds between looks for answers stored in Redis.
POLL_INTERVAL = 0.2


class GraflowRedisMirror:
    """A presenter that keeps the run's requests in Redis and takes the answers stored there."""

    def __init__(self, requests: GraflowRedisRequests, poll_interval: float = POLL_INTERVAL) -> None:
        self._requests = requests
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._shown: dict[str, tuple[RunView, FeedbackRequest]] = {}  # pending requests, by id
        self._ended = threading.Event()
        self._watcher: threading.Thread | None = None
        self._lost = False  # Redis could not be reached: keep every shown request there again (under the lock)

    def task_changed(self, run: RunView, task_id: str, state: TaskState) -> None:
        """Graflow's requests say nothing of tasks."""

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        try:
            self._requests.put(request)
            kept = True
        except GraflowRedisError as error:
            logger.warning("graflow_nb: %s; %s is kept there once it answers", error, request.feedback_id)
            kept = False
        with self._lock:
            self._lost = self._lost or not kept
            self._shown[request.feedback_id] = (run, request)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, daemon=True, name="graflow_nb redis answers")
                self._watcher.start()

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """The request is settled: Redis says so too (an answer filed in the checkpoint folder, e.g. by
        ``provide_feedback()`` from another process, is stored there as well)."""
        with self._lock:
            self._shown.pop(request.feedback_id, None)
        if response is None:
            return
        try:
            first = self._requests.claim(response)
        except GraflowRedisError as error:
            logger.warning("graflow_nb: %s; Redis does not show %s answered", error, request.feedback_id)
            return
        if first is not None:  # stored in Redis a moment after the one the run took: that one was too late
            logger.warning(
                "graflow_nb: %s was answered by %s, before the answer %s stored in Redis",
                request.feedback_id,
                response.responded_by,
                first.responded_by,
            )

    def run_ended(self, run: RunView) -> None:
        """Requests still pending stay in Redis, answerable there: the run takes their answers on resume."""
        self._ended.set()

    def _watch(self) -> None:
        while not self._ended.wait(self._poll_interval):
            with self._lock:
                shown, lost, self._lost = dict(self._shown), self._lost, False
            try:
                if lost:  # Redis came back, perhaps empty (restarted without saving): keep them again
                    for _, request in shown.values():
                        self._requests.put(request)
                stored = self._requests.responses(list(shown))
            except GraflowRedisError:
                with self._lock:
                    self._lost = True  # Redis restarting: look again
                continue
            for feedback_id, response in stored.items():
                run, request = shown[feedback_id]
                self._take(run, request, response)

    def _take(self, run: RunView, request: FeedbackRequest, stored: dict[str, object]) -> None:
        """Give the run an answer stored in Redis, as given by its author via what they used."""
        with self._lock:
            if self._shown.pop(request.feedback_id, None) is None:
                return
        try:
            response = response_from_graflow(request, dict(stored))
            run.answer(
                request.feedback_id, via=response.via, responded_by=response.responded_by, **given_fields(response)
            )
        except FeedbackAlreadySettledError:
            pass  # answered here first, or the run has ended: the run has its answer
        except InvalidAnswerError as error:
            logger.warning("graflow_nb: the answer stored in Redis for %s is refused: %s", request.feedback_id, error)
