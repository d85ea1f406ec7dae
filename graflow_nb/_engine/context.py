"""``TaskExecutionContext``: what a task with ``inject_context=True`` receives."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from .._model.errors import (
    ChannelValueError,
    CycleLimitExceededError,
    FeedbackTimeoutError,
    UnknownTaskError,
    WorkflowDefinitionError,
)
from .parking import Outcome, TaskParked

#: The most next_iteration() calls one task may make in a run (Graflow's default).
MAX_CYCLES = 10


@dataclass(frozen=True)
class Jump:
    """Where a task sends the run once it returns: a task to run again (and all after it), or, for an
    iteration, itself, given ``data``."""

    task_id: str
    iteration: bool = False
    data: Any = None
    #: A task the workflow did not have, added to this run (Graflow's dynamic task).
    added: TaskWrapper[..., Any] | None = None
    #: Whether the tasks after the jumping one are skipped (always, for a task of the workflow).
    goto: bool = True


if TYPE_CHECKING:
    from typing import TypeVar

    from pydantic import BaseModel
    from typing_extensions import TypeVarTuple, Unpack

    from .._definition.graph import TaskGraph, TaskWrapper
    from .._model.feedback import FeedbackRequest, FeedbackResponse, LiveParts
    from .._model.feedback_handler import FeedbackHandler
    from .._model.feedback_kinds import FeedbackType
    from .channel import Channel
    from .execution_context import ExecutionContext
    from .parking import ThreadBudget
    from .request_signatures import RequestFeedback, RequestFeedbackAsync

    T = TypeVar("T")
    Ts = TypeVarTuple("Ts")


class TaskHost(Protocol):
    """What a task's context needs of the run that runs the task (the engine)."""

    @property
    def run_id(self) -> str: ...
    @property
    def workflow_name(self) -> str: ...
    @property
    def channel(self) -> Channel: ...
    def require_worker_thread(self, async_alternative: str) -> None: ...
    def call_from_worker(self, func: Callable[[Unpack[Ts]], Coroutine[Any, Any, T]], *args: Unpack[Ts]) -> T: ...
    def call_soon_on_loop(self, func: Callable[[Unpack[Ts]], object], *args: Unpack[Ts]) -> None: ...
    @property
    def execution_context(self) -> ExecutionContext: ...
    @property
    def graph(self) -> TaskGraph: ...
    def cancel(self, reason: str) -> None: ...
    def task_input(self, key: str, default: Any) -> Any: ...
    async def ask(self, request: FeedbackRequest, live: LiveParts) -> FeedbackResponse | None: ...


class TaskStopped(BaseException):
    """Unwinds a task that must stop now: it cancelled the run, or the run pauses or ends.

    It derives from BaseException so that a task's ``except Exception`` does not swallow it.
    """


class TaskExecutionContext:
    """The running task's view of its run: channel, feedback requests, cancel and terminate."""

    # Set by the scheduler for a sync task that may be parked while it waits (see parking): the run's
    # budget of waiting threads, what each call got in the task's parked execution before (by call
    # index), and what each call of this execution got. Class defaults: most tasks never park.
    thread_budget: ThreadBudget | None = None
    replay: Mapping[int, Outcome] = MappingProxyType({})
    outcomes: list[Outcome]
    #: The request this execution was parked on (its thread freed; the run waits for the answer).
    parked: TaskParked | None = None

    def __init__(self, engine: TaskHost, task_id: str, visit: int = 0, cycle_count: int = 0) -> None:
        self._engine = engine
        self.task_id = task_id
        #: How many times this task completed earlier in this run (a loop runs a task again).
        self.visit = visit
        #: How many times this task has called next_iteration() in this run (Graflow's name).
        self.cycle_count = cycle_count
        #: Where the run goes after this task, if it called next_task() or next_iteration().
        self.jump: Jump | None = None
        #: The data an earlier next_iteration(data) gave this run of the task, as a 1-tuple (None: none).
        self.iteration_input: tuple[Any] | None = None
        self._calls = 0
        self.terminate_reason: str | None = None
        #: Set when this task was told to stop (TaskStopped raised into it); a task that still returns
        #: normally caught the stop, and its result is not kept (see Engine.settle).
        self.stop_raised = False
        #: The requests whose FeedbackTimeoutError was raised into this task: closed as timed out if
        #: the task completes anyway (it caught the error), left pending if the error stops it.
        self.timed_out: list[str] = []

    @property
    def run_id(self) -> str:
        """The id of the run this task belongs to."""
        return self._engine.run_id

    @property
    def session_id(self) -> str:
        """Graflow's name for :attr:`run_id`."""
        return self._engine.run_id

    @property
    def workflow_name(self) -> str:
        """The name of the workflow."""
        return self._engine.workflow_name

    @property
    def execution_context(self) -> ExecutionContext:
        """The run as Graflow's code reaches it: ``ctx.execution_context.feedback_manager`` answers requests."""
        return self._engine.execution_context

    def get_channel(self) -> Channel:
        """The run's shared state, saved in every checkpoint."""
        return self._engine.channel

    def get_result(self, task_id: str, default: Any = None) -> Any:
        """What an earlier task of this run returned (``default`` if it has not completed)."""
        from .._definition.graph import result_key

        return self._engine.task_input(result_key(task_id), default)

    def _request_feedback(
        self,
        feedback_type: FeedbackType | str,
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,  # noqa: A002 - the natural name for a slider's bound
        max: float | None = None,  # noqa: A002
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,  # noqa: A002 - reads as it should: a number range
        key: str | None = None,
        on_timeout: str = "pause",
        handler: FeedbackHandler | None = None,
        channel_key: str | None = None,
        write_to_channel: bool | None = None,
    ) -> FeedbackResponse:
        """Ask a person and wait for the answer (see the README for each feedback type).

        ``preview`` (number, selection, form) is called with the value as a person moves the control,
        and what it returns (text, a matplotlib figure, a DataFrame) is shown under the control.
        With ``timeout`` seconds and no answer by then, FeedbackTimeoutError is raised here: uncaught,
        the run is checkpointed and pauses, and on resume this task runs again and this call returns
        the answer given meanwhile; caught, the task goes on and the request is closed as timed out.
        Calls are matched to recorded answers by their order within the task. ``on_timeout`` chooses
        otherwise: ``"default"`` answers with ``default`` (recorded as given by "timeout"), ``"cancel"``
        and ``"fail"`` end the run so. ``handler`` is told of the request's events; given a
        ``channel_key``, the answer is also written to the channel there (unless ``write_to_channel``
        is False). Raises FeedbackClosedError if a person closes the request unanswered.
        """
        self._engine.require_worker_thread("ctx.request_feedback_async")
        request, live = self._build(_asked(locals()))
        try:
            response = self._wait_in_thread(request, live)
        except FeedbackTimeoutError as timed_out:
            self.timed_out.append(timed_out.feedback_id)
            raise
        return self._received(request, response)

    def _wait_in_thread(self, request: FeedbackRequest, live: LiveParts) -> FeedbackResponse | None:
        """The answer, waited for in this thread; in a task that may be parked, what the same call got
        before it was parked, or a park (TaskParked) when the run's waiting threads are all taken."""
        if self.thread_budget is None:
            return self._engine.call_from_worker(self._engine.ask, request, live)
        replayed = self.replay.get(request.call_index)
        if replayed is not None and replayed.request.same_question(request):
            self.outcomes.append(replayed)
            return replayed.given()
        if not self.thread_budget.take():
            self.parked = TaskParked(request, live)
            raise self.parked
        try:
            response = self._engine.call_from_worker(self._engine.ask, request, live)
        except Exception as error:
            self.outcomes.append(Outcome(request, error=error))
            raise
        finally:
            self.thread_budget.give_back()
        self.outcomes.append(Outcome(request, response))
        return response

    async def _request_feedback_async(
        self,
        feedback_type: FeedbackType | str,
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,  # noqa: A002
        max: float | None = None,  # noqa: A002
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,  # noqa: A002 - reads as it should: a number range
        key: str | None = None,
        on_timeout: str = "pause",
        handler: FeedbackHandler | None = None,
        channel_key: str | None = None,
        write_to_channel: bool | None = None,
    ) -> FeedbackResponse:
        """``request_feedback`` for ``async def`` tasks."""
        request, live = self._build(_asked(locals()))
        try:
            response = await self._engine.ask(request, live)
        except FeedbackTimeoutError as timed_out:
            self.timed_out.append(timed_out.feedback_id)
            raise
        return self._received(request, response)

    # Typed per feedback type for type checkers (request_signatures); the methods above at run time.
    if TYPE_CHECKING:
        request_feedback: RequestFeedback
        request_feedback_async: RequestFeedbackAsync
    else:
        request_feedback = _request_feedback
        request_feedback_async = _request_feedback_async

    def request_approval(self, prompt: str, **more: Any) -> bool:
        """Ask for an approval and return whether it was given (Graflow's shortcut; ``more`` as for
        :meth:`request_feedback`)."""
        return self._request_feedback("approval", prompt, **more).approved is True

    def request_text_input(self, prompt: str, **more: Any) -> str:
        """Ask for text and return it (Graflow's shortcut)."""
        return self._request_feedback("text", prompt, **more).text or ""

    def request_selection(self, prompt: str, options: list[str], **more: Any) -> str:
        """Ask to choose one of ``options`` and return the choice (Graflow's shortcut)."""
        selected = self._request_feedback("selection", prompt, options, **more).selected
        return selected if isinstance(selected, str) else ""

    def _build(self, asked: dict[str, Any]) -> tuple[FeedbackRequest, LiveParts]:
        """The request to save, and the parts of it that are never saved."""
        from .._model.feedback import LiveParts
        from .._model.request_building import build_request
        from .waiting import new_feedback_id

        handler = asked.pop("handler")
        call_index = self._calls
        self._calls += 1
        request = build_request(
            **asked,
            feedback_id=new_feedback_id(),  # kept unless this call asked before (then its saved id)
            workflow=self.workflow_name,
            run_id=self.run_id,
            task_id=self.task_id,
            call_index=call_index,
            visit=self.visit,
        )
        return request, LiveParts(asked["model"], asked["preview"], asked["notification_config"], handler)

    def _received(self, request: FeedbackRequest, response: FeedbackResponse | None) -> FeedbackResponse:
        if response is None:
            self.stop_raised = True
            raise TaskStopped("the run is stopping")
        if request.write_to_channel and request.channel_key is not None:
            write_answer_to_channel(self.get_channel(), request.channel_key, response)
        return response

    def next_task(self, task: TaskWrapper[..., Any] | str, goto: bool = False) -> str:
        """Once this task returns, run ``task`` (Graflow's call) and return its id.

        A task of this workflow (or its id) runs again, with every task after it: a reviewer that
        rejects sends the run back to the writer, then is asked again; the tasks after this one that
        ``task`` does not lead to are skipped (``goto`` is implied). A ``@task`` the workflow does not
        have is added to this run, to run after this task: beside this task's successors, or instead
        of them with ``goto=True``. (Define such a task at the top level of a module or cell, not inside
        a task: a run resumed after a restart must find it by its id.)
        """
        task_id = task if isinstance(task, str) else getattr(task, "task_id", None)
        if not isinstance(task_id, str):
            raise TypeError(f"next_task() takes a task (a function decorated with @task) or its id, not {task!r}")
        known = self._engine.graph.tasks.get(task_id)  # (the loop adds tasks to it; a lookup is atomic)
        if known is not None and (isinstance(task, str) or known is task):
            self._set_jump(Jump(task_id))
        elif known is None and not isinstance(task, str):
            self._set_jump(Jump(task_id, added=task, goto=goto))
        elif known is None:
            raise UnknownTaskError(task_id, list(self._engine.graph.tasks))
        else:
            raise WorkflowDefinitionError(
                f"next_task(): the workflow already has a different task {task_id!r}; give the new one @task(id=...)"
            )
        return task_id

    def next_iteration(self, data: Any = None) -> str:
        """Once this task returns, run it again, given ``data`` (Graflow's call; the data is its first
        parameter after the context, and must be JSON data, as it is saved in the checkpoint). The tasks
        after it run once it completes without asking for another iteration. At most
        :data:`MAX_CYCLES` iterations per task and run: more raise CycleLimitExceededError."""
        from .._util.jsonable import find_non_json

        if self.cycle_count >= MAX_CYCLES:
            raise CycleLimitExceededError(self.task_id, self.cycle_count, MAX_CYCLES)
        bad = find_non_json(data)
        if bad is not None:
            raise ChannelValueError(f"next_iteration({self.task_id!r})", bad[0], bad[1])
        self._set_jump(Jump(self.task_id, iteration=True, data=data))
        return self.task_id

    def _set_jump(self, jump: Jump) -> None:
        if self.jump is not None and self.jump != jump:
            raise WorkflowDefinitionError(
                f"task {self.task_id!r} already goes on to {self.jump.task_id!r}; a task goes to one next task"
            )
        self.jump = jump

    def cancel_workflow(self, reason: str = "cancelled") -> NoReturn:
        """Stop this task now and end the run as cancelled; tasks not yet started never run."""
        self._engine.call_soon_on_loop(self._engine.cancel, reason)
        self.stop_raised = True
        raise TaskStopped(reason)

    def terminate_workflow(self, reason: str = "terminated") -> None:
        """End the run as completed once this task returns; tasks not yet started never run."""
        self.terminate_reason = reason


def _asked(arguments: dict[str, Any]) -> dict[str, Any]:
    """A request_feedback call's arguments, as its body sees them in ``locals()``, without ``self``."""
    return {name: value for name, value in arguments.items() if name != "self"}


def write_answer_to_channel(channel: Channel, key: str, response: FeedbackResponse) -> None:
    """Write an answer where the request's ``channel_key`` says (Graflow's ``write_to_channel``): the answer
    itself at ``key``, the whole response at ``key + ".__feedback_response__"``."""
    from .._model.feedback_kinds import MAIN_ANSWER_FIELD
    from .._util.jsonable import to_json_data

    channel.set(key, to_json_data(getattr(response, MAIN_ANSWER_FIELD[response.feedback_type.value])))
    channel.set(f"{key}.__feedback_response__", response.to_dict())
