"""Calling a task's function: which task runs in this context, and the warnings that point at its code."""

from __future__ import annotations

import contextvars
import functools
import inspect
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._definition.graph import TaskGraph, current_graph
from .._model.errors import SwallowedStopWarning, UnsavedResultWarning

if TYPE_CHECKING:
    from .context import TaskExecutionContext

#: The task whose code runs in this context (None outside tasks): a workflow run from inside a task
#: can tell, wherever the task runs (a worker thread, the shared pool, the loop).
running_task: contextvars.ContextVar[str | None] = contextvars.ContextVar("graflow_nb_running_task", default=None)


def task_call(
    graph: TaskGraph, task_id: str, context: TaskExecutionContext, task_input: Callable[[str, Any], Any]
) -> Callable[[], Any]:
    """The call that runs a task with its inputs (and its context, and an iteration's data, if it takes them)."""
    wrapper = graph.tasks[task_id]
    arguments = graph.inputs_for(task_id, task_input)
    leading: tuple[Any, ...] = (context,) if wrapper.inject_context else ()
    if context.iteration_input is not None:  # next_iteration(data): the first parameter gets the data
        leading = (*leading, context.iteration_input[0])
        if wrapper.inputs:
            arguments.pop(wrapper.inputs[0], None)
    run_as = as_async_task if wrapper.is_async else as_task
    return functools.partial(run_as, task_id, wrapper.func, *leading, **arguments)


def as_task(task_id: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)`` as task ``task_id`` (a ``@task`` defined in it joins no workflow's definition)."""
    token = running_task.set(task_id)
    outside = current_graph.set(None)
    try:
        return func(*args, **kwargs)
    finally:
        current_graph.reset(outside)
        running_task.reset(token)


async def as_async_task(task_id: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``await func(*args, **kwargs)`` as task ``task_id``."""
    token = running_task.set(task_id)
    outside = current_graph.set(None)
    try:
        return await func(*args, **kwargs)
    finally:
        current_graph.reset(outside)
        running_task.reset(token)


def warn_at_task(func: Callable[..., Any], category: type[Warning], message: str) -> None:
    """Warn, pointing at the user's task (its file and line), not at a line inside graflow_nb."""
    code = getattr(inspect.unwrap(func), "__code__", None)
    warnings.warn_explicit(
        message,
        category,
        filename=code.co_filename if code else "<task>",
        lineno=code.co_firstlineno if code else 0,
        module=getattr(func, "__module__", None) or "__main__",
    )


def warn_unsaved_result(func: Callable[..., Any], task_id: str, result: Any) -> None:
    """The task's result cannot be checkpointed: it is kept in memory only."""
    path, type_name = _unsaveable_part(result)
    where = f" (at result{path})" if path else ""
    warn_at_task(
        func,
        UnsavedResultWarning,
        f"task {task_id!r} returned a {type_name}{where}, which a checkpoint cannot hold as data: it is kept "
        "in memory only, so if this run pauses and is resumed the task runs again. To keep it, return "
        "data (JSON, dates, Decimals, NumPy arrays, pandas frames) or a pydantic model, e.g. save a large "
        "object to a file and return its path.",
    )


def _unsaveable_part(value: Any) -> tuple[str, str]:
    """Where in ``value``, and what, the channel cannot save."""
    from .._util.jsonable import BlobStore, NotJsonError
    from .._util.typed_values import encode

    try:
        encode(value, BlobStore())
    except NotJsonError as error:
        return error.path, error.what
    return "", type(value).__name__


def warn_swallowed_stop(func: Callable[..., Any], task_id: str) -> None:
    """The task caught graflow_nb's stop and returned anyway: it runs again on resume."""
    warn_at_task(
        func,
        SwallowedStopWarning,
        f"task {task_id!r} caught graflow_nb's stop (a bare `except:` or `except BaseException:` around "
        "request_feedback or cancel_workflow) and returned anyway: its result is not kept and the task runs "
        "again when the run resumes, where its request gets its answer. Catch Exception instead.",
    )
