"""The order in which people are shown requests: the workflow's order of tasks, then each task's visits
and calls, whatever order parallel tasks asked in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .feedback import FeedbackRequest

Item = TypeVar("Item")


def request_rank(tasks: Sequence[str]) -> Callable[[FeedbackRequest], tuple[int, int, int]]:
    """The sort key of a request among those of a workflow whose tasks are ``tasks``, in order (a task
    not among them goes last)."""
    position = {task_id: index for index, task_id in enumerate(tasks)}
    last = len(position)
    return lambda request: (position.get(request.task_id, last), request.visit, request.call_index)


def in_task_order(
    items: Iterable[Item], tasks: Sequence[str], request_of: Callable[[Item], FeedbackRequest]
) -> list[Item]:
    """``items`` sorted by their requests' :func:`request_rank` (stable: ties keep their order)."""
    rank = request_rank(tasks)
    return sorted(items, key=lambda item: rank(request_of(item)))
