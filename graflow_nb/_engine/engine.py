"""The run engine: schedules tasks on an anyio event loop, brokers feedback, writes checkpoints.

Sync tasks run in worker threads (so a task waiting for a person never blocks the loop); async
tasks run on the loop. Every answer, from any source, goes through the run's broker (directly, or
through the answers folder), and the first valid one wins. Presenters are handed the engine's
:attr:`Engine.view`, not the engine.
"""

from __future__ import annotations

import functools
import sys
import threading
import traceback
import weakref
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from typing_extensions import TypeVarTuple, Unpack

from .._definition.graph import TaskGraph
from .._io.run_claim import RunClaim
from .._io.store import CheckpointStore
from .._model.errors import CheckpointSaveError, FeedbackTimeoutError, LoopConflictError, MaxStepsExceededError
from .._model.notification_config import scrub_secrets
from .._model.outcome import RunOutcome
from .._model.status import RunStatus
from .._model.task_order import in_task_order
from .._util.background import background_writes
from .._util.environment import running_kernel
from . import checkpoint_writer
from .channel import Channel
from .checkpoint_writer import CheckpointWriter
from .context import Jump, TaskExecutionContext, TaskStopped
from .execution_context import ExecutionContext
from .inline import InlineRunner
from .loop_bridge import LoopBridge
from .loops import go_back
from .presenting import FeedbackPresenter, NobodyWatching, RunView, TaskState
from .results import TaskResults
from .run_view import EngineView
from .scheduler import Scheduler
from .state import RunState
from .task_calls import warn_swallowed_stop

if TYPE_CHECKING:  # (the broker and the models load with a run's first request: they need pydantic)
    from .._model.checkpoint import CheckpointDocument, RequestRecord
    from .._model.feedback import FeedbackRequest, FeedbackResponse, LiveParts
    from .broker import FeedbackBroker

    # (the worker path loads only with a run on Graflow's workers, see _api/runs.py)
    from .remote_tasks import RemoteTasks

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: Stop reasons by precedence: a failure or cancel outranks a pause, a pause outranks a terminate.
_STOP_RANK = {RunStatus.COMPLETED: 1, RunStatus.PAUSED: 2, RunStatus.CANCELLED: 3, RunStatus.FAILED: 3}

live_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


class Engine:
    """Executes one run of a task graph to its end: completed, paused, cancelled or failed."""

    def __init__(
        self,
        graph: TaskGraph,
        state: RunState,
        store: CheckpointStore,
        presenters: Sequence[FeedbackPresenter] = (),
        checkpoint_interval: float | None = None,
        answer_poll_interval: float = 0.1,
        claim: RunClaim | None = None,
        remote: RemoteTasks | None = None,
    ) -> None:
        self.graph = graph
        #: Set when the run's tasks run on Graflow's workers (``execute(redis=...)``).
        self.remote = remote
        self.state = state
        self.store = store
        #: This engine's hold on its run (see _run_claim): released when the run ends, or when the
        #: engine is dropped without running.
        self.claim = claim
        if claim is not None:
            weakref.finalize(self, claim.release)
        self.presenters = list(presenters)
        #: Set when nobody can click where this run is shown (a kernel run by papermill, nbconvert,
        #: nbclient): a waiting request says so, and may time out at once.
        self.unattended: NobodyWatching | None = None
        if checkpoint_interval is None:
            checkpoint_interval = checkpoint_writer.COALESCE_SECONDS
        self.checkpoint_interval = checkpoint_interval
        self._stop: RunStatus | None = None
        self._stop_reason: str | None = None
        self._exception: BaseException | None = None
        self._save_error: CheckpointSaveError | None = None
        self._terminated_by: str | None = None
        self._answer_poll_interval = answer_poll_interval
        self._broker: FeedbackBroker | None = None  # made on first use (most runs never ask)
        self._broker_lock = threading.Lock()
        self._polling = False  # whether the broker's poll for answers filed elsewhere runs
        #: What presenters are handed: the run's state and the calls that answer it, not the engine.
        self.view: RunView = EngineView(self)
        #: The run as Graflow's code reaches it (``ctx.execution_context``, ``execute(ret_context=True)``).
        self.execution_context = ExecutionContext(self)
        self._results = TaskResults(graph, state)
        self._loop = LoopBridge(lambda: self.state.status)
        self._writer = CheckpointWriter(
            store,
            store.run_path(state.run_id),
            functools.partial(state.envelope_data, graph),
            state.channel,
            self._saving_failed,
            checkpoint_interval,
        )
        self._background: anyio.abc.TaskGroup | None = None  # side work of a going run (see spawn)
        self._inline = InlineRunner(checkpoint_interval, self._save_from_watchdog)
        self._scheduler = Scheduler(
            graph, state.completed, self, self._inline, state.skipped, remote=remote is not None
        )

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
    def stopping(self) -> bool:
        """Whether the run has been asked to stop (pause, cancel, fail or terminate)."""
        return self._stop is not None

    @property
    def checkpoint_path(self) -> Path:
        """Where this run's checkpoint is written."""
        return self.store.run_path(self.run_id)

    # -- what tasks call (see context.TaskHost) ---------------------------------------------

    @property
    def feedback(self) -> FeedbackBroker:
        """The run's feedback broker: its requests, their answers and deadlines."""
        broker = self._broker
        if broker is None:
            with self._broker_lock:
                if self._broker is None:
                    from .broker import FeedbackBroker

                    self._broker = FeedbackBroker(self, self._answer_poll_interval)
                broker = self._broker
        return broker

    async def ask(self, request: FeedbackRequest, live: LiveParts) -> FeedbackResponse | None:
        """A task's request, answered (None when the run is stopping)."""
        broker = self.feedback
        if not self._polling:
            self._polling = self.spawn(broker.poll_filed_answers)
        return await broker.ask(request, live)

    # -- crossing between worker threads and the loop -------------------------------------

    def on_loop_thread(self) -> bool:
        """Whether the caller runs on the engine's event loop thread."""
        return self._loop.on_loop_thread()

    def require_worker_thread(self, async_alternative: str) -> None:
        """Refuse a blocking call made from the event loop, where it would freeze every task."""
        self._loop.require_worker_thread(async_alternative)

    def call_from_worker(self, func: Callable[[Unpack[Ts]], Coroutine[Any, Any, T]], *args: Unpack[Ts]) -> T:
        """Run a coroutine function on the loop from a worker thread and wait for its result."""
        return self._loop.call_from_worker(func, *args)

    def run_on_loop(self, func: Callable[[], T]) -> T:
        """``func()`` on the loop's thread from any thread, waiting for it (RunEndedError once the run ended)."""
        return self._loop.run_on_loop(func)

    def spawn(self, func: Callable[[Unpack[Ts]], Coroutine[Any, Any, object]], *args: Unpack[Ts]) -> bool:
        """Start ``func(*args)`` beside the run's tasks (call on the loop's thread); False if the run is not going."""
        if self._background is None:
            return False
        self._background.start_soon(func, *args)
        return True

    def call_soon_on_loop(self, func: Callable[[Unpack[Ts]], object], *args: Unpack[Ts]) -> None:
        """Run ``func`` on the loop: directly when already there, else soon, without waiting for it."""
        self._loop.call_soon(func, *args)

    # -- running -------------------------------------------------------------------------

    async def run(self) -> RunOutcome:
        """Run every task not yet completed, then write the final checkpoint."""
        self._loop.open()
        # a sync task may run on the loop's own thread unless that loop is a Jupyter kernel's
        inline_allowed = not (threading.current_thread() is threading.main_thread() and running_kernel())
        self.state.status = RunStatus.RUNNING
        live_engines.add(self)
        try:
            try:
                async with anyio.create_task_group() as background:
                    self._background = background
                    background.start_soon(self._writer.write_when_dirty)
                    if self._broker is not None:  # e.g. an answer given before the run started
                        self._polling = self.spawn(self._broker.poll_filed_answers)
                    await self.write_checkpoint()
                    await self._scheduler.run(inline_allowed=inline_allowed, kernel_loop=not inline_allowed)
                    background.cancel_scope.cancel()
                self._background = None
            except BaseException as error:  # Ctrl-C or the caller cancelled: save the run as paused, then go on
                self.state.status, self.state.reason = RunStatus.PAUSED, "interrupted before it finished"
                with anyio.CancelScope(shield=True):
                    await self.write_checkpoint()
                inner = sole_exception(error)
                if inner is error:
                    raise
                raise inner from None  # the run's own error, not the task group that carried it
            self._finish()
            with anyio.CancelScope(shield=True):
                await self.write_checkpoint()
                await anyio.to_thread.run_sync(background_writes.wait)  # the decision log is complete on return
                if self._broker is not None:  # and every feedback handler has been told
                    from .request_events import handler_calls

                    await anyio.to_thread.run_sync(handler_calls.wait)
        finally:
            self._background = None
            self._loop.close()
            self._inline.close()
            self._writer.close()
            live_engines.discard(self)
            if self.claim is not None:
                with anyio.CancelScope(shield=True):  # its lock file goes: not on the loop's thread
                    await anyio.to_thread.run_sync(self.claim.release)
            for presenter in self.presenters:
                presenter.run_ended(self.view)
        return self.outcome()

    def settle(
        self, task_id: str, context: TaskExecutionContext | None, result: Any = None, error: BaseException | None = None
    ) -> bool:
        """Record how a task ended (its result, or the error that stopped it); return whether it completed."""
        if isinstance(error, TaskStopped):
            self.task_changed(task_id, "stopped")
            return False
        if error is None and context is not None and context.stop_raised:
            # the task caught the stop (a bare `except:` around request_feedback) and returned anyway:
            # its request is still open, so keep nothing of it; it runs again when the run resumes
            warn_swallowed_stop(self.graph.tasks[task_id].func, task_id)
            self.task_changed(task_id, "stopped")
            return False
        if isinstance(error, FeedbackTimeoutError) and context is not None and error.feedback_id in context.timed_out:
            # the guide's timeout: the run pauses with the request pending; on resume the task asks again
            self.request_stop(RunStatus.PAUSED, error.detail)
            self.task_changed(task_id, "stopped")
            return False
        if isinstance(error, Exception):
            self._fail(task_id, error)
            self.task_changed(task_id, "failed")
            return False
        if context is not None:  # it caught FeedbackTimeoutError and went on: those requests are over
            for feedback_id in context.timed_out:
                self.feedback.close_timed_out(feedback_id)
        self._results.keep(task_id, result)
        state = self.state
        state.visits[task_id] = state.visits.get(task_id, 0) + 1
        state.steps += 1
        state.iteration_data.pop(task_id, None)  # an iteration's data is used up once it completes
        self.task_changed(task_id, "completed")
        if context is not None and context.jump is not None and not self._go_back(task_id, context.jump):
            return False
        if context is not None and context.terminate_reason is not None:
            self._terminated_by = task_id
            self.request_stop(RunStatus.COMPLETED, context.terminate_reason)
        self.mark_dirty()
        return True

    def _go_back(self, task_id: str, jump: Jump) -> bool:
        """Apply a task's next_task()/next_iteration() (see loops.go_back); False if it cannot be."""
        try:
            again = go_back(self.graph, self.state, self._results, self._scheduler.in_flight, task_id, jump)
        except LoopConflictError as conflict:
            self._fail(task_id, conflict)
            return False
        for earlier in again:
            self.task_changed(earlier, "waiting")
        self._scheduler.replan()
        return True

    # -- what the scheduler calls (see scheduler.SchedulerHost) ------------------------------

    def remote_call(self, task_id: str, context: TaskExecutionContext) -> Callable[[], Any] | None:
        """The call that has a Graflow worker run the task, if this run's tasks run so."""
        if self.remote is None:
            return None
        return functools.partial(self.remote.run, self, task_id, context)

    def task_context(self, task_id: str) -> TaskExecutionContext:
        """A new context for a task about to run (its visit, its iteration and the data given it)."""
        state = self.state
        context = TaskExecutionContext(self, task_id, state.visits.get(task_id, 0), state.iterations.get(task_id, 0))
        if task_id in state.iteration_data and state.iteration_data[task_id] is not None:
            context.iteration_input = (state.iteration_data[task_id],)
        return context

    def may_start(self, task_id: str) -> bool:
        """Whether the task may start: a run with max_steps fails once it has completed that many."""
        limit = self.state.max_steps
        if limit is None or self.state.steps < limit:
            return True
        if not self.stopping:
            self._fail(task_id, MaxStepsExceededError(limit, task_id))
        return False

    def task_input(self, key: str, default: Any) -> Any:
        """A channel value (or an earlier task's result) a task takes as an input."""
        return self._results.value(key, default)

    def task_changed(self, task_id: str, state: TaskState) -> None:
        """Tell every presenter that a task started or ended."""
        for presenter in self.presenters:
            presenter.task_changed(self.view, task_id, state)

    async def waits_for_running(self, task_ids: Sequence[str]) -> None:
        """An interrupted run still waits for running tasks: say so on disk and on stderr."""
        names = ", ".join(repr(task_id) for task_id in task_ids)
        self.state.reason = f"interrupted; waiting for {names} to finish"
        await self.write_checkpoint()  # status still running, with this live process as its owner
        print(
            f"graflow_nb: run {self.run_id} interrupted; waiting for {names} to finish, then it is saved as "
            "paused (if this process is killed meanwhile, the run can still be resumed)",
            file=sys.stderr,
        )

    def _fail(self, task_id: str, error: Exception) -> None:
        from .._model.checkpoint import TaskError

        message = scrub_secrets(str(error))
        self.state.error = TaskError(
            task_id=task_id,
            error_type=type(error).__qualname__,
            message=message,
            traceback=scrub_secrets("".join(traceback.format_exception(error))),
        )
        if self._exception is None:
            self._exception = error
        self.request_stop(RunStatus.FAILED, f"task {task_id!r} raised {type(error).__name__}: {message}")

    def cancel(self, reason: str) -> None:
        """End the run as cancelled (what ``ctx.cancel_workflow`` asks for)."""
        self.request_stop(RunStatus.CANCELLED, reason)

    def request_stop(self, status: RunStatus, reason: str | None) -> None:
        """Start no more tasks and wake every waiting request; the run ends with ``status``."""
        if self._stop is not None and _STOP_RANK[self._stop] >= _STOP_RANK[status]:
            return
        self._stop, self._stop_reason = status, reason
        if self._broker is not None:
            self._broker.interrupt_all()

    def _finish(self) -> None:
        state = self.state
        if self._stop in (RunStatus.PAUSED, RunStatus.FAILED, RunStatus.CANCELLED):
            state.status, state.reason = self._stop, self._stop_reason
        elif self._stop is RunStatus.COMPLETED or self._results.all_in():
            state.status, state.reason = RunStatus.COMPLETED, self._stop_reason
        else:
            state.status, state.reason = RunStatus.PAUSED, "stopped before every task ran"
        if state.status.finished:
            for feedback_id, record in list(state.records.items()):
                if record.state == "pending":
                    state.records[feedback_id] = record.model_copy(update={"state": "closed"})
                    self.feedback.events.closed(record.request, state.reason)
                    self.feedback.tell_settled(record.request, None)

    def pending_records(self) -> list[RequestRecord]:
        """The requests waiting for an answer, in the workflow's order of tasks (on the run's loop, or
        once it has ended)."""
        waiting = [record for record in self.state.records.values() if record.state == "pending"]
        return in_task_order(waiting, list(self.graph.tasks), lambda record: record.request)

    def outcome(self) -> RunOutcome:
        """How the run stands: final once :meth:`run` has returned."""
        state = self.state
        status, reason = state.status, state.reason
        if self._save_error is not None:  # what the disk keeps is the last good checkpoint, not this end
            status, reason = RunStatus.FAILED, str(self._save_error)
        return RunOutcome(
            workflow=state.workflow,
            run_id=state.run_id,
            status=status,
            checkpoint_path=self.checkpoint_path,
            reason=reason,
            result=self._results.of_run(self._terminated_by) if status is RunStatus.COMPLETED else None,
            pending_feedback_ids=tuple(r.feedback_id for r in self.pending_records()),
            error=state.error,
            exception=self._exception,
            context=self.execution_context,
        )

    def cancel_threadsafe(self, reason: str) -> None:
        """:meth:`cancel` from any thread (e.g. a Cancel button)."""
        if self._loop.token is None:  # not started yet: it will start cancelled
            self.cancel(reason)
            return
        self.call_soon_on_loop(self.cancel, reason)

    # -- checkpoints ---------------------------------------------------------------------

    def mark_dirty(self) -> None:
        """Note a change that the next coalesced checkpoint write must save."""
        self._writer.mark_dirty()

    def document(self) -> CheckpointDocument:
        """A snapshot of the run as a checkpoint document."""
        return self.state.document(self.graph)

    async def write_checkpoint(self) -> Path:
        """Write the checkpoint now (in a worker thread, one write at a time, newest last)."""
        return await self._writer.write_now()

    async def save_changes(self) -> None:
        """Return once the state as of now is on disk (a write under way or queued may already cover it)."""
        await self._writer.save_changes()

    def _saving_failed(self, error: CheckpointSaveError) -> None:
        """A checkpoint could not be written: the run fails (once), its last good checkpoint kept on disk."""
        if self._save_error is not None:
            return
        self._save_error = error
        self._exception = error
        self.request_stop(RunStatus.FAILED, str(error))

    def _save_from_watchdog(self) -> None:
        """Save unsaved progress while a long task runs on the loop's thread (the state is still)."""
        try:
            self._writer.save_from_thread()
        except CheckpointSaveError as error:
            self.call_soon_on_loop(self._saving_failed, error)


def sole_exception(error: BaseException) -> BaseException:
    """The one error inside (nested) exception groups of one error each; else ``error`` itself."""
    while True:
        inner = getattr(error, "exceptions", None)
        if not isinstance(inner, tuple) or len(inner) != 1 or not isinstance(inner[0], BaseException):
            return error
        error = inner[0]
