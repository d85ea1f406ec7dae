"""Feedback requests and responses: the models saved in checkpoints and answers files.

A request is built from ``ctx.request_feedback(...)``'s arguments by
:func:`~.request_building.build_request`; an answer, from any source, becomes a response through
:func:`~.answer_checks.make_response`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._util.clock import utc_now
from .._util.jsonable import to_json_data
from .errors import GraflowNbError
from .feedback_kinds import ANSWER_FIELDS, AnswerSource, FeedbackType, OnTimeout, default_responder


def given_fields(response: FeedbackResponse) -> dict[str, Any]:
    """The answer fields a response was given (``closed=True`` for a closure), as make_response takes them."""
    given = {name: getattr(response, name) for name in ANSWER_FIELDS if getattr(response, name) is not None}
    return {**given, "closed": True} if response.closed else given


class FeedbackAlreadySettledError(GraflowNbError, ValueError):
    """Raised when a request was already answered or closed, or its run has finished.

    ``winner`` is the answer (or closure) that came first, when there is one.
    """

    def __init__(self, feedback_id: str, detail: str, *, winner: FeedbackResponse | None = None) -> None:
        self.feedback_id = feedback_id
        self.winner = winner
        super().__init__(f"feedback request {feedback_id} cannot be answered: {detail}")


@dataclass(frozen=True)
class LiveParts:
    """What a request carries that is never saved: the form's model, the preview function, the
    notification config with its URL in clear (a secret, kept out of reprs too), and the handler."""

    model: type[BaseModel] | None = None
    preview: Callable[[Any], Any] | None = None
    notification: dict[str, Any] | None = field(default=None, repr=False)
    #: The task's ``handler=``: told when the request waits, is answered, or times out.
    handler: object | None = None


class FeedbackRequest(BaseModel):
    """A question a task asked, as stored in the checkpoint and shown to people."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    feedback_id: str
    feedback_type: FeedbackType
    prompt: str
    workflow: str
    run_id: str
    task_id: str
    call_index: int = Field(ge=0, description="Which request_feedback call of the task this is.")
    visit: int = Field(default=0, ge=0, description="Which run of the task asked it (a loop runs a task again).")
    options: list[str] | None = None
    default: Any = None
    timeout: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    step: float | None = None
    integer: bool = False
    value_range: bool = Field(default=False, description="A number request answered with [low, high].")
    form_title: str | None = None
    form_schema: dict[str, Any] | None = None
    notification: dict[str, Any] | None = Field(
        default=None, description="The notification_config with its URL redacted."
    )
    key: str | None = Field(default=None, description="A name for the request, to match recorded answers by.")
    on_timeout: OnTimeout = Field(default="pause", description="What happens when the timeout passes unanswered.")
    channel_key: str | None = Field(default=None, description="The channel key the answer is written to.")
    write_to_channel: bool = Field(default=False, description="Write the answer to channel_key (Graflow's option).")
    created_at: datetime = Field(default_factory=utc_now)

    @property
    def session_id(self) -> str:
        """Graflow's name for :attr:`run_id`."""
        return self.run_id

    def same_question(self, other: FeedbackRequest) -> bool:
        """Whether ``other`` asks the same kind of question (so a recorded answer still fits)."""
        return (
            self.feedback_type == other.feedback_type
            and self.options == other.options
            and self.integer == other.integer
            and self.form_title == other.form_title
        )


class FeedbackResponse(BaseModel):
    """A person's answer to a :class:`FeedbackRequest`."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    feedback_id: str
    feedback_type: FeedbackType
    approved: bool | None = None
    reason: str | None = None
    text: str | None = None
    selected: str | list[str] | None = None
    value: int | float | list[int | float] | None = None
    data: Any = None
    closed: bool = Field(default=False, description="Closed without an answer (``reason`` says why).")
    responded_at: datetime = Field(default_factory=utc_now)
    responded_by: str = Field(default_factory=default_responder)
    via: AnswerSource = "api"

    if TYPE_CHECKING:  # the constructor as type checkers see it: ours and Graflow's names

        def __init__(
            self,
            *,
            feedback_id: str,
            feedback_type: FeedbackType | str | None = None,
            response_type: FeedbackType | str | None = None,
            approved: bool | None = None,
            reason: str | None = None,
            text: str | None = None,
            selected: str | list[str] | None = None,
            selected_multiple: list[str] | None = None,
            value: int | float | list[int | float] | None = None,
            data: Any = None,
            custom_data: Any = None,
            closed: bool = False,
            responded_at: datetime | str = ...,
            responded_by: str | None = None,
            via: AnswerSource = "api",
        ) -> None: ...

    @model_validator(mode="before")
    @classmethod
    def _graflow_names(cls, given: Any) -> Any:
        """Accept Graflow's constructor names: ``response_type=``, ``selected_multiple=``, ``custom_data=``."""
        if not isinstance(given, dict):
            return given
        renamed = dict(given)
        for graflow_name, ours in (
            ("response_type", "feedback_type"),
            ("selected_multiple", "selected"),
            ("custom_data", "data"),
        ):
            if graflow_name not in renamed:
                continue
            value = renamed.pop(graflow_name)
            if value is None:
                continue
            if renamed.get(ours) is not None and renamed[ours] != value:
                raise ValueError(f"{graflow_name}= and {ours}= say different things")
            renamed[ours] = value
        if renamed.get("responded_by") is None:  # Graflow's default: not given
            renamed.pop("responded_by", None)
        return renamed

    @property
    def response_type(self) -> FeedbackType:
        """Graflow's name for :attr:`feedback_type`."""
        return self.feedback_type

    @property
    def selected_multiple(self) -> list[str] | None:
        """Graflow's name for a multi_selection answer."""
        return self.selected if isinstance(self.selected, list) else None

    @property
    def custom_data(self) -> Any:
        """Graflow's name for a custom request's answer (the JSON object given)."""
        return self.data if self.feedback_type is FeedbackType.CUSTOM else None

    def to_dict(self) -> dict[str, Any]:
        """The response as JSON data, with Graflow's field names beside ours."""
        data = self.model_dump(mode="json")
        data.update(
            response_type=self.feedback_type.value,
            selected_multiple=self.selected_multiple,
            custom_data=to_json_data(self.custom_data),
        )
        return data

    def summary(self) -> str:
        """The answer as a person writes it: ``approved``, ``rejected: too risky``, ``age, tenure``, ``20 – 80``."""
        kind = self.feedback_type
        if self.closed:
            return f"closed without an answer: {self.reason}" if self.reason else "closed without an answer"
        if kind is FeedbackType.APPROVAL:
            verdict = "approved" if self.approved else "rejected"
            return f"{verdict}: {self.reason}" if self.reason else verdict
        if kind is FeedbackType.TEXT:
            return self.text if self.text else "(no text)"
        if kind is FeedbackType.MULTI_SELECTION:
            return ", ".join(self.selected or []) if self.selected else "(nothing selected)"
        if kind is FeedbackType.SELECTION:
            return str(self.selected)
        if kind is FeedbackType.NUMBER:
            if isinstance(self.value, list):
                return " – ".join(_number_text(v) for v in self.value)
            return _number_text(self.value)
        data = to_json_data(self.data)
        if isinstance(data, dict):
            return ", ".join(f"{key}: {_field_text(value)}" for key, value in data.items())
        return _field_text(data)


#: A form's answer: the task's pydantic model, or a dict when it gave none.
M = TypeVar("M")


class ApprovalResponse(FeedbackResponse):
    """The answer to an approval: ``approved`` is True or False."""

    approved: bool


class TextResponse(FeedbackResponse):
    """The answer to a text request."""

    text: str


class SelectionResponse(FeedbackResponse):
    """The answer to a selection: one of its options."""

    selected: str


class MultiSelectionResponse(FeedbackResponse):
    """The answer to a multi_selection: the options chosen (maybe none)."""

    selected: list[str]


class NumberResponse(FeedbackResponse):
    """The answer to a number request: a number, or ``[low, high]`` for a range."""

    value: int | float | list[int | float]


class FormResponse(FeedbackResponse, Generic[M]):
    """The answer to a form: ``data`` is an instance of the task's model (a dict without one)."""

    data: M


class CustomResponse(FeedbackResponse):
    """The answer to a custom request: a JSON object, as ``custom_data`` (and ``data``)."""

    data: dict[str, Any]


#: The response class a task gets for each feedback type (a closure stays a plain FeedbackResponse).
RESPONSE_CLASSES: dict[FeedbackType, type[FeedbackResponse]] = {
    FeedbackType.APPROVAL: ApprovalResponse,
    FeedbackType.TEXT: TextResponse,
    FeedbackType.SELECTION: SelectionResponse,
    FeedbackType.MULTI_SELECTION: MultiSelectionResponse,
    FeedbackType.NUMBER: NumberResponse,
    FeedbackType.FORM: FormResponse,
    FeedbackType.CUSTOM: CustomResponse,
}


def _number_text(value: float | None) -> str:
    return "(none)" if value is None else str(value)


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, (str, int)) or value is None:
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def already_settled(feedback_id: str, first: FeedbackResponse | None) -> FeedbackAlreadySettledError:
    """The error for an answer that came after ``first`` (None: the request closed as its run ended)."""
    return FeedbackAlreadySettledError(feedback_id, settled_detail(first), winner=first)


def settled_detail(response: FeedbackResponse | None) -> str:
    """'already answered by X via Y at Z: <answer>', or why else a request is closed."""
    if response is None:
        return "the request is closed (its run finished or the task asked a different question)"
    when = f"{response.responded_at:%Y-%m-%d %H:%M:%S %Z}"
    if response.closed:
        why = f": {response.reason}" if response.reason else ""
        return f"already closed without an answer by {response.responded_by} via {response.via} at {when}{why}"
    return f"already answered by {response.responded_by} via {response.via} at {when}: {response.summary()}"


def is_number(value: object) -> bool:
    """Whether ``value`` is an int or a float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
