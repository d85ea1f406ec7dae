"""The typed signatures of ``ctx.request_feedback`` and ``ctx.request_feedback_async``.

Each feedback type, given as a literal, returns the response class whose answer field is not
optional: ``ctx.request_feedback("approval", ...).approved`` is a ``bool``, and a form asked with
``model=Params`` gives ``response.data`` as a ``Params``. A type known only at run time gets the flat
:class:`FeedbackResponse`. The keywords every type takes are :class:`RequestKeywords`; ``model=`` is
for forms only. (Only for type checkers: the calls are the context's methods.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar, overload

from pydantic import BaseModel
from typing_extensions import TypedDict, Unpack

from .._model.feedback import (
    ApprovalResponse,
    CustomResponse,
    FeedbackResponse,
    FormResponse,
    MultiSelectionResponse,
    NumberResponse,
    SelectionResponse,
    TextResponse,
)
from .._model.feedback_handler import FeedbackHandler
from .._model.feedback_kinds import FeedbackType

M = TypeVar("M", bound=BaseModel)


class RequestKeywords(TypedDict, total=False):
    """The keyword-only arguments of ``ctx.request_feedback`` (see the README for each)."""

    default: Any
    min: float | None
    max: float | None
    step: float | None
    preview: Callable[[Any], Any] | None
    range: bool
    key: str | None
    on_timeout: str
    handler: FeedbackHandler | None
    channel_key: str | None
    write_to_channel: bool | None


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
        **keywords: Unpack[RequestKeywords],
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
        **keywords: Unpack[RequestKeywords],
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
        **keywords: Unpack[RequestKeywords],
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
        **keywords: Unpack[RequestKeywords],
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
        **keywords: Unpack[RequestKeywords],
    ) -> NumberResponse: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.CUSTOM, "custom"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        **keywords: Unpack[RequestKeywords],
    ) -> CustomResponse: ...
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
        model: type[M],
        **keywords: Unpack[RequestKeywords],
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
        model: None = None,
        **keywords: Unpack[RequestKeywords],
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
        model: type[BaseModel] | None = None,
        **keywords: Unpack[RequestKeywords],
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
        **keywords: Unpack[RequestKeywords],
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
        **keywords: Unpack[RequestKeywords],
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
        **keywords: Unpack[RequestKeywords],
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
        **keywords: Unpack[RequestKeywords],
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
        **keywords: Unpack[RequestKeywords],
    ) -> Awaitable[NumberResponse]: ...
    @overload
    def __call__(
        self,
        feedback_type: Literal[FeedbackType.CUSTOM, "custom"],
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        notification_config: dict[str, Any] | None = None,
        **keywords: Unpack[RequestKeywords],
    ) -> Awaitable[CustomResponse]: ...
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
        model: type[M],
        **keywords: Unpack[RequestKeywords],
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
        model: None = None,
        **keywords: Unpack[RequestKeywords],
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
        model: type[BaseModel] | None = None,
        **keywords: Unpack[RequestKeywords],
    ) -> Awaitable[FeedbackResponse]: ...
