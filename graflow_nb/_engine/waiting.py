"""A task waiting for the answer to one request, and what it is handed when the answer comes."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime

import anyio
from pydantic import BaseModel

from .._model.errors import FeedbackClosedError
from .._model.feedback import FeedbackResponse, LiveParts
from .._util.clock import utc_now


def new_feedback_id() -> str:
    """A unique feedback id."""
    return f"fb-{secrets.token_hex(8)}"


@dataclass
class Waiting:
    """A task waiting for the answer to one request."""

    live: LiveParts

    @property
    def model(self) -> type[BaseModel] | None:
        """The form's model, if any."""
        return self.live.model

    event: anyio.Event = field(default_factory=anyio.Event)
    response: FeedbackResponse | None = None
    interrupted: bool = False
    failure: Exception | None = None
    timeout_scope: anyio.CancelScope | None = None  # while the task waits out a timeout
    deadline: datetime | None = None
    deadline_final: bool = False  # the wait is over: the deadline can no longer move

    @property
    def deadline_runs(self) -> bool:
        """Whether a deadline is set and can still move (the task waits, or is about to, on it)."""
        return self.deadline is not None and not self.deadline_final


def seconds_until(deadline: datetime | None) -> float:
    """Seconds from now until ``deadline`` (infinite for none; 0 once it has passed)."""
    return math.inf if deadline is None else max(0.0, (deadline - utc_now()).total_seconds())


def given_to_task(response: FeedbackResponse) -> FeedbackResponse:
    """The answer the asking task gets; a closure raises FeedbackClosedError in the task instead."""
    if response.closed:
        raise FeedbackClosedError(response.feedback_id, response.responded_by, response.via, response.reason)
    return response
