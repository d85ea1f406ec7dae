"""The checkpoint document: one JSON file per run, holding everything needed to resume it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._util import exact_json
from .checkpoint_format import FEEDBACK_ID_PATTERN, READABLE_VERSIONS, RUN_ID_PATTERN, SCHEMA_NAME, SCHEMA_VERSION
from .feedback import FeedbackRequest, FeedbackResponse
from .status import RunStatus

RequestState = Literal["pending", "answered", "closed"]


class RequestRecord(BaseModel):
    """A feedback request and, once answered, its response."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    request: FeedbackRequest
    state: RequestState = "pending"
    response: FeedbackResponse | None = None
    deadline: datetime | None = Field(
        default=None, description="When the request times out, while a task waits for it (moved by extensions)."
    )

    @property
    def feedback_id(self) -> str:
        """The request's feedback id."""
        return self.request.feedback_id


class TaskError(BaseModel):
    """The error that failed a run."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    task_id: str
    error_type: str
    message: str
    traceback: str = ""


class CheckpointDocument(BaseModel):
    """The whole saved state of one run."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    schema_name: Literal["graflow_nb.checkpoint"] = Field(default=SCHEMA_NAME, alias="schema")
    schema_version: int = SCHEMA_VERSION
    workflow: str
    run_id: str
    status: RunStatus
    reason: str | None = None
    created_at: datetime
    updated_at: datetime
    owner_pid: int | None = Field(default=None, ge=1, lt=2**32)
    owner_host: str | None = None
    tasks: list[str]
    edges: list[tuple[str, str]]
    completed: list[str]
    requests: list[RequestRecord] = Field(default_factory=list)
    error: TaskError | None = None
    #: How many times each task has completed in this run (more than once in a loop).
    visits: dict[str, int] = Field(default_factory=dict)
    #: Tasks a ``next_task(..., goto=True)`` skipped: they count as done unless a loop reaches them again.
    skipped: list[str] = Field(default_factory=list)
    #: Task executions completed so far, for ``max_steps``; and the limit the run was started with.
    steps: int = Field(default=0, ge=0)
    max_steps: int | None = Field(default=None, ge=1)
    #: ``next_iteration`` calls so far by task, and the data each task's next iteration is given.
    iterations: dict[str, int] = Field(default_factory=dict)
    iteration_data: dict[str, Any] = Field(default_factory=dict)
    #: Tasks ``ctx.next_task(...)`` added to this run, each with the task it runs after.
    added: list[tuple[str, str]] = Field(default_factory=list)
    channel: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_are_consistent(self) -> CheckpointDocument:
        if self.schema_version not in READABLE_VERSIONS:
            readable = " or ".join(str(version) for version in READABLE_VERSIONS)
            raise ValueError(f"schema_version {self.schema_version} is not {readable}, the ones this graflow_nb reads")
        if not RUN_ID_PATTERN.fullmatch(self.run_id):
            raise ValueError(f"run_id {self.run_id[:80]!r} is not an id graflow_nb writes")
        odd = [r.feedback_id[:80] for r in self.requests if not FEEDBACK_ID_PATTERN.fullmatch(r.feedback_id)]
        if odd:
            raise ValueError(f"feedback ids {odd} are not ids graflow_nb writes")
        known = set(self.tasks)
        strangers = {name for edge in self.edges for name in edge} | set(self.completed) | set(self.skipped)
        strangers |= {record.request.task_id for record in self.requests}
        strangers |= {*self.visits, *self.iterations, *self.iteration_data}
        strangers |= {name for pair in self.added for name in pair}
        strangers -= known
        if strangers:
            raise ValueError(f"names tasks the workflow does not list: {sorted(strangers)}")
        return self

    @property
    def pending(self) -> list[RequestRecord]:
        """Requests still waiting for an answer, in the workflow's order of tasks."""
        from .task_order import in_task_order

        waiting = [record for record in self.requests if record.state == "pending"]
        return in_task_order(waiting, self.tasks, lambda record: record.request)

    def record(self, feedback_id: str) -> RequestRecord | None:
        """The request with that feedback id, if this run has it."""
        return next((r for r in self.requests if r.feedback_id == feedback_id), None)


def encode_document(document: CheckpointDocument) -> bytes:
    """The document as compact JSON; the channel, the bulk of it, is written by orjson (several times
    faster than a generic serializer on many small records)."""
    envelope = document.model_dump_json(by_alias=True, exclude={"channel"}).encode()
    try:
        channel = orjson.dumps(document.channel, default=_model_as_json)
    except TypeError:  # e.g. an int beyond 64 bits, which only the generic serializer writes
        channel = exact_json.dumps(document.channel)
    return envelope[:-1] + b',"channel":' + channel + b"}"


def parse_document(raw: bytes) -> Any:
    """The JSON data of a document file; ValueError if it is not JSON."""
    return exact_json.loads(raw, many_containers=True)


def _model_as_json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON data")
