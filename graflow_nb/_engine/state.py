"""What a run's checkpoint records, as the engine holds it while the run goes on; run ids."""

from __future__ import annotations

import itertools
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._definition.graph import TaskGraph
from .._model.checkpoint_format import SCHEMA_NAME, SCHEMA_VERSION
from .._model.status import RunStatus
from .._util.clock import utc_now
from .._util.jsonable import BlobLoader
from .._util.sequences import replaced_positions
from .channel import Channel

if TYPE_CHECKING:  # the models load with the first request, failure or document read (they need pydantic)
    from .._model.checkpoint import CheckpointDocument, RequestRecord, TaskError


def new_run_id(workflow: str) -> str:
    """A sortable, unique run id that starts with the workflow's name."""
    now = utc_now()
    return f"{run_id_prefix(workflow)}{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}-{secrets.token_hex(3)}"


def run_id_prefix(workflow: str) -> str:
    """How the ids (and so the file names) of a workflow's runs begin."""
    return ("".join(c if c.isalnum() or c in "-_" else "-" for c in workflow)[:40] or "workflow") + "-"


@dataclass
class RunState:
    """Everything about a run that its checkpoint records."""

    workflow: str
    run_id: str
    channel: Channel
    created_at: datetime = field(default_factory=utc_now)
    completed: dict[str, None] = field(default_factory=dict)  # ordered set
    records: dict[str, RequestRecord] = field(default_factory=dict)
    status: RunStatus = RunStatus.RUNNING
    reason: str | None = None
    error: TaskError | None = None
    visits: dict[str, int] = field(default_factory=dict)  # completions by task (more than one in a loop)
    skipped: dict[str, None] = field(default_factory=dict)  # ordered set: skipped by a goto
    steps: int = 0  # task executions completed
    max_steps: int | None = None
    iterations: dict[str, int] = field(default_factory=dict)  # next_iteration calls by task
    iteration_data: dict[str, Any] = field(default_factory=dict)  # what each task's next iteration gets
    added: list[tuple[str, str]] = field(default_factory=list)  # tasks next_task() added: (task, after)
    # The records as of the last snapshot, in order, and their JSON data (see _requests_data)
    _records_seen: list[RequestRecord] = field(default_factory=list, repr=False)
    _records_data: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _graph_cache: tuple[tuple[int, int], list[str], list[list[str]]] | None = field(default=None, repr=False)
    # Feedback ids by (task, visit), for the records indexed so far (records are added, never removed).
    _by_visit: dict[tuple[str, int], list[str]] = field(default_factory=dict, repr=False)
    _indexed: int = field(default=0, repr=False)

    @classmethod
    def from_document(cls, document: CheckpointDocument, load_blob: BlobLoader) -> RunState:
        """The state a checkpoint saved (its large channel values read with ``load_blob``)."""
        return cls(
            workflow=document.workflow,
            run_id=document.run_id,
            channel=Channel.restore(document.channel, load_blob),
            created_at=document.created_at,
            completed=dict.fromkeys(document.completed),
            records={record.feedback_id: record for record in document.requests},
            visits=dict(document.visits),
            skipped=dict.fromkeys(document.skipped),
            steps=document.steps,
            max_steps=document.max_steps,
            iterations=dict(document.iterations),
            iteration_data=dict(document.iteration_data),
            added=[(task_id, after) for task_id, after in document.added],
        )

    def document(self, graph: TaskGraph) -> CheckpointDocument:
        """A snapshot of the run as a checkpoint document (the live process named its owner while it runs)."""
        from .._model.checkpoint import CheckpointDocument

        return CheckpointDocument.model_validate(self.document_data(graph))

    def document_data(self, graph: TaskGraph) -> dict[str, Any]:
        """:meth:`document` as JSON data, built without pydantic."""
        return {**self.envelope_data(graph), "channel": self.channel.snapshot()}

    def envelope_data(self, graph: TaskGraph) -> dict[str, Any]:
        """:meth:`document_data` but the channel (which the checkpoint writer reads as it writes). Values
        unchanged since the snapshot before are the same objects (see ``_io/journal.py``)."""
        tasks, edges = self._graph_data(graph)
        return {
            "schema": SCHEMA_NAME,
            "schema_version": SCHEMA_VERSION,
            "workflow": self.workflow,
            "run_id": self.run_id,
            "status": self.status.value,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "updated_at": utc_now().isoformat(),
            "owner_pid": os.getpid() if self.status is RunStatus.RUNNING else None,
            "owner_host": socket.gethostname(),
            "tasks": tasks,
            "edges": edges,
            "completed": list(self.completed),
            "requests": self._requests_data(),
            "error": None if self.error is None else self.error.model_dump(mode="json"),
            "visits": dict(self.visits),
            "skipped": list(self.skipped),
            "steps": self.steps,
            "max_steps": self.max_steps,
            "iterations": dict(self.iterations),
            "iteration_data": dict(self.iteration_data),
            "added": [list(pair) for pair in self.added],
        }

    def _graph_data(self, graph: TaskGraph) -> tuple[list[str], list[list[str]]]:
        """The graph's tasks and edges as JSON data, the same objects until a task or an edge is added."""
        shape = (len(graph.tasks), sum(map(len, graph.successors.values())))
        if self._graph_cache is None or self._graph_cache[0] != shape:
            self._graph_cache = (shape, list(graph.tasks), [list(edge) for edge in graph.edges])
        return self._graph_cache[1], self._graph_cache[2]

    def _requests_data(self) -> list[dict[str, Any]]:
        """The request records as JSON data, in order, each converted once per version of it (records
        are immutable, added and never removed): the records replaced since the last snapshot are found
        at C speed, so a batch of 10,000 costs a snapshot the records that changed, not all of them. A
        new list each time (the one before may still be compared with it)."""
        records = list(self.records.values())
        seen, data = self._records_seen, self._records_data
        if len(records) < len(seen):  # (never: records are not removed) start again
            seen, data = [], []
        data = data.copy()
        for index in replaced_positions(records, seen):
            data[index] = records[index].model_dump(mode="json")
        data.extend(record.model_dump(mode="json") for record in records[len(seen) :])
        self._records_seen, self._records_data = records, data
        return data

    def request_ids_of(self, task_id: str, visit: int = 0) -> list[str]:
        """The requests of one visit of a task that still stand (pending, answered, or closed by a person),
        by call order."""
        records = self._index_new_records()
        found = [
            r
            for r in map(records.__getitem__, self._by_visit.get((task_id, visit), ()))
            if r.request.task_id == task_id
            and r.request.visit == visit
            and (r.state != "closed" or r.response is not None)
        ]
        return [r.feedback_id for r in sorted(found, key=lambda r: r.request.call_index)]

    def _index_new_records(self) -> dict[str, RequestRecord]:
        """Index the records added since the last call: the newest keys of the (insertion-ordered) dict,
        so a batch of thousands asking one by one costs each request its own record, not all of them."""
        records = self.records
        new = len(records) - self._indexed
        if new < 0:  # (records are never removed; were one, index them all again)
            self._by_visit, self._indexed, new = {}, 0, len(records)
        if new:
            for feedback_id in reversed(list(itertools.islice(reversed(records), new))):
                request = records[feedback_id].request
                self._by_visit.setdefault((request.task_id, request.visit), []).append(feedback_id)
            self._indexed = len(records)
        return records


class RunEndedError(RuntimeError):
    """A call from another thread came after the run's event loop had ended (internal: callers turn it
    into the error their users should see)."""

    def __init__(self, status: RunStatus) -> None:
        super().__init__(f"the run has ended ({status.value})")
        self.status = status
