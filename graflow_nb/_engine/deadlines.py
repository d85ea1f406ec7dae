"""More time to answer: moving a waiting request's deadline later, from this process or another one.

In the process whose run waits, the run's broker moves the deadline at once. Elsewhere (the CLI,
another notebook) the new deadline is filed as ``<checkpoint_dir>/deadlines/<feedback_id>.json``,
which the waiting run reads with the answers it polls for. A deadline only ever moves later: each
extension counts from the later of the current deadline and now, and a filed deadline is taken
only when it is later than the one the run keeps.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from .._io.store import CheckpointStore
from .._model.checkpoint import CheckpointDocument, RequestRecord, RunStatus
from .._model.errors import DeadlineNotExtendedError, FeedbackNotFoundError
from .._model.feedback import AnswerSource, default_responder, settled_detail, utc_now
from .._util.atomic import read_regular_file, write_atomically

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: concurrent extensions from two processes may count once
    fcntl = None  # type: ignore[assignment]

#: The longest single extension (a year): longer is surely a typo for another unit.
LONGEST_EXTENSION = 366 * 24 * 3600.0
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class FiledDeadline(BaseModel):
    """A later deadline for one request, as another process files it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feedback_id: str
    deadline: datetime
    by: str
    via: AnswerSource
    at: datetime


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``10m``, ``10min``, ``2h`` or ``1d``; ValueError otherwise."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", text)
    if found is None:
        raise ValueError(f"{text!r} is not a duration: give seconds, or a number with s, m, h or d (e.g. 30m)")
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def span_text(seconds: float) -> str:
    """``30 s``, ``5 min``, ``1.5 h``, ``2 d``: a span of time as people say it."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{seconds:g} s"


def check_extension(feedback_id: str, seconds: float) -> float:
    """The extension in seconds, or DeadlineNotExtendedError if it is not a positive, sensible span."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise DeadlineNotExtendedError(feedback_id, f"extend by a number of seconds, not {seconds!r}")
    if not 0 < seconds <= LONGEST_EXTENSION:
        raise DeadlineNotExtendedError(
            feedback_id, f"extend by more than 0 s and at most {span_text(LONGEST_EXTENSION)}, not {span_text(seconds)}"
        )
    return float(seconds)


def deadline_problem(record: RequestRecord, waiting_now: bool) -> str | None:
    """Why this request's deadline cannot be extended now, or None when it can."""
    if record.response is not None:
        return settled_detail(record.response)
    if record.state != "pending":
        return "the request is closed"
    if not waiting_now:
        again = "its timeout starts again when the run is resumed" if record.request.timeout is not None else ""
        return (
            "no task waits for it now (its run is paused or stopped)"
            + (f"; {again}" if again else "")
            + (" — answer it, then resume the run")
        )
    if record.request.timeout is None:
        return "it has no timeout: it waits until answered"
    return None


def later_deadline(current: datetime | None, seconds: float) -> datetime:
    """``seconds`` after the later of ``current`` and now."""
    now = utc_now()
    return max(current or now, now) + timedelta(seconds=seconds)


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
    from .engine import live_engines  # the engine loads with the first run

    check_extension(feedback_id, seconds)
    who = by or default_responder()
    for engine in list(live_engines):
        record = engine.state.records.get(feedback_id)
        if record is not None and record.state == "pending":
            return engine.feedback.extend_threadsafe(feedback_id, seconds, by=who, via=via)
    return _file_extension(CheckpointStore(checkpoint_dir), feedback_id, seconds, by=who, via=via)


def _file_extension(
    store: CheckpointStore, feedback_id: str, seconds: float, *, by: str, via: AnswerSource
) -> datetime:
    """Extend the deadline of a request that a run in another process waits for, by filing it."""
    from .request_events import RequestEvents

    document, record = store.find_request(feedback_id)
    problem = deadline_problem(record, waiting_now=_run_is_live(document))
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
    RequestEvents(store).extended(record.request, deadline, by=by, via=via, notification=None, filed_here=True)
    return deadline


def read_filed_deadline(store: CheckpointStore, feedback_id: str) -> FiledDeadline | None:
    """The deadline filed for a request, or None when there is none or it is unusable."""
    try:
        raw = read_regular_file(store.deadline_path(feedback_id), 4096)
        filed = FiledDeadline.model_validate_json(raw)
    except (OSError, ValidationError, FeedbackNotFoundError):
        return None
    return filed if filed.feedback_id == feedback_id else None


def _run_is_live(document: CheckpointDocument) -> bool:
    """Whether the process its checkpoint names as running it is still there (read only: taking the
    run's lock to find out could make a resume starting that moment fail)."""
    if document.status is not RunStatus.RUNNING or document.owner_pid is None:
        return False
    if document.owner_host not in (None, socket.gethostname()):
        return True  # another machine's process, on a shared folder: trust the checkpoint
    try:
        os.kill(document.owner_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


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
