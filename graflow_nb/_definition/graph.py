"""Defining workflows as Graflow does: ``@task``, ``a >> b``, ``a | b``, and the checks before a run."""

from __future__ import annotations

import contextvars
import inspect
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from .._model.errors import CycleError, MissingInputError, WorkflowDefinitionError

P = ParamSpec("P")
R = TypeVar("R")

#: The suffix under which a task's return value is stored in the channel (Graflow's key).
RESULT_SUFFIX = ".__result__"

#: The graph that ``with workflow("name"):`` is building, which ``@task``, ``>>`` and ``|`` add to.
current_graph: contextvars.ContextVar[TaskGraph | None] = contextvars.ContextVar(
    "graflow_nb_current_graph", default=None
)


#: The newest task defined under each id (kept while it exists): a run that ``ctx.next_task(...)`` gave a
#: task of its own finds it here when resumed in the same kernel, or after the cell defining it ran again.
defined_tasks: weakref.WeakValueDictionary[str, TaskWrapper[..., Any]] = weakref.WeakValueDictionary()


def result_key(task_id: str) -> str:
    """The channel key holding a task's result: ``"<task_id>.__result__"``."""
    return f"{task_id}{RESULT_SUFFIX}"


class TaskWrapper(Generic[P, R]):
    """A function made into a workflow task by ``@task``; calling it still calls the function."""

    def __init__(self, func: Callable[P, R], task_id: str, inject_context: bool) -> None:
        self.func = func
        self.task_id = task_id
        self.inject_context = inject_context
        self.is_async = inspect.iscoroutinefunction(func)
        parameters = list(inspect.signature(func).parameters.values())
        if inject_context:
            if not parameters or parameters[0].kind not in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            ):
                raise WorkflowDefinitionError(
                    f"task {task_id!r} has inject_context=True, so its first parameter must "
                    "receive the TaskExecutionContext (e.g. `def f(ctx, ...)`)"
                )
            parameters = parameters[1:]
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        positional_only = [p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_ONLY]
        if positional_only:
            raise WorkflowDefinitionError(
                f"task {task_id!r}: positional-only parameters {positional_only} cannot be filled by name"
            )
        self.inputs: tuple[str, ...] = tuple(p.name for p in parameters if p.kind in named)
        self.optional_inputs: frozenset[str] = frozenset(
            p.name for p in parameters if p.kind in named and p.default is not inspect.Parameter.empty
        )
        self.__doc__ = func.__doc__
        self.__name__ = getattr(func, "__name__", task_id)
        self.__wrapped__ = func
        graph = current_graph.get()
        if graph is not None:
            graph.add(self)
        defined_tasks[task_id] = self  # where a resumed run finds a task added to it while it ran

    @property
    def name(self) -> str:
        """Graflow's name for the task id."""
        return self.task_id

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def __rshift__(self, other: Flowable) -> Flow:
        return Flow.of(self) >> other

    def __or__(self, other: Flowable) -> Flow:
        return Flow.of(self) | other

    def __repr__(self) -> str:
        return f"<task {self.task_id!r}>"


@dataclass(frozen=True)
class Flow:
    """A piece of a workflow graph: the tasks it starts with and the tasks it ends with."""

    entries: tuple[TaskWrapper[..., Any], ...]
    exits: tuple[TaskWrapper[..., Any], ...]

    @staticmethod
    def of(item: Flowable) -> Flow:
        """A flow from a task or a flow."""
        if isinstance(item, Flow):
            return item
        if isinstance(item, TaskWrapper):
            _active_graph("use a task in a flow").add(item)
            return Flow((item,), (item,))
        raise WorkflowDefinitionError(f"{item!r} is not a task; decorate the function with @task to use it in a flow")

    def __rshift__(self, other: Flowable) -> Flow:
        following = Flow.of(other)
        graph = _active_graph("connect tasks with >>")
        for before in self.exits:
            for after in following.entries:
                graph.add_edge(before, after)
        return Flow(self.entries, following.exits)

    def __rrshift__(self, other: Flowable) -> Flow:
        return Flow.of(other) >> self

    def __or__(self, other: Flowable) -> Flow:
        parallel = Flow.of(other)
        return Flow(self.entries + parallel.entries, self.exits + parallel.exits)

    def __ror__(self, other: Flowable) -> Flow:
        return Flow.of(other) | self


Flowable = TaskWrapper[..., Any] | Flow


def _active_graph(action: str) -> TaskGraph:
    graph = current_graph.get()
    if graph is None:
        raise WorkflowDefinitionError(f"{action} inside a `with workflow('name') as wf:` block")
    return graph


@overload
def task(func: Callable[P, R], /) -> TaskWrapper[P, R]: ...
@overload
def task(
    *, id: str | None = None, inject_context: bool = False, name: str | None = None
) -> Callable[[Callable[P, R]], TaskWrapper[P, R]]: ...
def task(
    func: Callable[P, R] | None = None,
    /,
    *,
    id: str | None = None,  # noqa: A002 - Graflow's keyword
    inject_context: bool = False,
    name: str | None = None,
) -> TaskWrapper[P, R] | Callable[[Callable[P, R]], TaskWrapper[P, R]]:
    """Make a function a workflow task (``@task``, ``@task(inject_context=True)``, ``@task(id="x")``).

    With ``inject_context=True`` the first parameter receives the :class:`TaskExecutionContext`.
    Other parameters are filled by name from upstream tasks' results and the channel.
    """

    def decorate(function: Callable[P, R]) -> TaskWrapper[P, R]:
        task_id = id or name or getattr(function, "__name__", None)
        if not task_id or not isinstance(task_id, str):
            raise WorkflowDefinitionError(f"cannot name the task for {function!r}; pass id='...'")
        return TaskWrapper(function, task_id, inject_context)

    if func is not None:
        return decorate(func)
    return decorate


@dataclass
class TaskGraph:
    """The tasks of a workflow and the edges between them, in the order they were added."""

    tasks: dict[str, TaskWrapper[..., Any]] = field(default_factory=dict)
    successors: dict[str, list[str]] = field(default_factory=dict)
    predecessors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, wrapper: TaskWrapper[..., Any]) -> None:
        """Add a task; adding the same task again does nothing."""
        known = self.tasks.get(wrapper.task_id)
        if known is wrapper:
            return
        if known is not None:
            raise WorkflowDefinitionError(
                f"two different tasks share the id {wrapper.task_id!r}; give one @task(id='...')"
            )
        self.tasks[wrapper.task_id] = wrapper
        self.successors[wrapper.task_id] = []
        self.predecessors[wrapper.task_id] = []

    def copy(self) -> TaskGraph:
        """A graph of the same tasks and edges that changes apart from this one (a run adds tasks to its own)."""
        return TaskGraph(
            dict(self.tasks),
            {task_id: list(afters) for task_id, afters in self.successors.items()},
            {task_id: list(befores) for task_id, befores in self.predecessors.items()},
        )

    def add_edge(self, before: TaskWrapper[..., Any], after: TaskWrapper[..., Any]) -> None:
        """Run ``after`` once ``before`` has completed."""
        self.add(before)
        self.add(after)
        if after.task_id not in self.successors[before.task_id]:
            self.successors[before.task_id].append(after.task_id)
            self.predecessors[after.task_id].append(before.task_id)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Every edge as ``(before, after)``."""
        return [(a, b) for a, afters in self.successors.items() for b in afters]

    def get_start_nodes(self) -> list[str]:
        """Tasks nothing runs before: where a run starts (Graflow's call)."""
        return [task_id for task_id, befores in self.predecessors.items() if not befores]

    @property
    def sinks(self) -> list[str]:
        """Tasks nothing runs after."""
        return [task_id for task_id, afters in self.successors.items() if not afters]

    def descendants(self, task_id: str) -> set[str]:
        """Every task that runs after ``task_id``, directly or through others."""
        found: set[str] = set()
        stack = list(self.successors[task_id])
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(self.successors[current])
        return found

    def runs_before(self, earlier: str, task_id: str) -> bool:
        """Whether task ``earlier`` always completes before ``task_id`` starts."""
        seen: set[str] = set()
        stack = list(self.predecessors[task_id])
        while stack:
            current = stack.pop()
            if current == earlier:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(self.predecessors[current])
        return False

    def check(self, channel_keys: Iterable[str]) -> None:
        """Raise before anything runs if the graph is empty, has a cycle, or lacks an input."""
        if not self.tasks:
            raise WorkflowDefinitionError(
                "the workflow has no tasks; define or connect tasks inside `with workflow(...)`"
            )
        self._check_acyclic()
        self._check_inputs(set(channel_keys))

    def _check_acyclic(self) -> None:
        """Kahn's algorithm; the tasks it cannot order contain a cycle, which is then traced."""
        waiting = {task_id: len(befores) for task_id, befores in self.predecessors.items()}
        ready = [task_id for task_id, count in waiting.items() if count == 0]
        while ready:
            for after in self.successors[ready.pop()]:
                waiting[after] -= 1
                if waiting[after] == 0:
                    ready.append(after)
        stuck = [task_id for task_id, count in waiting.items() if count > 0]
        if not stuck:
            return
        path, current = [], stuck[0]
        while current not in path:  # every stuck task has a stuck predecessor: walk back to a repeat
            path.append(current)
            current = next(b for b in self.predecessors[current] if waiting[b] > 0)
        cycle = path[path.index(current) :][::-1]
        order = list(self.tasks)
        first = min(range(len(cycle)), key=lambda i: order.index(cycle[i]))
        cycle = cycle[first:] + cycle[:first]  # start at the task defined first
        raise CycleError([*cycle, cycle[0]])

    def _check_inputs(self, channel_keys: set[str]) -> None:
        for task_id, wrapper in self.tasks.items():
            for parameter in wrapper.inputs:
                if parameter in wrapper.optional_inputs or parameter in channel_keys:
                    continue
                if parameter in self.tasks:
                    if self.runs_before(parameter, task_id):
                        continue
                    detail = f"task {parameter!r} does not run before it; connect them with `{parameter} >> {task_id}`"
                else:
                    detail = (
                        f"no upstream task is named {parameter!r} and the channel has no key "
                        f"{parameter!r}; pass it with execute(channel={{{parameter!r}: ...}}) "
                        "or give the parameter a default"
                    )
                raise MissingInputError(task_id, parameter, detail)

    def inputs_for(self, task_id: str, channel_get: Callable[[str, Any], Any]) -> dict[str, Any]:
        """Keyword arguments for a task: upstream results first, then channel keys."""
        arguments: dict[str, Any] = {}
        for parameter in self.tasks[task_id].inputs:
            if parameter in self.tasks and self.runs_before(parameter, task_id):
                arguments[parameter] = channel_get(result_key(parameter), None)
                continue
            value = channel_get(parameter, _MISSING)
            if value is not _MISSING:
                arguments[parameter] = value
        return arguments

    def downstream_of(self, start: str) -> TaskGraph:
        """The part of the graph that ``start`` and the tasks after it make up."""
        keep = [start]
        for task_id in keep:
            keep.extend(after for after in self.successors[task_id] if after not in keep)
        part = TaskGraph()
        for task_id in keep:
            part.add(self.tasks[task_id])
        for task_id in keep:
            for after in self.successors[task_id]:
                part.add_edge(self.tasks[task_id], self.tasks[after])
        return part


_MISSING = object()


def describe_differences(
    graph: TaskGraph, tasks: list[str], edges: Mapping[tuple[str, str], object] | list[tuple[str, str]]
) -> str | None:
    """How ``graph`` differs from a saved list of tasks and edges, or None when it does not."""
    saved_tasks, now_tasks = set(tasks), set(graph.tasks)
    saved_edges, now_edges = {tuple(e) for e in edges}, set(graph.edges)
    parts = []
    if saved_tasks - now_tasks:
        parts.append(f"tasks missing now: {sorted(saved_tasks - now_tasks)}")
    if now_tasks - saved_tasks:
        parts.append(f"tasks new now: {sorted(now_tasks - saved_tasks)}")
    if not parts and saved_edges != now_edges:
        gone = sorted(saved_edges - now_edges)
        added = sorted(now_edges - saved_edges)
        parts.append(f"edges changed (removed {gone}, added {added})")
    return "; ".join(parts) or None
