"""A run's tasks run by Graflow's workers: each sent through Graflow's Redis queue, its requests shown
and answered here as a local task's are, its end settled as a local task's is.

The run's engine still decides what runs when (its scheduler) and keeps the checkpoint; a task's call
blocks one of the run's threads while a worker runs it: :meth:`RemoteTasks.run` sends it, relays each
feedback request the task makes to the run's broker (so the notebook shows the same control, the
deadline, the decision log and a pause on timeout all work as for a local task), sends the answer
back, and returns the task's result or raises what it raised.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .._io.graflow_workers import HEARTBEAT_SECONDS, WorkerQueue
from .._io.redis_connection import redacted_url
from .._model.errors import (
    FeedbackClosedError,
    FeedbackTimeoutError,
    GraflowRedisError,
    TaskFailedOnWorkerError,
    UnsavedResultWarning,
)
from .._model.feedback import FeedbackRequest, LiveParts
from .._model.status import RunStatus
from .._util.jsonable import BlobStore
from .._util.typed_values import decode, encode
from .channel import no_large_parts
from .context import Jump, TaskHost, TaskStopped
from .on_worker import run_on_worker
from .task_calls import warn_at_task

if TYPE_CHECKING:
    from typing_extensions import TypeVarTuple

    from .._definition.graph import TaskGraph
    from .channel import Channel
    from .context import TaskExecutionContext

    Ts = TypeVarTuple("Ts")

#: Seconds a task may wait on Graflow's queue before the run says that no worker takes it.
NO_WORKER_AFTER = 10.0


class RemoteHost(TaskHost, Protocol):
    """What sending tasks to workers needs of the run (the engine): what a task's context needs, and
    whether the run stops, and stopping it."""

    @property
    def stopping(self) -> bool: ...
    def request_stop(self, status: RunStatus, reason: str | None) -> None: ...


class RemoteTasks:
    """Run a run's tasks on Graflow's workers, reached through the Redis at ``url``."""

    def __init__(self, url: str, graph: TaskGraph) -> None:
        self.url = url
        self._queue = WorkerQueue(url)  # a Redis that cannot be reached raises here, before any task runs
        self._graph = graph
        self._graph_hash = self._publish(graph)

    def _publish(self, graph: TaskGraph) -> str:
        nodes = {task_id: functools.partial(run_on_worker, graph, task_id) for task_id in graph.tasks}
        return self._queue.publish_graph(nodes)

    def run(self, host: RemoteHost, task_id: str, context: TaskExecutionContext) -> Any:
        """Send the task to a worker and see it through (blocks: call it in a thread of the run)."""
        dispatch_id = f"{host.run_id}:{task_id}:{context.visit}:{uuid.uuid4().hex[:8]}"
        iteration = context.iteration_input
        call = {
            "run_id": host.run_id,
            "workflow": host.workflow_name,
            "visit": context.visit,
            "cycle_count": context.cycle_count,
            "iteration_input": None if iteration is None else encode(iteration[0], BlobStore()),
            "channel": _sendable(host.channel),
        }
        queued = self._queue.send(dispatch_id, host.run_id, task_id, self._graph_hash, call)
        waiting = threading.Event()
        threading.Thread(
            target=_beat, args=(self._queue, dispatch_id, waiting), daemon=True, name="graflow_nb run heartbeat"
        ).start()
        try:
            relay = _Relay(self._queue, host, task_id, context, dispatch_id, self._graph.tasks[task_id].func)
            relay.queued = queued
            return relay.until_done()
        finally:
            waiting.set()
            with contextlib.suppress(GraflowRedisError):  # else the keys expire by themselves
                self._queue.forget(dispatch_id, host.run_id, task_id)


class _Relay:
    """One task sent to a worker: its messages, until it is done."""

    def __init__(
        self,
        queue: WorkerQueue,
        host: RemoteHost,
        task_id: str,
        context: TaskExecutionContext,
        dispatch_id: str,
        func: Callable[..., Any],
    ) -> None:
        self._func = func
        self._queue = queue
        self._host = host
        self._task_id = task_id
        self._context = context
        self._dispatch_id = dispatch_id
        self._worker: str | None = None
        self._sent_at = time.monotonic()
        self._said_no_worker = False
        self._unreachable_since: float | None = None
        self._heartbeat_missing_since: float | None = None
        #: The record on Graflow's queue, withdrawn if the run stops before a worker takes it.
        self.queued = ""

    def until_done(self) -> Any:
        while True:
            event = self._next_event()
            if event is None:
                self._look_around()
                continue
            kind = event.get("kind")
            if kind == "started":
                self._worker = str(event.get("worker"))
            elif kind == "asked":
                self._host.channel.apply(event["channel"])
                self._relay_request(event)
            elif kind == "done":
                self._host.channel.apply(event["channel"])
                return self._ended(event)

    def _next_event(self) -> dict[str, Any] | None:
        try:
            event = self._queue.next_event(self._dispatch_id)
        except GraflowRedisError as error:
            if self._unreachable_since is None:
                self._unreachable_since = time.monotonic()
                print(f"graflow_nb: {error}; trying again", file=sys.stderr)
            time.sleep(0.5)
            return None
        if self._unreachable_since is not None:
            self._unreachable_since = None
            print(f"graflow_nb: Redis at {redacted_url(self._queue.url)} answers again", file=sys.stderr)
        return event

    def _look_around(self) -> None:
        """No message for a while: is the worker still there; is there one at all; does the run stop?"""
        if self._unreachable_since is not None:
            return
        try:
            self._look_at_worker()
        except GraflowRedisError:
            return  # the next wait for a message says so, and tries again

    def _look_at_worker(self) -> None:
        if self._worker is None and self._host.stopping and self._queue.withdraw(self.queued):
            raise TaskStopped("the run stopped before a worker took the task")
        if self._worker is not None:
            if self._queue.alive(self._dispatch_id):
                self._heartbeat_missing_since = None
                return
            now = time.monotonic()
            if self._heartbeat_missing_since is None:  # (a Redis just restarted has none until the next beat)
                self._heartbeat_missing_since = now
            if now - self._heartbeat_missing_since > HEARTBEAT_SECONDS:
                why = (
                    f"the Graflow worker running task {self._task_id!r} ({self._worker}) stopped before the task "
                    "ended; run the workflow again to resume (the task runs again)"
                )
                self._host.request_stop(RunStatus.PAUSED, why)
                print(f"graflow_nb: {why}", file=sys.stderr)
                raise TaskStopped(why)
        elif not self._said_no_worker and time.monotonic() - self._sent_at > NO_WORKER_AFTER:
            self._said_no_worker = True
            print(
                f"graflow_nb: no Graflow worker has taken task {self._task_id!r} for {NO_WORKER_AFTER:g} s "
                f"({self._queue.queued()} task(s) queued); start one: python -m graflow.worker.main "
                "--redis-host HOST --redis-port PORT",
                file=sys.stderr,
            )

    def _relay_request(self, event: dict[str, Any]) -> None:
        """Ask the run as the task would have, and send the worker what the run says."""
        request = FeedbackRequest.model_validate(event["request"])
        live = LiveParts(notification=event.get("notification_config"))
        reply: dict[str, Any]
        try:
            response = self._host.call_from_worker(self._host.ask, request, live)
        except FeedbackTimeoutError as error:
            self._context.timed_out.append(error.feedback_id)
            timeout = {"feedback_id": error.feedback_id, "seconds": error.timeout, "detail": error.detail}
            reply = {"timeout": timeout}
        except FeedbackClosedError as error:
            closed = {"feedback_id": error.feedback_id, "by": error.closed_by, "via": error.via, "reason": error.reason}
            reply = {"closed": closed}
        else:
            if response is None:
                self._context.stop_raised = True
                reply = {"stop": True}
            else:
                reply = {"response": response.model_dump(mode="json")}
        self._reply(reply)

    def _reply(self, reply: dict[str, Any]) -> None:
        """Send the worker its reply, waiting for a Redis that cannot be reached (the run stopping: give up,
        the task runs again on resume with the answer recorded)."""
        said = False
        while True:
            try:
                self._queue.reply(self._dispatch_id, reply)
                return
            except GraflowRedisError as error:
                if self._host.stopping:
                    raise TaskStopped("the run stopped while Redis could not be reached") from None
                if not said:
                    said = True
                    print(f"graflow_nb: {error}; the answer goes to the worker once it answers", file=sys.stderr)
                time.sleep(0.5)

    def _ended(self, event: dict[str, Any]) -> Any:
        """The task's end, as a local task's: its result returned, or what stopped it raised."""
        context = self._context
        outcome = event["outcome"]
        if outcome == "stopped":
            if event.get("cancelled") is not None:
                self._host.call_soon_on_loop(self._host.cancel, event["cancelled"])
            context.stop_raised = True
            raise TaskStopped("the task stopped on its worker")
        if outcome == "timeout":
            raise FeedbackTimeoutError(event["feedback_id"], event["seconds"], event["detail"])
        if outcome == "failed":
            error = event["error"]
            worker = self._worker or "?"
            raise TaskFailedOnWorkerError(self._task_id, worker, error["type"], error["message"], error["traceback"])
        context.stop_raised = context.stop_raised or bool(event.get("stop_raised"))
        context.terminate_reason = event.get("terminate")
        jump = event.get("jump")
        if jump is not None:
            context.jump = Jump(jump["task_id"], iteration=jump["iteration"], data=jump["data"], goto=jump["goto"])
        if event.get("unsent") is not None:
            warn_at_task(
                self._func,
                UnsavedResultWarning,
                f"task {self._task_id!r} returned a {event['unsent']} on its worker, which cannot be sent back "
                "as data: the run keeps None as its result (return data, or save the object and return its path)",
            )
        return decode(event["result"], no_large_parts) if event.get("result") is not None else None


def _beat(queue: WorkerQueue, dispatch_id: str, done: threading.Event) -> None:
    """Say that the run waits for the task, until it no longer does (Redis unreachable: try again)."""
    while True:
        with contextlib.suppress(GraflowRedisError):
            queue.beat(dispatch_id)
        if done.wait(HEARTBEAT_SECONDS / 3):
            return


def _sendable(channel: Channel) -> dict[str, Any]:
    """The channel as data a worker can read: large values (kept on disk beside the checkpoint) cannot go."""
    saved = channel.snapshot()
    if channel.blobs():
        from .._model.errors import ChannelValueError

        raise ChannelValueError("(a large value)", "", "a value over 64 kB, which cannot be sent to Graflow's workers")
    return saved
