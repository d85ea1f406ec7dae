"""The typed signatures of ``ctx.request_feedback`` and ``ctx.request_feedback_async``.

Each feedback type, given as a literal, returns the response class whose answer field is not
optional: ``ctx.request_feedback("approval", ...).approved`` is a ``bool``, and a form asked with
``model=Params`` gives ``response.data`` as a ``Params``. A type known only at run time gets the flat
:class:`FeedbackResponse`. (Only for type checkers: the calls are the context's methods.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar, overload

from pydantic import BaseModel

from .._model.feedback import (
    ApprovalResponse,
    FeedbackResponse,
    FeedbackType,
    FormResponse,
    MultiSelectionResponse,
    NumberResponse,
    SelectionResponse,
    TextResponse,
)

M = TypeVar("M", bound=BaseModel)


class RequestFeedback(Protocol):
    """``ctx.request_feedback``: ask a person and wait for the answer."""

    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.APPROVAL, "approval"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> ApprovalResponse: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.TEXT, "text"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> TextResponse: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.SELECTION, "selection"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> SelectionResponse: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.MULTI_SELECTION, "multi_selection"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> MultiSelectionResponse: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.NUMBER, "number"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> NumberResponse: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.FORM, "form"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[M],
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> FormResponse[M]: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.FORM, "form"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> FormResponse[dict[str, Any]]: ...
    @overload
    def __call__(
        self,
        feedback_type: FeedbackType | str,
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> FeedbackResponse: ...


class RequestFeedbackAsync(Protocol):
    """``ctx.request_feedback_async``: :class:`RequestFeedback` for ``async def`` tasks."""

    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.APPROVAL, "approval"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> Awaitable[ApprovalResponse]: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.TEXT, "text"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> Awaitable[TextResponse]: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.SELECTION, "selection"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> Awaitable[SelectionResponse]: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.MULTI_SELECTION, "multi_selection"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> Awaitable[MultiSelectionResponse]: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.NUMBER, "number"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> Awaitable[NumberResponse]: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.FORM, "form"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[M],
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> Awaitable[FormResponse[M]]: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.FORM, "form"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> Awaitable[FormResponse[dict[str, Any]]]: ...
    @overload
    def __call__(
        self,
        feedback_type: FeedbackType | str,
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        *,
        default: Any = None,
        min: float | None = None,
        max: float | None = None,
        step: float | None = None,
        model: type[BaseModel] | None = None,
        preview: Callable[[Any], Any] | None = None,
        range: bool = False,
        key: str | None = None,
        on_timeout: str = "pause",
    ) -> Awaitable[FeedbackResponse]: ...
