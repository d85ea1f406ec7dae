"""The run as code written for Graflow reaches it: ``ctx.execution_context`` and its ``feedback_manager``.

Graflow's tasks answer and inspect requests through ``ctx.execution_context.feedback_manager``, and
``wf.execute(ret_context=True)`` hands back the execution context to read results from. Here both are
thin views of one run: answers go through the run's broker like any other (first answer wins).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .._definition.graph import result_key
from .state import RunEndedError

if TYPE_CHECKING:
    from .._definition.graph import TaskGraph
    from .._model.checkpoint import RequestRecord
    from .._model.feedback import FeedbackRequest, FeedbackResponse
    from .channel import Channel
    from .presenting import RunView
    from .state import RunState

T = TypeVar("T")


class ExecutionHost(Protocol):
    """What the execution context needs of its run (the engine)."""

    @property
    def graph(self) -> TaskGraph: ...
    @property
    def state(self) -> RunState: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def view(self) -> RunView: ...
    def run_on_loop(self, func: Callable[[], T]) -> T: ...
    def task_input(self, key: str, default: Any) -> Any: ...


class FeedbackManager:
    """Graflow's ``feedback_manager`` for one run: list, read and answer its requests from any thread."""

    def __init__(self, run: ExecutionHost) -> None:
        self._run = run

    def list_pending_requests(self, session_id: str | None = None) -> list[FeedbackRequest]:
        """The run's requests waiting for an answer (none if ``session_id`` names another run)."""
        if session_id is not None and session_id != self._run.state.run_id:
            return []
        return [record.request for record in self._records() if record.state == "pending"]

    def get_request(self, feedback_id: str) -> FeedbackRequest | None:
        """The request with this id, or None if the run has none."""
        record = self._record(feedback_id)
        return record.request if record is not None else None

    def get_response(self, feedback_id: str) -> FeedbackResponse | None:
        """The answer the request got (or its closure), or None while it has none."""
        record = self._record(feedback_id)
        return record.response if record is not None else None

    def provide_feedback(self, feedback_id: str, response: FeedbackResponse) -> bool:
        """Answer a request of this run with ``response`` (its answer fields, who gave it); False, as in
        Graflow, if the run has no such request or it was answered (or closed) before: the first answer
        wins. An answer that does not fit the request raises InvalidAnswerError."""
        from .._model.feedback import FeedbackAlreadySettledError, given_fields

        if self._record(feedback_id) is None:
            return False
        try:
            self._run.view.answer(feedback_id, via="api", responded_by=response.responded_by, **given_fields(response))
        except FeedbackAlreadySettledError:
            return False
        return True

    def _records(self) -> list[RequestRecord]:
        return self._read(lambda state: list(state.records.values()))

    def _record(self, feedback_id: str) -> RequestRecord | None:
        return self._read(lambda state: state.records.get(feedback_id))

    def _read(self, read: Callable[[RunState], T]) -> T:
        """``read(state)`` where the run's records belong: its loop while it goes on, else here."""
        try:
            return self._run.run_on_loop(lambda: read(self._run.state))
        except RunEndedError:  # not started, or over: nothing changes them any more
            return read(self._run.state)


class ExecutionContext:
    """One run, as Graflow's ``ExecutionContext``: its session id, channel, results and feedback manager."""

    def __init__(self, run: ExecutionHost) -> None:
        self._run = run
        self.feedback_manager = FeedbackManager(run)

    @property
    def session_id(self) -> str:
        """The run's id."""
        return self._run.state.run_id

    @property
    def graph(self) -> TaskGraph:
        """The run's task graph."""
        return self._run.graph

    def get_channel(self) -> Channel:
        """The run's channel."""
        return self._run.channel

    def get_result(self, task_id: str, default: Any = None) -> Any:
        """What a task of the run returned (``default`` if it has not completed)."""
        return self._run.task_input(result_key(task_id), default)

    def __repr__(self) -> str:
        return f"<ExecutionContext of run {self.session_id}>"
