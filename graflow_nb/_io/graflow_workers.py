"""Tasks sent to Graflow's workers through its Redis task queue, and the messages of a task sent so.

A run hands each task to Graflow as Graflow's own coordinator hands a parallel group's members: the
graph (every task a node) saved once in Graflow's graph store, a ``SerializedTaskRecord`` pushed on
Graflow's queue, which a ``python -m graflow.worker.main`` process pops and runs. What Graflow's record
does not carry travels in graflow_nb's keys beside it, as JSON:

* ``graflow_nb:call:<run>:<task>`` — the call: its visit, the channel as the task starts;
* ``graflow_nb:events:<dispatch>`` — from the worker: started, asked (a feedback request), done;
* ``graflow_nb:replies:<dispatch>`` — to the worker: the answer to its request (or a timeout, a stop);
* ``graflow_nb:alive:<dispatch>`` — the worker's heartbeat while the task runs (gone: the worker is);
* ``graflow_nb:run-alive:<dispatch>`` — the run's, while it waits for the task (gone: a kernel restarted,
  say; the worker stops waiting for answers, and the resumed run sends the task again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._model.errors import GraflowRedisError
from .redis_connection import redis_call, redis_client

if TYPE_CHECKING:
    import redis

CALL_KEY = "graflow_nb:call:{}:{}"
EVENTS_KEY = "graflow_nb:events:{}"
REPLIES_KEY = "graflow_nb:replies:{}"
ALIVE_KEY = "graflow_nb:alive:{}"
RUN_ALIVE_KEY = "graflow_nb:run-alive:{}"
#: Graflow's default key prefix (its workers' ``--redis-key-prefix``).
GRAFLOW_PREFIX = "graflow"
#: How long the keys of a task sent to a worker are kept (a paused run may be resumed days later).
KEY_TTL = 7 * 24 * 3600
#: Seconds a worker's heartbeat lasts; it is renewed every third of that while the task runs.
HEARTBEAT_SECONDS = 3.0
#: Seconds one wait for a message lasts before the waiter looks around (less than the socket timeout).
WAIT_STEP = 1.0


def _decoded(stored: bytes | str | None) -> str | None:
    return stored.decode() if isinstance(stored, bytes) else stored


class WorkerQueue:
    """The run's side: send tasks to Graflow's workers and hear from them."""

    def __init__(self, url: str, *, key_prefix: str = GRAFLOW_PREFIX) -> None:
        self.url = url
        self.key_prefix = key_prefix
        self._client = redis_client(url, why="running tasks on Graflow's workers")
        self._graph_store: Any = None

    def publish_graph(self, nodes: Mapping[str, Callable[..., Any]]) -> str:
        """Save a Graflow graph whose nodes call ``nodes[task_id](graflow_context)``; return its hash."""
        try:
            from graflow.coordination.graph_store import GraphStore
            from graflow.core.graph import TaskGraph
            from graflow.core.task import TaskWrapper
        except ImportError:
            raise GraflowRedisError(
                "running tasks on Graflow's workers needs Graflow: pip install 'graflow-nb[graflow]'"
            ) from None
        graph = TaskGraph()
        for task_id, call in nodes.items():
            graph.add_node(TaskWrapper(task_id, call, inject_context=True, register_to_context=False), task_id)
        if self._graph_store is None:
            self._graph_store = GraphStore(self._client, self.key_prefix)
        return str(self._call(self._graph_store.save, graph))

    def send(self, dispatch_id: str, run_id: str, task_id: str, graph_hash: str, call: Mapping[str, Any]) -> str:
        """Put the task on Graflow's queue, its call stored where the worker will read it; return the
        record queued (to :meth:`withdraw` it)."""
        record = {
            "task_id": task_id,
            "session_id": run_id,
            "graph_hash": graph_hash,
            "trace_id": run_id,
            "created_at": time.time(),
            "group_id": None,
            "parent_span_id": None,
        }
        queued = json.dumps(record)
        with self._client.pipeline() as pipe:
            pipe.delete(EVENTS_KEY.format(dispatch_id), REPLIES_KEY.format(dispatch_id))
            pipe.set(CALL_KEY.format(run_id, task_id), json.dumps({**call, "dispatch_id": dispatch_id}), ex=KEY_TTL)
            pipe.rpush(f"{self.key_prefix}:queue", queued)
            self._call(pipe.execute)
        return queued

    def withdraw(self, queued: str) -> bool:
        """Take a task off Graflow's queue before a worker has taken it; False if one has."""
        return bool(self._call(self._client.lrem, f"{self.key_prefix}:queue", 1, queued))

    def next_event(self, dispatch_id: str, timeout: float = WAIT_STEP) -> dict[str, Any] | None:
        """The worker's next message about the task, waiting up to ``timeout`` s; None if none came."""
        popped = self._call(self._client.blpop, [EVENTS_KEY.format(dispatch_id)], timeout=timeout)
        return json.loads(popped[1]) if popped else None

    def reply(self, dispatch_id: str, message: Mapping[str, Any]) -> None:
        """Tell the worker running the task (the answer to its request, a timeout, a stop)."""
        key = REPLIES_KEY.format(dispatch_id)
        with self._client.pipeline() as pipe:
            pipe.rpush(key, json.dumps(message))
            pipe.expire(key, KEY_TTL)
            self._call(pipe.execute)

    def beat(self, dispatch_id: str) -> None:
        """Say that the run still waits for the task (renewed every third of HEARTBEAT_SECONDS)."""
        self._call(self._client.set, RUN_ALIVE_KEY.format(dispatch_id), "1", px=int(HEARTBEAT_SECONDS * 1000))

    def alive(self, dispatch_id: str) -> bool:
        """Whether a worker still beats for the task."""
        return bool(self._call(self._client.exists, ALIVE_KEY.format(dispatch_id)))

    def queued(self) -> int:
        """How many tasks wait on Graflow's queue for a worker."""
        return int(self._call(self._client.llen, f"{self.key_prefix}:queue"))

    def forget(self, dispatch_id: str, run_id: str, task_id: str) -> None:
        """Remove what the task's run and worker exchanged (it has ended)."""
        keys = (EVENTS_KEY, REPLIES_KEY, ALIVE_KEY, RUN_ALIVE_KEY)
        self._call(self._client.delete, CALL_KEY.format(run_id, task_id), *(key.format(dispatch_id) for key in keys))

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        return redis_call(self.url, method, *args, **kwargs)


class TaskMailbox:
    """The worker's side, for one task: read its call, tell its run, hear the run's replies."""

    def __init__(self, client: redis.Redis, run_id: str, task_id: str) -> None:
        self._client = client
        stored = _decoded(client.get(CALL_KEY.format(run_id, task_id)))
        if stored is None:
            raise LookupError(f"graflow_nb: no call of task {task_id!r} of run {run_id} in Redis (expired?)")
        self.call: dict[str, Any] = json.loads(stored)
        self.dispatch_id = str(self.call["dispatch_id"])

    def tell(self, event: Mapping[str, Any]) -> None:
        key = EVENTS_KEY.format(self.dispatch_id)
        with self._client.pipeline() as pipe:
            pipe.rpush(key, json.dumps(event))
            pipe.expire(key, KEY_TTL)
            pipe.execute()

    def next_reply(self, timeout: float = WAIT_STEP) -> dict[str, Any] | None:
        popped = self._client.blpop([REPLIES_KEY.format(self.dispatch_id)], timeout=timeout)
        return json.loads(_decoded(popped[1]) or "null") if popped else None

    def beat(self) -> None:
        self._client.set(ALIVE_KEY.format(self.dispatch_id), "1", px=int(HEARTBEAT_SECONDS * 1000))

    def run_alive(self) -> bool:
        """Whether the run still beats for the task."""
        return bool(self._client.exists(RUN_ALIVE_KEY.format(self.dispatch_id)))
