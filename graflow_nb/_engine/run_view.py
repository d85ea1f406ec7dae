"""The view of a run that presenters are handed (:class:`~.presenting.RunView`): what the run has
done so far, and the calls that answer it — not the engine itself."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from .._io.redis_connection import redacted_url

if TYPE_CHECKING:
    from .._definition.graph import TaskGraph
    from .._io.store import CheckpointStore
    from .._model.feedback import FeedbackResponse, LiveParts
    from .._model.feedback_kinds import AnswerSource
    from .._model.outcome import RunOutcome
    from .broker import FeedbackBroker
    from .presenting import NobodyWatching
    from .remote_tasks import RemoteTasks
    from .state import RunState


class ViewedRun(Protocol):
    """What the view reads of its run (the engine)."""

    @property
    def remote(self) -> RemoteTasks | None: ...
    @property
    def graph(self) -> TaskGraph: ...
    @property
    def state(self) -> RunState: ...
    @property
    def store(self) -> CheckpointStore: ...
    @property
    def unattended(self) -> NobodyWatching | None: ...
    @property
    def feedback(self) -> FeedbackBroker: ...
    def cancel_threadsafe(self, reason: str) -> None: ...
    def outcome(self) -> RunOutcome: ...


class EngineView:
    """One run as its presenters see it (see :class:`~.presenting.RunView` for what each call does)."""

    __slots__ = ("_run",)

    def __init__(self, run: ViewedRun) -> None:
        self._run = run

    @property
    def run_id(self) -> str:
        return self._run.state.run_id

    @property
    def workflow_name(self) -> str:
        return self._run.state.workflow

    @property
    def graph(self) -> TaskGraph:
        return self._run.graph

    @property
    def state(self) -> RunState:
        return self._run.state

    @property
    def store(self) -> CheckpointStore:
        return self._run.store

    @property
    def unattended(self) -> NobodyWatching | None:
        return self._run.unattended

    @property
    def workers_redis(self) -> str | None:
        remote = self._run.remote
        return None if remote is None else redacted_url(remote.url)

    def answer(
        self, feedback_id: str, *, via: AnswerSource = "api", responded_by: str | None = None, **answer: Any
    ) -> FeedbackResponse:
        return self._run.feedback.submit_soon(feedback_id, via=via, responded_by=responded_by, **answer)

    def extend(self, feedback_id: str, seconds: float, *, by: str, via: AnswerSource) -> datetime:
        return self._run.feedback.extend_threadsafe(feedback_id, seconds, by=by, via=via)

    def live_parts(self, feedback_id: str) -> LiveParts:
        return self._run.feedback.live_parts(feedback_id)

    def refuse(self, feedback_id: str, error: Exception) -> None:
        self._run.feedback.refuse(feedback_id, error)

    def let_time_out(self, feedback_id: str) -> None:
        self._run.feedback.let_time_out(feedback_id)

    def cancel_threadsafe(self, reason: str) -> None:
        self._run.cancel_threadsafe(reason)

    def outcome(self) -> RunOutcome:
        return self._run.outcome()

    def __repr__(self) -> str:
        return f"<run {self.run_id} of {self.workflow_name!r}, {self._run.state.status.value}>"
