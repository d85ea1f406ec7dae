"""What a run's tasks returned: kept in the channel (so checkpointed), or in memory when JSON cannot hold it."""

from __future__ import annotations

from typing import Any

from .._definition.graph import TaskGraph, result_key
from .._model.errors import ChannelValueError
from .state import RunState
from .task_calls import warn_unsaved_result


class TaskResults:
    """The results of one run's tasks, and the result of the run."""

    def __init__(self, graph: TaskGraph, state: RunState) -> None:
        self._graph = graph
        self._state = state
        self._in_memory: dict[str, Any] = {}  # results a checkpoint cannot hold (the task reruns on resume)

    def value(self, key: str, default: Any) -> Any:
        """A channel value a task takes as an input: a result kept in memory, else the channel's."""
        task_id = key.removesuffix(".__result__")
        if task_id in self._in_memory:
            return self._in_memory[task_id]
        return self._state.channel.get(key, default)

    def keep(self, task_id: str, result: Any) -> None:
        """Keep a completed task's result: in the channel, the task marked completed; else in memory, warning."""
        try:
            self._state.channel.set(result_key(task_id), result)
        except ChannelValueError:
            pass
        else:
            self._state.completed[task_id] = None
            return
        warn_unsaved_result(self._graph.tasks[task_id].func, task_id, result)
        self._in_memory[task_id] = result

    def forget(self, task_id: str) -> None:
        """The task runs again (a loop): it is no longer completed, and a result kept in memory goes."""
        self._state.completed.pop(task_id, None)
        self._in_memory.pop(task_id, None)

    def all_in(self) -> bool:
        """Whether every task of the graph has a result (or was skipped by a goto)."""
        return set(self._graph.tasks) <= {*self._state.completed, *self._in_memory, *self._state.skipped}

    def of_run(self, terminated_by: str | None) -> Any:
        """The terminating task's result, else the only last task's, else ``{task_id: result}``."""
        if terminated_by is not None:
            return self.value(result_key(terminated_by), None)
        sinks = [task_id for task_id in self._graph.sinks if task_id not in self._state.skipped]
        if len(sinks) == 1:
            return self.value(result_key(sinks[0]), None)
        return {task_id: self.value(result_key(task_id), None) for task_id in sinks}
