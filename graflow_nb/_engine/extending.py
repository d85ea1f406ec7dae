"""More time from anywhere: ``extend_deadline`` moves a waiting request's deadline, in this process or
by filing it for the process whose run waits (see :mod:`.deadlines`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from .._io.run_claim import owner_alive
from .._io.store import CheckpointStore
from .._io.wake_signal import nudge_waiting_runs
from .._model.errors import DeadlineNotExtendedError
from .._model.feedback_kinds import AnswerSource, default_responder
from .._util.atomic import write_atomically
from .._util.clock import utc_now
from .answering import engines_in_this_process
from .deadlines import FiledDeadline, check_extension, deadline_problem, later_deadline, read_filed_deadline
from .request_events import RequestEvents

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: concurrent extensions from two processes may count once
    fcntl = None  # type: ignore[assignment]


def extend_deadline(
    feedback_id: str,
    seconds: float,
    *,
    by: str | None = None,
    via: AnswerSource = "api",
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> datetime:
    """Give people ``seconds`` more to answer a request a task waits for; return the new deadline.

    Works from any process: a run waiting in this one moves its deadline at once, one waiting in
    another process within a fraction of a second. The extension counts from the current deadline
    (or from now, if that has passed). Raises :class:`DeadlineNotExtendedError` when the request has
    no timeout, is settled, or no task waits for it now (a paused run's timeout starts again when it
    is resumed), and FeedbackNotFoundError for an unknown id.
    """
    check_extension(feedback_id, seconds)
    who = by or default_responder()
    for engine in engines_in_this_process():
        record = engine.state.records.get(feedback_id)
        if record is not None and record.state == "pending":
            return engine.feedback.extend_threadsafe(feedback_id, seconds, by=who, via=via)
    return _file_extension(CheckpointStore(checkpoint_dir), feedback_id, seconds, by=who, via=via)


def _file_extension(
    store: CheckpointStore, feedback_id: str, seconds: float, *, by: str, via: AnswerSource
) -> datetime:
    """Extend the deadline of a request that a run in another process waits for, by filing it."""
    document, record = store.find_request(feedback_id)
    problem = deadline_problem(record, waiting_now=owner_alive(document))
    if problem is not None:
        raise DeadlineNotExtendedError(feedback_id, problem)
    path = store.deadline_path(feedback_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        filed = read_filed_deadline(store, feedback_id)
        current = max(d for d in (record.deadline, filed.deadline if filed else None, utc_now()) if d is not None)
        deadline = later_deadline(current, seconds)
        entry = FiledDeadline(feedback_id=feedback_id, deadline=deadline, by=by, via=via, at=utc_now())
        write_atomically(path, entry.model_dump_json().encode())
    nudge_waiting_runs(store.directory)
    RequestEvents(store).extended(record.request, deadline, by=by, via=via, notification=None, filed_here=True)
    return deadline


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (so two extensions filed at once both count)."""
    if fcntl is None:
        yield
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
