"""Scheduling one run's task graph: which task starts when, and on which thread.

A task starts once every task before it has completed. Along a chain, one coroutine runs task after
task; where the graph fans out, each further successor gets a coroutine of its own. Sync tasks run in
worker threads (a task waiting for a person holds one), sync tasks that cannot ask share a pool, and a
quick sync task alone in flight runs on the loop's own thread. How a task's end is recorded belongs to
the run (:meth:`SchedulerHost.settle`); the scheduler only learns whether it completed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.lowlevel
import anyio.to_thread

from .._model.status import RunStatus
from .._util.worker_pool import PooledCalls, run_in_shared_pool, running_asyncio_loop
from .context import TaskStopped
from .inline import InlineRunner
from .parking import Outcome, TaskParked, ThreadBudget, threads_for_waiting
from .task_calls import task_call

if TYPE_CHECKING:
    from .._definition.graph import TaskGraph
    from .._model.feedback import FeedbackRequest, FeedbackResponse, LiveParts
    from .context import TaskExecutionContext
    from .presenting import TaskState

#: Seconds an interrupted run gives its running tasks to stop before saying that it waits for them.
INTERRUPT_GRACE = 0.5
#: On a kernel's loop, tasks ready at the start start this many at a time; once a slice has run to
#: its tasks' first wait, the loop stays idle for this share of the time that took (at least
#: START_PAUSE seconds). 10,000 approvals: all asked after 3.9 s instead of 2.4, the first page on
#: screen in 0.8-0.9 s instead of 1.0-1.5 (benchmarks/README.md, "Big review batches").
START_SLICE = 200
START_PAUSE = 0.002
START_IDLE_SHARE = 0.5


class SchedulerHost(Protocol):
    """What the scheduler needs of the run whose tasks it starts (the engine)."""

    @property
    def stopping(self) -> bool:
        """Whether the run has been asked to stop: no task starts any more."""

    def task_context(self, task_id: str) -> TaskExecutionContext:
        """A new context for a task about to run."""

    def task_input(self, key: str, default: Any) -> Any:
        """A channel value (or an earlier task's result) a task takes as an input."""

    def task_changed(self, task_id: str, state: TaskState) -> None:
        """A task started (or, through settle, ended): presenters are told."""

    def settle(
        self, task_id: str, context: TaskExecutionContext | None, result: Any = None, error: BaseException | None = None
    ) -> bool:
        """Record how a task ended; return whether it completed (its successors may start)."""

    def request_stop(self, status: RunStatus, reason: str | None) -> None:
        """Start no more tasks; the run ends with ``status``."""

    def may_start(self, task_id: str) -> bool:
        """Whether the task may start now (False once the run's max_steps is reached: it then fails)."""

    async def waits_for_running(self, task_ids: Sequence[str]) -> None:
        """An interrupted run still waits for these running tasks: say so, on disk and to the person."""

    def remote_call(self, task_id: str, context: TaskExecutionContext) -> Callable[[], Any] | None:
        """The call that has one of Graflow's workers run the task (blocking), or None: it runs here."""

    async def ask(self, request: FeedbackRequest, live: LiveParts) -> FeedbackResponse | None:
        """A parked task's request, answered (None when the run is stopping)."""


class Scheduler:
    """Starts the tasks of one run as they become ready, until none is in flight."""

    def __init__(
        self,
        graph: TaskGraph,
        completed: dict[str, None],
        host: SchedulerHost,
        inline: InlineRunner,
        skipped: dict[str, None] | None = None,
        *,
        remote: bool = False,
    ) -> None:
        self._graph = graph
        self._remote = remote  # every task runs on Graflow's workers
        self._completed = completed
        self._skipped = skipped if skipped is not None else {}
        self._host = host
        self._inline = inline
        # Tasks with a context may wait hours for a person: up to the budget's size hold a thread each
        # while they wait, the others are parked (see parking), so a few more threads keep the run going.
        # Each task on Graflow's workers has a thread here relaying its requests. The tasks without a
        # context only compute or do I/O, and share a pool sized like concurrent.futures' default.
        self._waiting_threads = ThreadBudget(threads_for_waiting())
        asking_threads = len(graph.tasks) if remote else min(len(graph.tasks), self._waiting_threads.size + 64)
        self._asking_limiter = anyio.CapacityLimiter(max(40, asking_threads))
        self._in_flight = 0  # chains and pooled tasks started and not yet landed
        self._running: dict[str, None] = {}  # tasks executing now, in start order
        self._nothing_running: anyio.Event | None = None
        self._landed = anyio.Event()
        self._waiting_on: dict[str, int] = {}
        self._inline_allowed = True
        self._last_yield = 0.0
        #: Tasks started and not yet ended (scheduled or running): a loop never starts one twice.
        self.in_flight: set[str] = set()
        self._replan = False

    def replan(self) -> None:
        """The run went back to an earlier task (a loop): what is ready is counted afresh, next."""
        self._replan = True

    def _count_waiting(self) -> None:
        """For each task, how many of the tasks before it have not completed."""
        completed = self._completed
        self._waiting_on = {
            task_id: sum(1 for before in befores if before not in completed)
            for task_id, befores in self._graph.predecessors.items()
        }

    def _may_run(self, task_id: str) -> bool:
        return task_id not in self._completed and task_id not in self._skipped and task_id not in self.in_flight

    async def run(self, *, inline_allowed: bool, kernel_loop: bool = False) -> None:
        """Run every task not yet completed, each once all before it have; return when none is in flight.

        On a Jupyter kernel's loop (``kernel_loop``), a batch of thousands starts in slices, with the
        loop idle after each: the kernel's IOPub thread needs the GIL to send the widgets drawn meanwhile
        (the first page of requests), and gets it only while the loop waits, and the browser beside the
        kernel gets the CPU to draw them.
        """
        self._inline_allowed = inline_allowed
        self._count_waiting()
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
                        if task_id is not None:
                            self.in_flight.add(task_id)
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
                self.in_flight.add(task_id)
                if pooled is None or not self._runs_in_pool(task_id):
                    group.start_soon(run_from, task_id)
                    return
                if self._host.stopping or not self._host.may_start(task_id):
                    self.in_flight.discard(task_id)
                    self._land()
                    return
                pooled.submit(task_id, self._prepare_call(task_id)[1])
                if not collecting:
                    collecting = True
                    group.start_soon(collect_pooled, pooled)

            ready = [task_id for task_id, count in self._waiting_on.items() if count == 0]
            for started, task_id in enumerate(ready, 1):
                if self._may_run(task_id):  # (a loop going back may have started it meanwhile)
                    start(task_id)
                if kernel_loop and started % START_SLICE == 0 and not self._host.stopping:
                    await self._pause_after_slice()
            await self._until_all_landed()

    async def _pause_after_slice(self) -> None:
        """Let the slice just started run up to its first wait, then leave the loop idle as long again
        (at least START_PAUSE): the kernel's other threads, and the browser beside it, get their share."""
        began = time.monotonic()
        await anyio.lowlevel.checkpoint()
        await anyio.sleep(max(START_PAUSE, (time.monotonic() - began) * START_IDLE_SHARE))

    def _ready_after(self, task_id: str) -> list[str]:
        """The tasks a task just completed makes ready: its successors that have all they wait for (or,
        after a loop went back, every task that now has)."""
        if self._host.stopping:
            return []
        if self._replan:
            self._replan = False
            self._count_waiting()
            return [t for t, count in self._waiting_on.items() if count == 0 and self._may_run(t)]
        ready = []
        for after in self._graph.successors[task_id]:
            self._waiting_on[after] -= 1
            if self._waiting_on[after] == 0 and self._may_run(after):
                ready.append(after)
        return ready

    def _runs_in_pool(self, task_id: str) -> bool:
        """Whether a task, started beside others, goes to the shared pool: sync, and unable to ask."""
        wrapper = self._graph.tasks[task_id]
        if self._remote:
            return False
        return not (wrapper.is_async or wrapper.inject_context or self._may_run_inline(False))

    def _prepare_call(self, task_id: str) -> tuple[TaskExecutionContext, Callable[[], Any]]:
        """The task's context and the call that runs it with its inputs; presenters hear it is running."""
        context = self._host.task_context(task_id)
        call = self._host.remote_call(task_id, context) or task_call(
            self._graph, task_id, context, self._host.task_input
        )
        self._running[task_id] = None
        self._host.task_changed(task_id, "running")
        return context, call

    async def _run_task(self, task_id: str) -> bool:
        """Run one task; return whether it completed."""
        if self._host.stopping or not self._host.may_start(task_id):
            self.in_flight.discard(task_id)
            return False
        context, call = self._prepare_call(task_id)
        try:
            context, result, error = await self._execute(task_id, context, call)
            if error is not None:
                return self._host.settle(task_id, context, error=error)
        finally:
            self._task_ended(task_id)
        return self._host.settle(task_id, context, result)

    async def _execute(
        self, task_id: str, context: TaskExecutionContext, call: Callable[[], Any]
    ) -> tuple[TaskExecutionContext, Any, BaseException | None]:
        """Run the task until it ends (parked, it runs again once answered): its last context, and its
        result or the error that ended it."""
        wrapper = self._graph.tasks[task_id]
        while True:
            result, error = None, None
            try:
                if self._remote:  # one of Graflow's workers runs it; a thread here relays its requests
                    result = await anyio.to_thread.run_sync(call, limiter=self._asking_limiter)
                elif wrapper.is_async:
                    result = await call()
                elif self._may_run_inline(wrapper.inject_context):
                    result = self._inline.run(call)
                    await self._yield_now_and_then()
                elif wrapper.inject_context:
                    context.thread_budget, context.outcomes = self._waiting_threads, []
                    result = await anyio.to_thread.run_sync(call, limiter=self._asking_limiter)
                else:
                    result = await run_in_shared_pool(call)
            except (TaskStopped, TaskParked, Exception) as raised:  # noqa: BLE001 - any task error fails the run
                error = raised
            if context.parked is None:  # (a task that caught its park and went on is parked all the same)
                return context, result, error
            answered = await self._rerun_when_answered(task_id, context)
            if answered is None:
                return context, None, TaskStopped("the run is stopping")
            context = answered
            call = task_call(self._graph, task_id, context, self._host.task_input)

    async def _rerun_when_answered(self, task_id: str, parked: TaskExecutionContext) -> TaskExecutionContext | None:
        """Wait, without a thread, for the answer to a parked task's request; then the context for its
        next execution, which each call is given what it got in this one (None: the run stops)."""
        assert parked.parked is not None
        request, live = parked.parked.request, parked.parked.live
        parked.parked.with_traceback(None)  # its frames (the task's locals) are not kept while it waits
        try:
            outcome = Outcome(request, await self._host.ask(request, live))
        except Exception as error:  # noqa: BLE001 - raised again into the task by the same call
            outcome = Outcome(request, error=error)
        if outcome.error is None and outcome.response is None:
            return None
        context = self._host.task_context(task_id)
        context.replay = {given.request.call_index: given for given in [*parked.outcomes, outcome]}
        return context

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
            return self._host.settle(task_id, None, error=error)
        return self._host.settle(task_id, None, result)

    def _task_ended(self, task_id: str) -> None:
        self._running.pop(task_id, None)
        self.in_flight.discard(task_id)
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
            self._host.request_stop(RunStatus.PAUSED, "interrupted before it finished")
            with anyio.CancelScope(shield=True):
                await self._say_when_waiting_for_running_tasks()
            raise

    async def _say_when_waiting_for_running_tasks(self) -> None:
        """If running tasks have not stopped a short while after an interruption, have the run say that
        it waits for them (a sync task cannot be stopped from outside)."""
        self._nothing_running = anyio.Event()
        with anyio.move_on_after(INTERRUPT_GRACE):
            await self._nothing_running.wait()
        if self._running:
            await self._host.waits_for_running(list(self._running))

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
