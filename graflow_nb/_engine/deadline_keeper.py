"""Moving the deadlines of a run's waiting requests: extensions given here, and those filed elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Protocol, TypeVar

import anyio

from .._io.store import CheckpointStore
from .._model.errors import DeadlineNotExtendedError, FeedbackNotFoundError
from .._model.feedback_kinds import AnswerSource
from .deadlines import FiledDeadline, check_extension, deadline_problem, later_deadline
from .presenting import FeedbackPresenter
from .request_events import RequestEvents
from .state import RunEndedError, RunState
from .waiting import Waiting, seconds_until

T = TypeVar("T")


class DeadlineHost(Protocol):
    """What moving deadlines needs of the run (the engine)."""

    @property
    def state(self) -> RunState: ...
    @property
    def store(self) -> CheckpointStore: ...
    @property
    def presenters(self) -> Sequence[FeedbackPresenter]: ...
    def mark_dirty(self) -> None: ...
    def run_on_loop(self, func: Callable[[], T]) -> T: ...


class DeadlineKeeper:
    """The deadlines of the requests tasks wait for (on the run's loop; ``extend_threadsafe`` from anywhere)."""

    def __init__(self, host: DeadlineHost, waiting: dict[str, Waiting], events: RequestEvents) -> None:
        self._host = host
        self._waiting = waiting  # the broker's: feedback id -> the task waiting for it
        self.events = events

    def extend(self, feedback_id: str, seconds: float, *, by: str, via: AnswerSource) -> datetime:
        """Give a waiting request ``seconds`` more, from the later of its deadline and now (on the loop);
        return the new deadline, or raise DeadlineNotExtendedError saying why it cannot move."""
        check_extension(feedback_id, seconds)
        record = self._host.state.records.get(feedback_id)
        if record is None:
            raise FeedbackNotFoundError(feedback_id, self._host.store.directory)
        waiting = self._waiting.get(feedback_id)
        # a request without a timeout is waiting whenever its task is; one with a timeout, once its
        # deadline is set (as it is shown) and until its wait is over
        untimed = record.request.timeout is None
        waiting_now = waiting is not None and (waiting.deadline_runs or (untimed and not waiting.deadline_final))
        problem = deadline_problem(record, waiting_now=waiting_now)
        if problem is not None or waiting is None:
            raise DeadlineNotExtendedError(feedback_id, problem or "no task waits for it now")
        deadline = later_deadline(waiting.deadline, seconds)
        self._move(feedback_id, waiting, deadline)
        self.events.extended(record.request, deadline, by=by, via=via, notification=waiting.live.notification)
        return deadline

    def extend_threadsafe(self, feedback_id: str, seconds: float, *, by: str, via: AnswerSource) -> datetime:
        """:meth:`extend` from any thread (a control's button, the API)."""
        try:
            return self._host.run_on_loop(partial(self.extend, feedback_id, seconds, by=by, via=via))
        except RunEndedError:
            raise DeadlineNotExtendedError(feedback_id, "its run has just ended") from None

    def _move(self, feedback_id: str, waiting: Waiting, deadline: datetime) -> None:
        """Make the waiting task time out at ``deadline`` instead, and tell the presenters (on the loop).
        Before its wait has begun (the request is being shown), the wait starts with this deadline."""
        waiting.deadline = deadline
        if waiting.timeout_scope is not None:
            waiting.timeout_scope.deadline = anyio.current_time() + seconds_until(deadline)
        self.record(feedback_id, deadline)
        request = self._host.state.records[feedback_id].request
        for presenter in self._host.presenters:
            moved = getattr(presenter, "deadline_moved", None)  # optional: a presenter may have no clock
            if moved is not None:
                moved(request, deadline)

    def record(self, feedback_id: str, deadline: datetime | None) -> None:
        """Keep the deadline in the checkpoint while a task waits (for the CLI); None once it does not."""
        record = self._host.state.records[feedback_id]
        if record.deadline != deadline:
            self._host.state.records[feedback_id] = record.model_copy(update={"deadline": deadline})
            self._host.mark_dirty()

    def take_filed(self, filed: dict[str, FiledDeadline]) -> None:
        """Deadlines other processes filed (the filer logged them): each one later than ours moves it."""
        for feedback_id, entry in filed.items():
            waiting = self._waiting.get(feedback_id)
            if waiting is None or not waiting.deadline_runs or waiting.deadline is None:
                continue
            if entry.deadline > waiting.deadline:
                self._move(feedback_id, waiting, entry.deadline)
                request = self._host.state.records[feedback_id].request
                self.events.extended(
                    request,
                    entry.deadline,
                    by=entry.by,
                    via=entry.via,
                    notification=waiting.live.notification,
                    filed_here=False,
                )
