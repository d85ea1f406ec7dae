"""Where front ends meet the engine: what a presenter is told, and the view of the run it is given.

A presenter (the notebook's panel, the terminal, an answers file, a test's) shows a run to people
and passes their answers back. It is told about tasks and requests through :class:`FeedbackPresenter`,
and it reaches the run only through the :class:`RunView` it is handed: its ids, what it has done so
far, and one thread-safe :meth:`RunView.answer`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from .._definition.graph import TaskGraph
    from .._io.store import CheckpointStore
    from .._model.feedback import FeedbackRequest, FeedbackResponse, LiveParts
    from .._model.feedback_kinds import AnswerSource
    from .._model.outcome import RunOutcome
    from .state import RunState

#: What a presenter hears about a task: it started, completed, stopped without completing, failed, or
#: waits to run again (a loop went back to it).
TaskState = Literal["running", "completed", "stopped", "failed", "waiting"]


class NobodyWatching(Protocol):
    """Where a run is shown, nobody can answer (a notebook run by papermill, nbconvert or nbclient)."""

    def waits(self, request: FeedbackRequest, notification: dict[str, Any] | None, directory: Path) -> bool:
        """Whether ``request`` waits for an answer from elsewhere or times out now; says which, and how
        to answer it."""


class RunView(Protocol):
    """The run as a presenter sees it, and the way it answers."""

    @property
    def run_id(self) -> str:
        """The run's id."""

    @property
    def workflow_name(self) -> str:
        """The workflow's name."""

    @property
    def graph(self) -> TaskGraph:
        """The tasks and their edges."""

    @property
    def state(self) -> RunState:
        """What the run has done so far (read it on the run's event loop thread)."""

    @property
    def store(self) -> CheckpointStore:
        """The checkpoint folder the run is saved in."""

    @property
    def unattended(self) -> NobodyWatching | None:
        """Set when nobody can answer where the run is shown (see :class:`NobodyWatching`)."""

    @property
    def workers_redis(self) -> str | None:
        """The Redis (its URL, without a password) of the Graflow workers that run the tasks; None: here."""

    def answer(
        self, feedback_id: str, *, via: AnswerSource = "api", responded_by: str | None = None, **answer: Any
    ) -> FeedbackResponse:
        """Answer a request, from any thread; the first valid answer wins.

        The answer is checked at once: an invalid one, or one for a settled request, raises here. From
        another thread this returns once the answer is filed and taken; on the run's loop thread the
        file is written in a worker thread, and the request settles moments later (if another answer
        won meanwhile, :meth:`FeedbackPresenter.settle` is told that one).
        """

    def extend(self, feedback_id: str, seconds: float, *, by: str, via: AnswerSource) -> datetime:
        """Give a waiting request ``seconds`` more (any thread); return its new deadline."""

    def live_parts(self, feedback_id: str) -> LiveParts:
        """The form model and preview function of a request a task waits for now."""

    def refuse(self, feedback_id: str, error: Exception) -> None:
        """Make the task waiting for this request raise ``error`` (on the loop thread, in ``show``)."""

    def let_time_out(self, feedback_id: str) -> None:
        """Let this request's timeout run as written even where nobody can answer (loop thread)."""

    def cancel_threadsafe(self, reason: str) -> None:
        """Cancel the run, from any thread."""

    def outcome(self) -> RunOutcome:
        """How the run stands (final once it has ended)."""


class FeedbackPresenter(Protocol):
    """Shows a run to people (console, widgets): its tasks, its pending requests and their answers.

    Its methods are called on the run's event loop thread and must not block it.
    """

    def task_changed(self, run: RunView, task_id: str, state: TaskState) -> None:
        """A task started, completed, stopped (to resume later) or failed."""

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        """A request is waiting; answers go to ``run.answer``."""

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """The request was answered or closed by a person (``response``), or closed by the run's end (None)."""

    def run_ended(self, run: RunView) -> None:
        """The run has ended."""

    # Optional: ``deadline_moved(request, deadline)``, told when a waiting request's deadline moved later.
