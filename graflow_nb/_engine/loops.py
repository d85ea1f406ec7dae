"""Where a run goes after a task that called ``ctx.next_task(...)`` or ``ctx.next_iteration(...)``.

The target (and every task after it) is no longer completed, so the scheduler runs it again; the tasks
after the jumping one that the target does not lead to are skipped; a task the workflow lacked joins
the run's own graph. The run's state records all of it, so a resumed run goes on in the same round.
"""

from __future__ import annotations

from collections.abc import Set

from .._definition.graph import TaskGraph
from .._model.errors import LoopConflictError
from .context import Jump
from .results import TaskResults
from .state import RunState


def go_back(
    graph: TaskGraph, state: RunState, results: TaskResults, in_flight: Set[str], task_id: str, jump: Jump
) -> set[str]:
    """Apply ``jump``, made by ``task_id`` as it completed; return the tasks that are to run (again).

    Raises LoopConflictError, changing nothing, if one of them still runs (a parallel branch).
    """
    again = {jump.task_id} | (graph.descendants(jump.task_id) if jump.added is None else set())
    busy = sorted(again & in_flight)
    if busy:
        raise LoopConflictError(task_id, jump.task_id, busy)
    if jump.added is not None:  # a task of its own for this run, after the jumping one
        graph.add_edge(graph.tasks[task_id], jump.added)
        state.added.append((jump.added.task_id, task_id))
    for earlier in again:
        results.forget(earlier)
        state.skipped.pop(earlier, None)
    if jump.goto:
        for passed_over in graph.descendants(task_id) - again:
            if passed_over not in state.completed:
                state.skipped[passed_over] = None
    if jump.iteration:
        state.iterations[task_id] = state.iterations.get(task_id, 0) + 1
        state.iteration_data[task_id] = jump.data
    return again
