"""The checkpoint document: one JSON file per run, holding everything needed to resume it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._feedback import FeedbackRequest, FeedbackResponse

SCHEMA_NAME: Literal["graflow_nb.checkpoint"] = "graflow_nb.checkpoint"
SCHEMA_VERSION = 1


class RunStatus(str, enum.Enum):
    """Where a run stands."""

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """Completed and cancelled runs are final; the others can be resumed."""
        return self in (RunStatus.COMPLETED, RunStatus.CANCELLED)


RequestState = Literal["pending", "answered", "closed"]


class RequestRecord(BaseModel):
    """A feedback request and, once answered, its response."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request: FeedbackRequest
    state: RequestState = "pending"
    response: FeedbackResponse | None = None

    @property
    def feedback_id(self) -> str:
        """The request's feedback id."""
        return self.request.feedback_id


class TaskError(BaseModel):
    """The error that failed a run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    error_type: str
    message: str
    traceback: str = ""


class CheckpointDocument(BaseModel):
    """The whole saved state of one run."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_name: Literal["graflow_nb.checkpoint"] = Field(default=SCHEMA_NAME, alias="schema")
    schema_version: int = SCHEMA_VERSION
    workflow: str
    run_id: str
    status: RunStatus
    reason: str | None = None
    created_at: datetime
    updated_at: datetime
    owner_pid: int | None = None
    owner_host: str | None = None
    tasks: list[str]
    edges: list[tuple[str, str]]
    completed: list[str]
    requests: list[RequestRecord] = Field(default_factory=list)
    error: TaskError | None = None
    channel: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_are_consistent(self) -> CheckpointDocument:
        known = set(self.tasks)
        strangers = {name for edge in self.edges for name in edge} | set(self.completed)
        strangers |= {record.request.task_id for record in self.requests}
        strangers -= known
        if strangers:
            raise ValueError(f"names tasks the workflow does not list: {sorted(strangers)}")
        return self

    @property
    def pending(self) -> list[RequestRecord]:
        """Requests still waiting for an answer."""
        return [record for record in self.requests if record.state == "pending"]

    def record(self, feedback_id: str) -> RequestRecord | None:
        """The request with that feedback id, if this run has it."""
        return next((r for r in self.requests if r.feedback_id == feedback_id), None)
