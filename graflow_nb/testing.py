"""Helpers for trying and testing graflow_nb workflows.

``ScriptedAnswers`` and ``RecordingPresenter`` are real presenters (``wf.run(presenters=[...])``)
that answer requests from a script or record them; ``WebhookReceiver`` is a local HTTP server
that records the notifications POSTed to it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._io.webhook_receiver import ReceivedPost, WebhookReceiver
from ._model.feedback import FeedbackRequest, FeedbackResponse

if TYPE_CHECKING:
    from ._engine.presenting import RunView, TaskState

__all__ = ["ReceivedPost", "RecordingPresenter", "ScriptedAnswers", "WebhookReceiver"]


class ScriptedAnswers:
    """Answers each request as soon as it is shown, from a script keyed by task id.

    ``ScriptedAnswers({"review": [{"approved": True}, {"text": "ok"}]})`` answers the review task's
    first request with an approval and its second with a text: a task's requests take its answers in
    the order it asks them (in a loop, a task's later runs take the answers after its earlier runs').
    A request with no scripted answer is left pending (so a timeout can pause the run).
    """

    def __init__(self, answers: Mapping[str, Sequence[Mapping[str, Any]]], responded_by: str = "script") -> None:
        self._answers = {task_id: list(items) for task_id, items in answers.items()}
        self.responded_by = responded_by
        self.responses: list[FeedbackResponse] = []
        self._place: dict[tuple[str, int, int], int] = {}  # (task, visit, call) -> its answer's index

    def task_changed(self, run: RunView, task_id: str, state: TaskState) -> None:
        """Nothing to show."""

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        """Answer the request if the script has an answer for this call of the task."""
        scripted = self._answers.get(request.task_id, [])
        asked = (request.task_id, request.visit, request.call_index)
        if asked not in self._place:
            self._place[asked] = sum(1 for known in self._place if known[0] == request.task_id)
        index = self._place[asked]
        if index < len(scripted):
            answer = dict(scripted[index])
            self.responses.append(
                run.answer(request.feedback_id, via="replay", responded_by=self.responded_by, **answer)
            )

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """Nothing to do."""

    def run_ended(self, run: RunView) -> None:
        """Nothing to do."""


class RecordingPresenter:
    """Records what is shown and settled, so a test can wait for a request and answer it itself."""

    def __init__(self) -> None:
        self.shown: list[FeedbackRequest] = []
        self.settled: list[tuple[FeedbackRequest, FeedbackResponse | None]] = []
        self.deadlines: list[tuple[FeedbackRequest, datetime]] = []
        self.closed = threading.Event()
        self._new: queue.Queue[FeedbackRequest] = queue.Queue()

    def task_changed(self, run: RunView, task_id: str, state: TaskState) -> None:
        """Nothing to show."""

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        """Record the request."""
        self.shown.append(request)
        self._new.put(request)

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """Record the settlement."""
        self.settled.append((request, response))

    def deadline_moved(self, request: FeedbackRequest, deadline: datetime) -> None:
        """Record the request's new deadline."""
        self.deadlines.append((request, deadline))

    def run_ended(self, run: RunView) -> None:
        """Record that the run ended."""
        self.closed.set()

    def next_request(self, timeout: float = 10.0) -> FeedbackRequest:
        """The next request shown, waiting up to ``timeout`` seconds; raise TimeoutError if none."""
        try:
            return self._new.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no feedback request was shown within {timeout} s") from None
