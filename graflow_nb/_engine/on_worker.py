"""A task run by one of Graflow's workers: the graflow_nb context it gets there, and what it tells its run.

Graflow's worker pops the task from its queue and calls :func:`run_on_worker` (the node saved in
Graflow's graph store). The task gets the same ``TaskExecutionContext`` as anywhere, whose run is a
:class:`WorkerTaskHost`: the channel is the run's as the task started (what the task changes travels
back with each request and at the end), and each feedback request is sent to the run, which shows it
(in the notebook, the console, …) and replies with the answer, a timeout or a stop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.to_thread
from typing_extensions import TypeVarTuple, Unpack

from .._definition.graph import TaskGraph
from .._io.graflow_workers import HEARTBEAT_SECONDS, TaskMailbox
from .._model.errors import FeedbackClosedError, FeedbackTimeoutError
from .._model.feedback import FeedbackRequest, FeedbackResponse, LiveParts
from .._util.jsonable import BlobStore, NotJsonError
from .._util.typed_values import decode, encode
from .channel import Channel, no_large_parts
from .context import TaskExecutionContext, TaskStopped
from .task_calls import task_call
from .waiting import given_to_task

Ts = TypeVarTuple("Ts")
logger = logging.getLogger("graflow_nb.worker")


def run_on_worker(graph: TaskGraph, task_id: str, graflow_context: Any) -> None:
    """Run one task of a graflow_nb run, as Graflow's worker calls it, and tell the run how it ended."""
    execution = graflow_context.execution_context
    mailbox = TaskMailbox(execution.channel.redis_client, execution.session_id, task_id)
    host = WorkerTaskHost(graph, mailbox, execution)
    stop_beating = threading.Event()
    threading.Thread(target=_beat, args=(mailbox, stop_beating), daemon=True, name="graflow_nb heartbeat").start()
    try:
        mailbox.tell({"kind": "started", "worker": f"{socket.gethostname()}:{os.getpid()}"})
        ended = host.run(task_id)  # (run once: only telling how it ended is tried again)
        _retrying(lambda: mailbox.tell(ended))
    finally:
        stop_beating.set()


def _beat(mailbox: TaskMailbox, stop: threading.Event) -> None:
    """Renew the task's heartbeat until it ends (a Redis that cannot be reached: try again)."""
    while True:
        try:
            mailbox.beat()
        except Exception:
            logger.debug("heartbeat failed", exc_info=True)
        if stop.wait(HEARTBEAT_SECONDS / 3):
            return


def _retrying(send: Callable[[], None], attempts: int = 60) -> None:
    """Send a message, trying again for a while if Redis cannot be reached (it may be restarting)."""
    for attempt in range(attempts):
        try:
            send()
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            threading.Event().wait(0.5)


class WorkerTaskHost:
    """The run as a task on a worker sees it (``TaskHost``): its call, its channel, its requests."""

    def __init__(self, graph: TaskGraph, mailbox: TaskMailbox, graflow_execution: Any) -> None:
        call = mailbox.call
        self.graph = graph
        self._mailbox = mailbox
        self._call = call
        self._graflow_execution = graflow_execution
        self._started_with: dict[str, Any] = call["channel"]
        self.channel = Channel.restore(self._started_with, no_large_parts)
        self.cancelled: str | None = None

    @property
    def run_id(self) -> str:
        return str(self._call["run_id"])

    @property
    def workflow_name(self) -> str:
        return str(self._call["workflow"])

    @property
    def execution_context(self) -> Any:
        """Graflow's own execution context on the worker (its feedback manager keeps requests in Redis)."""
        return self._graflow_execution

    def require_worker_thread(self, async_alternative: str) -> None:
        """Graflow's workers run each task in a thread of their pool: asking there may block."""

    def call_from_worker(self, func: Callable[[Unpack[Ts]], Coroutine[Any, Any, Any]], *args: Unpack[Ts]) -> Any:
        return anyio.run(func, *args)

    def call_soon_on_loop(self, func: Callable[[Unpack[Ts]], object], *args: Unpack[Ts]) -> None:
        func(*args)

    def cancel(self, reason: str) -> None:
        self.cancelled = reason

    def task_input(self, key: str, default: Any) -> Any:
        return self.channel.get(key, default)

    async def ask(self, request: FeedbackRequest, live: LiveParts) -> FeedbackResponse | None:
        """Send the request to the run and wait for its reply: the answer, a timeout (raised), a stop (None)."""
        asked = {
            "kind": "asked",
            "request": request.model_dump(mode="json"),
            "notification_config": live.notification,
            "channel": self.channel.changes_since(self._started_with),
        }
        await anyio.to_thread.run_sync(_retrying, lambda: self._mailbox.tell(asked))
        _tell(live, "on_request_created", request)
        run_missing_since: float | None = None
        while True:
            try:
                reply = await anyio.to_thread.run_sync(self._mailbox.next_reply)
                run_alive = reply is not None or self._mailbox.run_alive()
            except Exception:  # noqa: BLE001 - Redis restarting: wait for it, the run replies once it can
                logger.warning("graflow_nb: cannot reach Redis while waiting for an answer; trying again")
                await anyio.sleep(0.5)
                continue
            if reply is not None:
                break
            if run_alive:
                run_missing_since = None
                continue
            run_missing_since = run_missing_since or time.monotonic()
            if time.monotonic() - run_missing_since > 2 * HEARTBEAT_SECONDS:
                # the run is gone (its kernel restarted, say): the task stops, freeing this worker's slot;
                # the run, resumed, sends the task again
                logger.warning("graflow_nb: run %s no longer waits for this task: it stops", self.run_id)
                return None
        if "response" in reply:
            response = FeedbackResponse.model_validate(reply["response"])
            _tell(live, "on_response_received", request, response)
            return given_to_task(response)
        if "closed" in reply:
            closed = reply["closed"]
            raise FeedbackClosedError(closed["feedback_id"], closed["by"], closed["via"], closed["reason"])
        if "timeout" in reply:
            timed_out = reply["timeout"]
            _tell(live, "on_request_timeout", request)
            raise FeedbackTimeoutError(timed_out["feedback_id"], timed_out["seconds"], timed_out["detail"])
        return None

    def run(self, task_id: str) -> dict[str, Any]:
        """Run the task; the message that says how it ended."""
        context = TaskExecutionContext(self, task_id, self._call["visit"], self._call["cycle_count"])
        if self._call.get("iteration_input") is not None:
            context.iteration_input = (decode(self._call["iteration_input"], no_large_parts),)
        ended: dict[str, Any] = {"kind": "done", "timed_out": context.timed_out}
        try:
            call = task_call(self.graph, task_id, context, self.task_input)
            result = anyio.run(call) if self.graph.tasks[task_id].is_async else call()
            jump = _jump(context)
        except TaskStopped:
            ended.update(outcome="stopped", cancelled=self.cancelled)
        except FeedbackTimeoutError as error:
            ended.update(outcome="timeout", feedback_id=error.feedback_id, seconds=error.timeout, detail=error.detail)
        except Exception as error:  # noqa: BLE001 - any task error is the run's to record
            ended.update(outcome="failed", error=_described(error))
        else:
            ended.update(outcome="completed", stop_raised=context.stop_raised, **_result(result))
            ended.update(terminate=context.terminate_reason, jump=jump)
        try:
            ended["channel"] = self.channel.changes_since(self._started_with)
        except Exception as error:  # noqa: BLE001 - a value too large to send: the task fails so
            ended.update(outcome="failed", error=_described(error), channel={"set": {}, "deleted": []})
        return ended


def _jump(context: TaskExecutionContext) -> dict[str, Any] | None:
    jump = context.jump
    if jump is None:
        return None
    if jump.added is not None:
        raise NotImplementedError("next_task() with a task the workflow does not have, on Graflow's workers")
    return {"task_id": jump.task_id, "iteration": jump.iteration, "data": jump.data, "goto": jump.goto}


def _result(result: Any) -> dict[str, Any]:
    """The result as data to send, or the name of its type if it cannot travel (it is then not kept)."""
    blobs = BlobStore()
    try:
        data = encode(result, blobs)
    except NotJsonError:
        return {"result": None, "unsent": type(result).__name__}
    if blobs:
        return {"result": None, "unsent": f"{type(result).__name__} over 64 kB"}
    return {"result": data, "unsent": None}


def _described(error: BaseException) -> dict[str, str]:
    return {
        "type": type(error).__name__,
        "message": str(error),
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    }


def _tell(live: LiveParts, event: str, *args: Any) -> None:
    """Tell the task's handler (Graflow's FeedbackHandler) of its request; a raising handler is logged."""
    if live.handler is None:
        return
    try:
        getattr(live.handler, event)(*args)
    except Exception:
        logger.exception("graflow_nb: the feedback handler's %s raised", event)
