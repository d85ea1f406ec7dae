"""More time to answer: moving a waiting request's deadline later, from this process or another one.

In the process whose run waits, the run's broker moves the deadline at once. Elsewhere (the CLI,
another notebook) the new deadline is filed as ``<checkpoint_dir>/deadlines/<feedback_id>.json``,
which the waiting run reads with the answers it polls for. A deadline only ever moves later: each
extension counts from the later of the current deadline and now, and a filed deadline is taken
only when it is later than the one the run keeps.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, ValidationError

from .._io.store import CheckpointStore
from .._model.checkpoint import RequestRecord
from .._model.errors import DeadlineNotExtendedError, FeedbackNotFoundError
from .._model.feedback import settled_detail
from .._model.feedback_kinds import AnswerSource
from .._util.atomic import read_regular_file
from .._util.clock import utc_now

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


def read_filed_deadline(store: CheckpointStore, feedback_id: str) -> FiledDeadline | None:
    """The deadline filed for a request, or None when there is none or it is unusable."""
    try:
        raw = read_regular_file(store.deadline_path(feedback_id), 4096)
        filed = FiledDeadline.model_validate_json(raw)
    except (OSError, ValidationError, FeedbackNotFoundError):
        return None
    return filed if filed.feedback_id == feedback_id else None
