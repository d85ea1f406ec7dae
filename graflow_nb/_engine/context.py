"""``TaskExecutionContext``: what a task with ``inject_context=True`` receives."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

if TYPE_CHECKING:
    from typing import TypeVar

    from pydantic import BaseModel
    from typing_extensions import TypeVarTuple, Unpack

    from .._model.feedback import FeedbackRequest, FeedbackResponse, FeedbackType, LiveParts
    from .channel import Channel
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
    def cancel(self, reason: str) -> None: ...
    async def ask(self, request: FeedbackRequest, live: LiveParts) -> FeedbackResponse | None: ...


class TaskStopped(BaseException):
    """Unwinds a task that must stop now: it cancelled the run, or the run pauses or ends.

    It derives from BaseException so that a task's ``except Exception`` does not swallow it.
    """


class TaskExecutionContext:
    """The running task's view of its run: channel, feedback requests, cancel and terminate."""

    def __init__(self, engine: TaskHost, task_id: str) -> None:
        self._engine = engine
        self.task_id = task_id
        self._calls = 0
        self.terminate_reason: str | None = None
        #: Set when this task was told to stop (TaskStopped raised into it); a task that still returns
        #: normally caught the stop, and its result is not kept (see Engine._settle).
        self.stop_raised = False

    @property
    def run_id(self) -> str:
        """The id of the run this task belongs to."""
        return self._engine.run_id

    @property
    def workflow_name(self) -> str:
        """The name of the workflow."""
        return self._engine.workflow_name

    def get_channel(self) -> Channel:
        """The run's shared state, saved in every checkpoint."""
        return self._engine.channel

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
    ) -> FeedbackResponse:
        """Ask a person and wait for the answer (see the README for each feedback type).

        ``preview`` (number, selection, form) is called with the value as a person moves the control,
        and what it returns (text, a matplotlib figure, a DataFrame) is shown under the control.
        With ``timeout`` seconds and no answer by then, the run is checkpointed and pauses; on
        resume this task runs again and this call returns the answer given meanwhile. Calls are
        matched to recorded answers by their order within the task. ``on_timeout`` chooses otherwise:
        ``"default"`` answers with ``default`` (recorded as given by "timeout"), ``"cancel"`` and
        ``"fail"`` end the run so. Raises FeedbackClosedError if a person closes the request unanswered.
        """
        self._engine.require_worker_thread("ctx.request_feedback_async")
        request, live = self._build(
            feedback_type,
            prompt,
            options,
            metadata,
            timeout,
            notification_config,
            default,
            min,
            max,
            step,
            model,
            preview,
            range,
            key,
            on_timeout,
        )
        response = self._engine.call_from_worker(self._engine.ask, request, live)
        return self._received(response)

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
    ) -> FeedbackResponse:
        """``request_feedback`` for ``async def`` tasks."""
        request, live = self._build(
            feedback_type,
            prompt,
            options,
            metadata,
            timeout,
            notification_config,
            default,
            min,
            max,
            step,
            model,
            preview,
            range,
            key,
            on_timeout,
        )
        return self._received(await self._engine.ask(request, live))

    # Typed per feedback type for type checkers (request_signatures); the methods above at run time.
    if TYPE_CHECKING:
        request_feedback: RequestFeedback
        request_feedback_async: RequestFeedbackAsync
    else:
        request_feedback = _request_feedback
        request_feedback_async = _request_feedback_async

    def _build(
        self,
        feedback_type: FeedbackType | str,
        prompt: str,
        options: list[str] | None,
        metadata: dict[str, Any] | None,
        timeout: float | None,
        notification_config: dict[str, Any] | None,
        default: Any,
        minimum: float | None,
        maximum: float | None,
        step: float | None,
        model: type[BaseModel] | None,
        preview: Callable[[Any], Any] | None,
        value_range: bool,
        key: str | None,
        on_timeout: str = "pause",
    ) -> tuple[FeedbackRequest, LiveParts]:
        """The request to save, and the parts of it that are never saved."""
        from .._model.feedback import LiveParts
        from .._model.request_building import build_request

        call_index = self._calls
        self._calls += 1
        request = build_request(
            feedback_type,
            prompt,
            options=options,
            timeout=timeout,
            notification_config=notification_config,
            metadata=metadata,
            default=default,
            minimum=minimum,
            maximum=maximum,
            step=step,
            model=model,
            preview=preview,
            value_range=value_range,
            key=key,
            on_timeout=on_timeout,
            feedback_id="",
            workflow=self.workflow_name,
            run_id=self.run_id,
            task_id=self.task_id,
            call_index=call_index,
        )
        return request, LiveParts(model, preview, notification_config)

    def _received(self, response: FeedbackResponse | None) -> FeedbackResponse:
        if response is None:
            self.stop_raised = True
            raise TaskStopped("the run is stopping")
        return response

    def cancel_workflow(self, reason: str = "cancelled") -> NoReturn:
        """Stop this task now and end the run as cancelled; tasks not yet started never run."""
        self._engine.call_soon_on_loop(self._engine.cancel, reason)
        self.stop_raised = True
        raise TaskStopped(reason)

    def terminate_workflow(self, reason: str = "terminated") -> None:
        """End the run as completed once this task returns; tasks not yet started never run."""
        self.terminate_reason = reason
