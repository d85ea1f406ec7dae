"""The run engine: schedules tasks on an anyio event loop, brokers feedback, writes checkpoints.

Sync tasks run in worker threads (so a task waiting for a person never blocks the loop); async
tasks run on the loop. Every answer, from any source, goes through :meth:`Engine.submit` or the
answers folder, and the first valid one wins.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import threading
import traceback
import warnings
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from pydantic import BaseModel
from typing_extensions import TypeVarTuple, Unpack

from ._channel import Channel
from ._checkpoint import CheckpointDocument, RequestRecord, RunStatus, TaskError
from ._context import TaskExecutionContext, TaskStopped
from ._exceptions import FeedbackAlreadySettledError, FeedbackNotFoundError, InvalidAnswerError
from ._feedback import AnswerSource, FeedbackRequest, FeedbackResponse, LiveParts, make_response, utc_now
from ._graph import TaskGraph, result_key
from ._jsonable import find_non_json
from ._outcome import RunOutcome
from ._store import CheckpointStore

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: Stop reasons by precedence: a failure or cancel outranks a pause, a pause outranks a terminate.
_STOP_RANK = {RunStatus.COMPLETED: 1, RunStatus.PAUSED: 2, RunStatus.CANCELLED: 3, RunStatus.FAILED: 3}

live_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


#: What a presenter hears about a task: it started, completed, or stopped without completing.
TaskState = Literal["running", "completed", "stopped", "failed"]


class FeedbackPresenter(Protocol):
    """Shows a run to people (console, widgets): its tasks, its pending requests and their answers."""

    def task_changed(self, engine: Engine, task_id: str, state: TaskState) -> None:
        """A task started, completed, stopped (to resume later) or failed."""

    def show(self, engine: Engine, request: FeedbackRequest) -> None:
        """A request is waiting; answers go to ``engine.submit_threadsafe``."""

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """The request was answered (``response``) or closed without an answer (None)."""

    def run_ended(self, engine: Engine) -> None:
        """The run has ended."""


def new_run_id(workflow: str) -> str:
    """A sortable, unique run id that starts with the workflow's name."""
    now = utc_now()
    return f"{run_id_prefix(workflow)}{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}-{secrets.token_hex(3)}"


def run_id_prefix(workflow: str) -> str:
    """How the ids (and so the file names) of a workflow's runs begin."""
    return ("".join(c if c.isalnum() or c in "-_" else "-" for c in workflow)[:40] or "workflow") + "-"


def new_feedback_id() -> str:
    """A unique feedback id."""
    return f"fb-{secrets.token_hex(8)}"


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

    @classmethod
    def from_document(cls, document: CheckpointDocument) -> RunState:
        """The state a checkpoint saved."""
        return cls(
            workflow=document.workflow,
            run_id=document.run_id,
            channel=Channel(document.channel),
            created_at=document.created_at,
            completed=dict.fromkeys(document.completed),
            records={record.feedback_id: record for record in document.requests},
        )

    def request_ids_of(self, task_id: str) -> list[str]:
        """The task's live (not closed) requests, by call order."""
        found = [r for r in self.records.values() if r.request.task_id == task_id and r.state != "closed"]
        return [r.feedback_id for r in sorted(found, key=lambda r: r.request.call_index)]


@dataclass
class _Waiting:
    """A task waiting for the answer to one request."""

    live: LiveParts

    @property
    def model(self) -> type[BaseModel] | None:
        """The form's model, if any."""
        return self.live.model

    event: anyio.Event = field(default_factory=anyio.Event)
    response: FeedbackResponse | None = None
    interrupted: bool = False


class Engine:
    """Executes one run of a task graph to its end: completed, paused, cancelled or failed."""

    def __init__(
        self,
        graph: TaskGraph,
        state: RunState,
        store: CheckpointStore,
        presenters: Sequence[FeedbackPresenter] = (),
        checkpoint_interval: float = 0.2,
        answer_poll_interval: float = 0.1,
    ) -> None:
        self.graph = graph
        self.state = state
        self.store = store
        self.presenters = list(presenters)
        self.checkpoint_interval = checkpoint_interval
        self.answer_poll_interval = answer_poll_interval
        self._stop: RunStatus | None = None
        self._stop_reason: str | None = None
        self._exception: BaseException | None = None
        self._terminated_by: str | None = None
        self._waiting: dict[str, _Waiting] = {}
        self._volatile_results: dict[str, Any] = {}
        self._changes = 0
        self._written_changes = -1
        self._wake_writer = anyio.Event()
        self._write_lock = anyio.Lock()
        self._loop_thread: int | None = None
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self._limiter = anyio.CapacityLimiter(max(40, len(graph.tasks)))

    # -- properties tasks use ------------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.state.run_id

    @property
    def workflow_name(self) -> str:
        """The workflow's name."""
        return self.state.workflow

    @property
    def channel(self) -> Channel:
        """The run's channel."""
        return self.state.channel

    @property
    def checkpoint_path(self) -> Path:
        """Where this run's checkpoint is written."""
        return self.store.run_path(self.run_id)

    # -- crossing between worker threads and the loop -------------------------------------

    def on_loop_thread(self) -> bool:
        """Whether the caller runs on the engine's event loop thread."""
        return threading.get_ident() == self._loop_thread

    def require_worker_thread(self, async_alternative: str) -> None:
        """Refuse a blocking call made from the event loop, where it would freeze every task."""
        if self.on_loop_thread():
            raise RuntimeError(
                f"this call blocks, and it was made from an async task; use `await {async_alternative}(...)`"
            )

    def call_from_worker(self, func: Callable[[Unpack[Ts]], Coroutine[Any, Any, T]], *args: Unpack[Ts]) -> T:
        """Run a coroutine function on the loop from a worker thread and wait for its result."""
        return anyio.from_thread.run(func, *args, token=self._token)

    def call_soon_on_loop(self, func: Callable[[Unpack[Ts]], object], *args: Unpack[Ts]) -> None:
        """Run ``func`` on the loop: directly when already there, else from a worker thread."""
        if self.on_loop_thread():
            func(*args)
        else:
            anyio.from_thread.run_sync(func, *args, token=self._token)

    # -- running -------------------------------------------------------------------------

    async def run(self) -> RunOutcome:
        """Run every task not yet completed, then write the final checkpoint."""
        self._loop_thread = threading.get_ident()
        self._token = anyio.lowlevel.current_token()
        self.state.status = RunStatus.RUNNING
        live_engines.add(self)
        try:
            try:
                async with anyio.create_task_group() as background:
                    background.start_soon(self._write_checkpoints_when_dirty)
                    background.start_soon(self._poll_filed_answers)
                    await self.write_checkpoint()
                    await self._run_tasks()
                    background.cancel_scope.cancel()
            except BaseException:  # Ctrl-C or the caller cancelled: save the run as paused, then go on
                self.state.status, self.state.reason = RunStatus.PAUSED, "interrupted before it finished"
                with anyio.CancelScope(shield=True):
                    await self.write_checkpoint()
                raise
            self._finish()
            with anyio.CancelScope(shield=True):
                await self.write_checkpoint()
        finally:
            live_engines.discard(self)
            for presenter in self.presenters:
                presenter.run_ended(self)
        return self.outcome()

    async def _run_tasks(self) -> None:
        graph, completed = self.graph, self.state.completed
        remaining = {
            task_id: sum(1 for before in graph.predecessors[task_id] if before not in completed)
            for task_id in graph.tasks
        }
        async with anyio.create_task_group() as group:

            async def run_one(task_id: str) -> None:
                if not await self._run_task(task_id):
                    return
                for after in graph.successors[task_id]:
                    remaining[after] -= 1
                    if remaining[after] == 0 and after not in completed and self._stop is None:
                        group.start_soon(run_one, after)

            for task_id, count in remaining.items():
                if count == 0 and task_id not in completed:
                    group.start_soon(run_one, task_id)

    async def _run_task(self, task_id: str) -> bool:
        """Run one task; return whether it completed."""
        if self._stop is not None:
            return False
        wrapper = self.graph.tasks[task_id]
        context = TaskExecutionContext(self, task_id)
        arguments = self.graph.inputs_for(task_id, self._input_value)
        leading = (context,) if wrapper.inject_context else ()
        self._tell_task(task_id, "running")
        try:
            if wrapper.is_async:
                result = await wrapper.func(*leading, **arguments)
            else:
                result = await anyio.to_thread.run_sync(
                    lambda: wrapper.func(*leading, **arguments), limiter=self._limiter
                )
        except TaskStopped:
            self._tell_task(task_id, "stopped")
            return False
        except Exception as error:  # noqa: BLE001 - any task error fails the run, recorded
            self._fail(task_id, error)
            self._tell_task(task_id, "failed")
            return False
        self._store_result(task_id, result)
        self._tell_task(task_id, "completed")
        if context.terminate_reason is not None:
            self._terminated_by = task_id
            self.request_stop(RunStatus.COMPLETED, context.terminate_reason)
        self._mark_dirty()
        return True

    def _input_value(self, key: str, default: Any) -> Any:
        task_id = key.removesuffix(".__result__")
        if task_id in self._volatile_results:
            return self._volatile_results[task_id]
        return self.channel.get(key, default)

    def _store_result(self, task_id: str, result: Any) -> None:
        if find_non_json(result) is None:
            self.channel.set(result_key(task_id), result)
            self.state.completed[task_id] = None
            return
        warnings.warn(
            f"task {task_id!r} returned a {type(result).__name__}, which a JSON checkpoint cannot "
            "hold; it is kept in memory and the task runs again if the run is resumed",
            stacklevel=1,
        )
        self._volatile_results[task_id] = result

    def _fail(self, task_id: str, error: Exception) -> None:
        self.state.error = TaskError(
            task_id=task_id,
            error_type=type(error).__qualname__,
            message=str(error),
            traceback="".join(traceback.format_exception(error)),
        )
        if self._exception is None:
            self._exception = error
        self.request_stop(RunStatus.FAILED, f"task {task_id!r} raised {type(error).__name__}: {error}")

    def cancel(self, reason: str) -> None:
        """End the run as cancelled (what ``ctx.cancel_workflow`` asks for)."""
        self.request_stop(RunStatus.CANCELLED, reason)

    def request_stop(self, status: RunStatus, reason: str | None) -> None:
        """Start no more tasks and wake every waiting request; the run ends with ``status``."""
        if self._stop is not None and _STOP_RANK[self._stop] >= _STOP_RANK[status]:
            return
        self._stop, self._stop_reason = status, reason
        for waiting in self._waiting.values():
            waiting.interrupted = True
            waiting.event.set()

    def _finish(self) -> None:
        state = self.state
        if self._stop in (RunStatus.PAUSED, RunStatus.FAILED, RunStatus.CANCELLED):
            state.status, state.reason = self._stop, self._stop_reason
        elif self._stop is RunStatus.COMPLETED or set(self.graph.tasks) <= {*state.completed, *self._volatile_results}:
            state.status, state.reason = RunStatus.COMPLETED, self._stop_reason
        else:
            state.status, state.reason = RunStatus.PAUSED, "stopped before every task ran"
        if state.status.finished:
            for feedback_id, record in list(state.records.items()):
                if record.state == "pending":
                    state.records[feedback_id] = record.model_copy(update={"state": "closed"})
                    self._tell_settled(record.request, None)

    def outcome(self) -> RunOutcome:
        """How the run stands: final once :meth:`run` has returned."""
        state = self.state
        return RunOutcome(
            workflow=state.workflow,
            run_id=state.run_id,
            status=state.status,
            checkpoint_path=self.checkpoint_path,
            reason=state.reason,
            result=self._result() if state.status is RunStatus.COMPLETED else None,
            pending_feedback_ids=tuple(r.feedback_id for r in state.records.values() if r.state == "pending"),
            error=state.error,
            exception=self._exception,
        )

    def _result(self) -> Any:
        """The terminating task's result, else the only last task's, else ``{task_id: result}``."""
        if self._terminated_by is not None:
            return self._input_value(result_key(self._terminated_by), None)
        sinks = self.graph.sinks
        if len(sinks) == 1:
            return self._input_value(result_key(sinks[0]), None)
        return {task_id: self._input_value(result_key(task_id), None) for task_id in sinks}

    # -- feedback ------------------------------------------------------------------------

    async def ask(self, request: FeedbackRequest, live: LiveParts) -> FeedbackResponse | None:
        """Return the answer to a task's request, waiting for it; None when the run is stopping."""
        model = live.model
        if self._stop is not None:
            return None
        record = self._record_for(request)
        feedback_id = record.feedback_id
        if record.state == "answered" and record.response is not None:
            checked = self._checked(record, record.response, model)
            if checked is not None:
                return checked
            record = self.state.records[feedback_id]
        waiting = self._waiting[feedback_id] = _Waiting(live)
        try:
            filed = await anyio.to_thread.run_sync(self.store.read_answer, feedback_id)
            if filed is not None:
                self._accept(feedback_id, filed)
            if waiting.response is None:
                for presenter in self.presenters:
                    presenter.show(self, record.request)
                await self.write_checkpoint()  # so that other processes (the CLI) can answer it
                timeout = request.timeout
                with anyio.move_on_after(math.inf if timeout is None else timeout):
                    await waiting.event.wait()
        finally:
            del self._waiting[feedback_id]
        if waiting.response is not None:
            return waiting.response
        if not waiting.interrupted:
            self.request_stop(
                RunStatus.PAUSED,
                f"no answer to {feedback_id} within {request.timeout:g} s",
            )
        return None

    def _record_for(self, request: FeedbackRequest) -> RequestRecord:
        """The saved record for this call of the task, or a new one when the question changed."""
        state = self.state
        earlier = state.request_ids_of(request.task_id)
        known = [state.records[f] for f in earlier if state.records[f].request.call_index == request.call_index]
        if known and known[0].request.same_question(request):
            if known[0].state == "answered":
                return known[0]
            saved = known[0].request
            refreshed = known[0].model_copy(
                update={
                    "request": request.model_copy(
                        update={"feedback_id": saved.feedback_id, "created_at": saved.created_at}
                    )
                }
            )
            state.records[saved.feedback_id] = refreshed
            return refreshed
        if known:
            state.records[known[0].feedback_id] = known[0].model_copy(update={"state": "closed"})
        record = RequestRecord(request=request.model_copy(update={"feedback_id": new_feedback_id()}))
        state.records[record.feedback_id] = record
        return record

    def _checked(
        self, record: RequestRecord, response: FeedbackResponse, model: type[BaseModel] | None
    ) -> FeedbackResponse | None:
        """A recorded response, with a form's data validated by the task's model; None if refused."""
        if model is None:
            return response
        try:
            data = make_response(record.request, data=response.data, model=model).data
        except InvalidAnswerError as error:
            self.store.set_answer_aside(record.feedback_id, str(error))
            self.state.records[record.feedback_id] = record.model_copy(update={"state": "pending", "response": None})
            return None
        return response.model_copy(update={"data": data})

    def _accept(self, feedback_id: str, response: FeedbackResponse) -> bool:
        """Record a filed answer and wake the task waiting for it; return whether it was accepted."""
        record = self.state.records.get(feedback_id)
        if record is None or record.state != "pending":
            return False
        waiting = self._waiting.get(feedback_id)
        checked = self._checked(record, response, waiting.model if waiting else None)
        if checked is None:
            return False
        self.state.records[feedback_id] = record.model_copy(update={"state": "answered", "response": checked})
        if waiting is not None:
            waiting.response = checked
            waiting.event.set()
        self._tell_settled(record.request, checked)
        self._mark_dirty()
        return True

    def _tell_task(self, task_id: str, state: TaskState) -> None:
        for presenter in self.presenters:
            presenter.task_changed(self, task_id, state)

    def _tell_settled(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        for presenter in self.presenters:
            presenter.settle(request, response)

    def waiting_for(self, feedback_id: str) -> bool:
        """Whether a task of this run is waiting for that request now."""
        return feedback_id in self._waiting

    def live_parts(self, feedback_id: str) -> LiveParts:
        """The model and preview function of a request a task waits for now."""
        waiting = self._waiting.get(feedback_id)
        return waiting.live if waiting else LiveParts()

    def cancel_threadsafe(self, reason: str) -> None:
        """:meth:`cancel` from any thread (e.g. a Cancel button)."""
        if self._token is None:  # not started yet: it will start cancelled
            self.cancel(reason)
            return
        self.call_soon_on_loop(self.cancel, reason)

    def submit(
        self,
        feedback_id: str,
        *,
        via: AnswerSource = "api",
        responded_by: str | None = None,
        **answer: Any,
    ) -> FeedbackResponse:
        """Answer a request of this run (on the loop thread); the first valid answer wins."""
        record = self.state.records.get(feedback_id)
        if record is None:
            raise FeedbackNotFoundError(feedback_id, self.store.directory)
        if record.state != "pending" or record.response is not None:
            raise FeedbackAlreadySettledError(feedback_id, settled_detail(record.response))
        waiting = self._waiting.get(feedback_id)
        response = make_response(
            record.request,
            via=via,
            responded_by=responded_by,
            model=waiting.model if waiting else None,
            **answer,
        )
        if not self.store.file_answer(response):
            first = self.store.read_answer(feedback_id)
            if first is not None:
                self._accept(feedback_id, first)
            raise FeedbackAlreadySettledError(feedback_id, settled_detail(first))
        self._accept(feedback_id, response)
        return response

    def submit_threadsafe(self, feedback_id: str, **answer: Any) -> FeedbackResponse:
        """:meth:`submit` from any thread (console readers, widget callbacks, other threads)."""
        if self.on_loop_thread():
            return self.submit(feedback_id, **answer)
        return anyio.from_thread.run_sync(lambda: self.submit(feedback_id, **answer), token=self._token)

    async def _poll_filed_answers(self) -> None:
        """Pick up answers other processes filed (CLI, API) while tasks wait."""
        folder = self.store.answers_directory
        while True:
            await anyio.sleep(self.answer_poll_interval)
            if not self._waiting:
                continue
            wanted = list(self._waiting)
            filed = await anyio.to_thread.run_sync(_read_filed, self.store, folder, wanted)
            for feedback_id, response in filed.items():
                self._accept(feedback_id, response)

    # -- checkpoints ---------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        self._changes += 1
        self._wake_writer.set()

    def document(self) -> CheckpointDocument:
        """A snapshot of the run as a checkpoint document."""
        state = self.state
        return CheckpointDocument(
            workflow=state.workflow,
            run_id=state.run_id,
            status=state.status,
            reason=state.reason,
            created_at=state.created_at,
            updated_at=utc_now(),
            owner_pid=os.getpid() if state.status is RunStatus.RUNNING else None,
            owner_host=socket.gethostname(),
            tasks=list(self.graph.tasks),
            edges=self.graph.edges,
            completed=list(state.completed),
            requests=list(state.records.values()),
            error=state.error,
            channel=state.channel.to_json_data(),
        )

    async def write_checkpoint(self) -> Path:
        """Write the checkpoint now (in a worker thread, one write at a time, newest last)."""
        async with self._write_lock:
            changes = self._changes
            document = self.document()
            path = await anyio.to_thread.run_sync(self.store.write, document)
            self._written_changes = changes
            return path

    async def _write_checkpoints_when_dirty(self) -> None:
        """Coalesce checkpoint writes: at most one per ``checkpoint_interval`` while tasks finish."""
        while True:
            await self._wake_writer.wait()
            self._wake_writer = anyio.Event()
            await anyio.sleep(self.checkpoint_interval)
            if self._changes != self._written_changes:
                await self.write_checkpoint()


def _read_filed(store: CheckpointStore, folder: Path, wanted: list[str]) -> dict[str, FeedbackResponse]:
    try:
        present = {entry.name for entry in folder.iterdir()}
    except FileNotFoundError:
        return {}
    found = {}
    for feedback_id in wanted:
        if f"{feedback_id}.json" in present:
            response = store.read_answer(feedback_id)
            if response is not None:
                found[feedback_id] = response
    return found


def settled_detail(response: FeedbackResponse | None) -> str:
    """'already answered by X via Y at Z: <answer>', or why else a request is closed."""
    if response is None:
        return "the request is closed (its run finished or the task asked a different question)"
    return (
        f"already answered by {response.responded_by} via {response.via} at "
        f"{response.responded_at:%Y-%m-%d %H:%M:%S %Z}: {response.summary()}"
    )
