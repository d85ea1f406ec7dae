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
import time
import traceback
import weakref
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from typing_extensions import TypeVarTuple, Unpack

from .._definition.graph import TaskGraph
from .._io.run_claim import RunClaim
from .._io.store import CheckpointStore
from .._model.checkpoint import CheckpointDocument, TaskError
from .._model.errors import CheckpointSaveError
from .._model.feedback import FeedbackRequest, FeedbackResponse, LiveParts
from .._model.notification_config import scrub_secrets
from .._model.outcome import RunOutcome
from .._model.status import RunStatus
from .._util.background import background_writes
from .._util.environment import running_kernel
from .._util.worker_pool import PooledCalls, run_in_shared_pool, running_asyncio_loop
from .broker import FeedbackBroker
from .channel import Channel
from .checkpoint_writer import CheckpointWriter
from .context import TaskExecutionContext, TaskStopped
from .inline import InlineRunner
from .loop_bridge import LoopBridge
from .presenting import FeedbackPresenter, NobodyWatching, RunView, TaskState
from .results import TaskResults
from .run_view import EngineView
from .state import RunState
from .task_calls import as_async_task, as_task, warn_swallowed_stop

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: Stop reasons by precedence: a failure or cancel outranks a pause, a pause outranks a terminate.
_STOP_RANK = {RunStatus.COMPLETED: 1, RunStatus.PAUSED: 2, RunStatus.CANCELLED: 3, RunStatus.FAILED: 3}

live_engines: weakref.WeakSet[Engine] = weakref.WeakSet()

#: Seconds an interrupted run gives its running tasks to stop before saying that it waits for them.
INTERRUPT_GRACE = 0.5


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
        claim: RunClaim | None = None,
    ) -> None:
        self.graph = graph
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
        self.checkpoint_interval = checkpoint_interval
        self._stop: RunStatus | None = None
        self._stop_reason: str | None = None
        self._exception: BaseException | None = None
        self._save_error: CheckpointSaveError | None = None
        self._terminated_by: str | None = None
        self.feedback = FeedbackBroker(self, answer_poll_interval)
        #: What presenters are handed: the run's state and the calls that answer it, not the engine.
        self.view: RunView = EngineView(self)
        self._results = TaskResults(graph, state)
        self._loop = LoopBridge(lambda: self.state.status)
        self._writer = CheckpointWriter(
            store, store.run_path(state.run_id), self.document, self._saving_failed, checkpoint_interval
        )
        self._background: anyio.abc.TaskGroup | None = None  # side work of a going run (see spawn)
        # Tasks with a context may wait hours for a person, each holding a thread; the others only
        # compute or do I/O, and share a pool sized like concurrent.futures' default.
        self._asking_limiter = anyio.CapacityLimiter(max(40, len(graph.tasks)))
        self._in_flight = 0
        self._running: dict[str, None] = {}  # tasks executing now, in start order
        self._nothing_running: anyio.Event | None = None
        self._landed = anyio.Event()
        self._waiting_on: dict[str, int] = {}
        self._inline_allowed = True
        self._inline = InlineRunner(checkpoint_interval, self._save_from_watchdog)
        self._last_yield = 0.0

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

    async def ask(self, request: FeedbackRequest, live: LiveParts) -> FeedbackResponse | None:
        """A task's request, answered (None when the run is stopping)."""
        return await self.feedback.ask(request, live)

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
        self._inline_allowed = not (threading.current_thread() is threading.main_thread() and running_kernel())
        self.state.status = RunStatus.RUNNING
        live_engines.add(self)
        try:
            try:
                async with anyio.create_task_group() as background:
                    self._background = background
                    background.start_soon(self._writer.write_when_dirty)
                    background.start_soon(self.feedback.poll_filed_answers)
                    await self.write_checkpoint()
                    await self._run_tasks()
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
        finally:
            self._background = None
            self._loop.close()
            self._inline.close()
            live_engines.discard(self)
            if self.claim is not None:
                with anyio.CancelScope(shield=True):  # its lock file goes: not on the loop's thread
                    await anyio.to_thread.run_sync(self.claim.release)
            for presenter in self.presenters:
                presenter.run_ended(self.view)
        return self.outcome()

    async def _run_tasks(self) -> None:
        graph, completed = self.graph, self.state.completed
        self._waiting_on = {
            task_id: sum(1 for before in graph.predecessors[task_id] if before not in completed)
            for task_id in graph.tasks
        }
        loop = running_asyncio_loop()
        pooled = PooledCalls(loop) if loop is not None else None
        collecting = False
        async with anyio.create_task_group() as group:

            async def run_from(task_id: str | None) -> None:
                """Run a task, then go on along its chain; parallel successors start their own."""
                try:
                    while task_id is not None and await self._run_task(task_id):
                        ready = self._ready_after(task_id)
                        task_id = ready.pop(0) if len(ready) == 1 else None
                        for other in ready:
                            start(other)
                finally:
                    self._land()

            async def collect_pooled(pooled: PooledCalls) -> None:
                """Settle pooled tasks as they finish and start what they make ready."""
                nonlocal collecting
                try:
                    await self._settle_pooled_until_idle(pooled, start)
                except BaseException:  # the run is interrupted: keep what still finishes, start nothing
                    with anyio.CancelScope(shield=True):  # never abandon a running task
                        await self._settle_pooled_until_idle(pooled, None)
                    raise
                finally:
                    collecting = False

            def start(task_id: str) -> None:
                nonlocal collecting
                self._in_flight += 1
                if pooled is None or not self._runs_in_pool(task_id):
                    group.start_soon(run_from, task_id)
                    return
                if self._stop is not None:
                    self._land()
                    return
                pooled.submit(task_id, self._prepare_call(task_id)[1])
                if not collecting:
                    collecting = True
                    group.start_soon(collect_pooled, pooled)

            for task_id, count in self._waiting_on.items():
                if count == 0 and task_id not in completed:
                    start(task_id)
            await self._until_all_landed()

    def _ready_after(self, task_id: str) -> list[str]:
        """The successors of a task just completed that now have all they wait for."""
        ready = []
        for after in self.graph.successors[task_id]:
            self._waiting_on[after] -= 1
            if self._waiting_on[after] == 0 and after not in self.state.completed and self._stop is None:
                ready.append(after)
        return ready

    def _runs_in_pool(self, task_id: str) -> bool:
        """Whether a task, started beside others, goes to the shared pool: sync, and unable to ask."""
        wrapper = self.graph.tasks[task_id]
        return not (wrapper.is_async or wrapper.inject_context or self._may_run_inline(False))

    def _prepare_call(self, task_id: str) -> tuple[TaskExecutionContext, Callable[[], Any]]:
        """The task's context and the call that runs it with its inputs; presenters hear it is running."""
        wrapper = self.graph.tasks[task_id]
        context = TaskExecutionContext(self, task_id)
        arguments = self.graph.inputs_for(task_id, self._results.value)
        leading = (context,) if wrapper.inject_context else ()
        self._running[task_id] = None
        self._tell_task(task_id, "running")
        run_as = as_async_task if wrapper.is_async else as_task
        return context, functools.partial(run_as, task_id, wrapper.func, *leading, **arguments)

    async def _run_task(self, task_id: str) -> bool:
        """Run one task; return whether it completed."""
        if self._stop is not None:
            return False
        wrapper = self.graph.tasks[task_id]
        context, call = self._prepare_call(task_id)
        try:
            if wrapper.is_async:
                result = await call()
            elif self._may_run_inline(wrapper.inject_context):
                result = self._inline.run(call)
                await self._yield_now_and_then()
            elif wrapper.inject_context:
                result = await anyio.to_thread.run_sync(call, limiter=self._asking_limiter)
            else:
                result = await run_in_shared_pool(call)
        except (TaskStopped, Exception) as error:  # noqa: BLE001 - any task error fails the run, recorded
            return self._settle(task_id, context, error=error)
        finally:
            self._task_ended(task_id)
        return self._settle(task_id, context, result)

    async def _settle_pooled_until_idle(self, pooled: PooledCalls, start: Callable[[str], None] | None) -> None:
        """Settle pooled tasks as they finish until none runs; with ``start``, start what each makes ready."""
        while pooled.running:
            for task_id, future in await pooled.next_finished():
                self._land()
                if self._settle_pooled(task_id, future) and start is not None:
                    for after in self._ready_after(task_id):
                        start(after)

    def _settle_pooled(self, task_id: str, future: Future[Any]) -> bool:
        """Settle a task that ran in the pool; return whether it completed."""
        self._task_ended(task_id)
        try:
            result = future.result()
        except Exception as error:  # noqa: BLE001 - any task error fails the run, recorded
            return self._settle(task_id, None, error=error)
        return self._settle(task_id, None, result)

    def _settle(
        self, task_id: str, context: TaskExecutionContext | None, result: Any = None, error: BaseException | None = None
    ) -> bool:
        """Record how a task ended (its result, or the error that stopped it); return whether it completed."""
        if isinstance(error, TaskStopped):
            self._tell_task(task_id, "stopped")
            return False
        if error is None and context is not None and context.stop_raised:
            # the task caught the stop (a bare `except:` around request_feedback) and returned anyway:
            # its request is still open, so keep nothing of it; it runs again when the run resumes
            warn_swallowed_stop(self.graph.tasks[task_id].func, task_id)
            self._tell_task(task_id, "stopped")
            return False
        if isinstance(error, Exception):
            self._fail(task_id, error)
            self._tell_task(task_id, "failed")
            return False
        self._results.keep(task_id, result)
        self._tell_task(task_id, "completed")
        if context is not None and context.terminate_reason is not None:
            self._terminated_by = task_id
            self.request_stop(RunStatus.COMPLETED, context.terminate_reason)
        self.mark_dirty()
        return True

    def _task_ended(self, task_id: str) -> None:
        self._running.pop(task_id, None)
        if not self._running and self._nothing_running is not None:
            self._nothing_running.set()

    def _land(self) -> None:
        """A task, or a chain of them, in flight has ended."""
        self._in_flight -= 1
        if self._in_flight == 0:
            self._landed.set()

    async def _until_all_landed(self) -> None:
        """Wait until nothing is in flight; interrupted meanwhile, say so if running tasks keep the run waiting."""
        try:
            while self._in_flight:  # (it may touch 0 for a moment, between a task and its successors)
                self._landed = anyio.Event()
                await self._landed.wait()
        except BaseException:  # the group waits for running tasks next, which may take long
            # tasks waiting for an answer stop at once (they are asked again on resume); others may not
            self.request_stop(RunStatus.PAUSED, "interrupted before it finished")
            with anyio.CancelScope(shield=True):
                await self._say_when_waiting_for_running_tasks()
            raise

    async def _say_when_waiting_for_running_tasks(self) -> None:
        """If running tasks have not stopped a short while after an interruption, say on disk and on stderr
        that the run waits for them (a sync task cannot be stopped from outside)."""
        self._nothing_running = anyio.Event()
        with anyio.move_on_after(INTERRUPT_GRACE):
            await self._nothing_running.wait()
        if not self._running:
            return
        names = ", ".join(repr(task_id) for task_id in self._running)
        self.state.reason = f"interrupted; waiting for {names} to finish"
        await self.write_checkpoint()  # status still running, with this live process as its owner
        print(
            f"graflow_nb: run {self.run_id} interrupted; waiting for {names} to finish, then it is saved as "
            "paused (if this process is killed meanwhile, the run can still be resumed)",
            file=sys.stderr,
        )

    def _may_run_inline(self, asks_context: bool) -> bool:
        """Whether a sync task may run on the loop's thread, saving two thread switches.

        Only when it is the only task in flight (nothing else could run meanwhile anyway), cannot
        ask for feedback (no context: asking blocks, and answers arrive through the loop), and the
        loop is not a Jupyter kernel's own (which must stay free for other cells and widgets).
        """
        return self._inline_allowed and not asks_context and self._in_flight == 1

    async def _yield_now_and_then(self) -> None:
        """Let the loop serve other work (checkpoint writes, cancels) every few ms of inline tasks."""
        now = time.monotonic()
        if now - self._last_yield > 0.005:
            self._last_yield = now
            await anyio.lowlevel.checkpoint()

    def _fail(self, task_id: str, error: Exception) -> None:
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
        self.feedback.interrupt_all()

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
            pending_feedback_ids=tuple(r.feedback_id for r in state.records.values() if r.state == "pending"),
            error=state.error,
            exception=self._exception,
        )

    def _tell_task(self, task_id: str, state: TaskState) -> None:
        for presenter in self.presenters:
            presenter.task_changed(self.view, task_id, state)

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
