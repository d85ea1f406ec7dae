"""Feedback requests and responses: their models, and the checks on both.

A request is built from ``ctx.request_feedback(...)``'s arguments by :func:`build_request`, which
rejects bad arguments with :class:`InvalidFeedbackRequestError`. An answer, from any source, is
turned into a :class:`FeedbackResponse` by :func:`make_response`, which rejects answers that do not
fit with :class:`InvalidAnswerError`.
"""

from __future__ import annotations

import enum
import getpass
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._util.jsonable import find_non_json, to_json_data
from .errors import GraflowNbError, InvalidAnswerError, InvalidFeedbackRequestError
from .notification_config import redact_notification_config, validate_notification_config


class FeedbackAlreadySettledError(GraflowNbError, ValueError):
    """Raised when a request was already answered or closed, or its run has finished.

    ``winner`` is the answer (or closure) that came first, when there is one.
    """

    def __init__(self, feedback_id: str, detail: str, *, winner: FeedbackResponse | None = None) -> None:
        self.feedback_id = feedback_id
        self.winner = winner
        super().__init__(f"feedback request {feedback_id} cannot be answered: {detail}")


class FeedbackType(str, enum.Enum):
    """The kinds of question a task can ask, and the response field that carries each answer."""

    APPROVAL = "approval"  #: ``response.approved: bool`` (and ``response.reason``)
    TEXT = "text"  #: ``response.text: str``
    SELECTION = "selection"  #: ``response.selected: str``
    MULTI_SELECTION = "multi_selection"  #: ``response.selected: list[str]``
    NUMBER = "number"  #: ``response.value: int | float``
    FORM = "form"  #: ``response.data``: an instance of the pydantic model asked for


#: Where an answer came from.
AnswerSource = Literal["widget", "api", "cli", "console", "replay", "timeout"]

#: What happens when a request's timeout passes unanswered: the guide's pause (the default), the
#: request's default answer (recorded as given by "timeout"), or the run ends cancelled or failed.
OnTimeout = Literal["pause", "default", "cancel", "fail"]
ON_TIMEOUT_CHOICES: tuple[OnTimeout, ...] = ("pause", "default", "cancel", "fail")

#: The field that holds a response's answer, by feedback type (the decision log's value; what a
#: request's default fills when on_timeout="default").
MAIN_ANSWER_FIELD = {
    "approval": "approved",
    "text": "text",
    "selection": "selected",
    "multi_selection": "selected",
    "number": "value",
    "form": "data",
}

_OPTION_TYPES = (FeedbackType.SELECTION, FeedbackType.MULTI_SELECTION)
#: The fields of a response that carry the answer itself.
ANSWER_FIELDS = ("approved", "reason", "text", "selected", "value", "data")


def given_fields(response: FeedbackResponse) -> dict[str, Any]:
    """The answer fields a response was given (``closed=True`` for a closure), as make_response takes them."""
    given = {name: getattr(response, name) for name in ANSWER_FIELDS if getattr(response, name) is not None}
    return {**given, "closed": True} if response.closed else given


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


def default_responder() -> str:
    """Who is answering: the JupyterHub user, else the OS user."""
    hub_user = os.environ.get("JUPYTERHUB_USER")
    if hub_user:
        return hub_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "unknown"


@dataclass(frozen=True)
class LiveParts:
    """What a request carries that is never saved: the form's model, the preview function, and the
    notification config with its URL in clear (a secret, kept out of reprs too)."""

    model: type[BaseModel] | None = None
    preview: Callable[[Any], Any] | None = None
    notification: dict[str, Any] | None = field(default=None, repr=False)


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
    created_at: datetime = Field(default_factory=utc_now)

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

    @property
    def selected_multiple(self) -> list[str] | None:
        """Graflow's name for a multi_selection answer."""
        return self.selected if isinstance(self.selected, list) else None

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


def parse_feedback_type(feedback_type: FeedbackType | str) -> FeedbackType:
    """Accept the enum or its string value."""
    try:
        return FeedbackType(feedback_type)
    except ValueError:
        known = ", ".join(repr(t.value) for t in FeedbackType)
        raise InvalidFeedbackRequestError(f"unknown feedback_type {feedback_type!r}; use one of {known}") from None


def _check_on_timeout(on_timeout: str, timeout: float | None, default: Any) -> OnTimeout:
    chosen = next((choice for choice in ON_TIMEOUT_CHOICES if choice == on_timeout), None)
    if chosen is None:
        raise InvalidFeedbackRequestError(
            f"on_timeout must be one of {', '.join(map(repr, ON_TIMEOUT_CHOICES))}, not {on_timeout!r}"
        )
    if on_timeout != "pause" and timeout is None:
        raise InvalidFeedbackRequestError(f"on_timeout={on_timeout!r} needs a timeout= to act on")
    if on_timeout == "default" and default is None:
        raise InvalidFeedbackRequestError("on_timeout='default' needs a default= answer to use")
    return chosen


def build_request(
    feedback_type: FeedbackType | str,
    prompt: str,
    *,
    options: list[str] | None,
    timeout: float | None,
    notification_config: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    default: Any,
    minimum: float | None,
    maximum: float | None,
    step: float | None,
    model: type[BaseModel] | None,
    feedback_id: str,
    preview: Callable[[Any], Any] | None = None,
    value_range: bool = False,
    key: str | None = None,
    on_timeout: str = "pause",
    workflow: str,
    run_id: str,
    task_id: str,
    call_index: int,
) -> FeedbackRequest:
    """Check request_feedback()'s arguments and build the request they describe."""
    kind = parse_feedback_type(feedback_type)
    when_unanswered = _check_on_timeout(on_timeout, timeout, default)
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidFeedbackRequestError("prompt must be a non-empty string")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise InvalidFeedbackRequestError(f"timeout must be a number of seconds, not {timeout!r}")
        if not timeout > 0 or math.isinf(timeout):
            raise InvalidFeedbackRequestError(
                f"timeout must be a positive, finite number of seconds (or None), got {timeout!r}"
            )
        try:
            utc_now() + timedelta(seconds=timeout)
        except OverflowError:
            raise InvalidFeedbackRequestError(
                f"timeout {timeout:g} s is too long to have a deadline; use None to wait until answered"
            ) from None
    if key is not None and not isinstance(key, str):
        raise InvalidFeedbackRequestError(f"key must be a string naming the request, got {type(key).__name__}")
    _check_options(kind, options)
    numbers = _check_number_bounds(kind, minimum, maximum, step, default, value_range)
    if not value_range:
        _check_default(kind, options, default, numbers)
    if model is not None and kind is not FeedbackType.FORM:
        raise InvalidFeedbackRequestError(f"model= is only for feedback_type 'form', not {kind.value!r}")
    if kind is FeedbackType.FORM and not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise InvalidFeedbackRequestError("feedback_type 'form' needs model=<a pydantic BaseModel subclass>")
    if preview is not None:
        if kind not in (FeedbackType.NUMBER, FeedbackType.SELECTION, FeedbackType.FORM):
            raise InvalidFeedbackRequestError(f"preview= is for 'number', 'selection' and 'form', not {kind.value!r}")
        if not callable(preview):
            raise InvalidFeedbackRequestError(f"preview must be a function of the value, not {preview!r}")
    metadata = dict(metadata or {})
    bad = find_non_json(metadata)
    if bad:
        raise InvalidFeedbackRequestError(f"metadata{bad[0]} of type {bad[1]} is not JSON-compatible")
    if default is not None and find_non_json(default):
        raise InvalidFeedbackRequestError(f"default {default!r} is not JSON-compatible")
    config = validate_notification_config(notification_config)
    return FeedbackRequest(
        feedback_id=feedback_id,
        feedback_type=kind,
        on_timeout=when_unanswered,
        prompt=prompt,
        workflow=workflow,
        run_id=run_id,
        task_id=task_id,
        call_index=call_index,
        options=list(options) if options is not None else None,
        default=to_json_data(default),
        timeout=float(timeout) if timeout is not None else None,
        metadata=to_json_data(metadata),
        min=numbers[0],
        max=numbers[1],
        step=numbers[2],
        integer=numbers[3],
        value_range=value_range,
        form_title=model.__name__ if model is not None else None,
        form_schema=model.model_json_schema() if model is not None else None,
        notification=redact_notification_config(config),
        key=key,
    )


def _check_options(kind: FeedbackType, options: list[str] | None) -> None:
    if kind not in _OPTION_TYPES:
        if options is not None:
            raise InvalidFeedbackRequestError(
                f"options are only for 'selection' and 'multi_selection', not {kind.value!r}"
            )
        return
    if options is None or isinstance(options, (str, bytes)) or len(options) == 0:
        raise InvalidFeedbackRequestError(f"{kind.value!r} needs a non-empty list of options")
    for option in options:
        if not isinstance(option, str) or not option:
            raise InvalidFeedbackRequestError(f"options must be non-empty strings, got {option!r}")
    duplicates = sorted({o for o in options if list(options).count(o) > 1})
    if duplicates:
        raise InvalidFeedbackRequestError(f"options must be unique; repeated: {duplicates}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_number_bounds(
    kind: FeedbackType,
    minimum: float | None,
    maximum: float | None,
    step: float | None,
    default: Any,
    value_range: bool = False,
) -> tuple[float | None, float | None, float | None, bool]:
    given = {"min": minimum, "max": maximum, "step": step}
    if kind is not FeedbackType.NUMBER:
        named = [name for name, value in {**given, "range": value_range or None}.items() if value is not None]
        if named:
            raise InvalidFeedbackRequestError(f"{', '.join(named)} only apply to feedback_type 'number'")
        return (None, None, None, False)
    if value_range:
        default = _check_range_default(minimum, maximum, default)
    for name, value in {**given, **_defaults_by_name(default)}.items():
        if value is not None and (not _is_number(value) or not math.isfinite(value)):
            raise InvalidFeedbackRequestError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise InvalidFeedbackRequestError(f"min ({minimum}) is greater than max ({maximum})")
    if step is not None and step <= 0:
        raise InvalidFeedbackRequestError(f"step must be positive, got {step}")
    numbers = [*given.values(), *(default if isinstance(default, list) else [default])]
    integer = all(isinstance(v, int) for v in numbers if v is not None)
    return (minimum, maximum, step, integer)


def _defaults_by_name(default: Any) -> dict[str, Any]:
    if isinstance(default, list):
        return {"default low": default[0], "default high": default[1]}
    return {"default": default}


def _check_range_default(minimum: float | None, maximum: float | None, default: Any) -> Any:
    """A range request needs both bounds; its default is [low, high] within them."""
    if minimum is None or maximum is None:
        raise InvalidFeedbackRequestError("range=True needs both min and max")
    if default is None:
        return None
    if not isinstance(default, (list, tuple)) or len(default) != 2:
        raise InvalidFeedbackRequestError(f"default of a range must be [low, high], got {default!r}")
    low, high = default
    if _is_number(low) and _is_number(high) and not minimum <= low <= high <= maximum:
        raise InvalidFeedbackRequestError(f"default {list(default)} is not a range within [{minimum}, {maximum}]")
    return list(default)


def _check_default(
    kind: FeedbackType,
    options: list[str] | None,
    default: Any,
    numbers: tuple[float | None, float | None, float | None, bool],
) -> None:
    if default is None:
        return
    if kind is FeedbackType.APPROVAL and not isinstance(default, bool):
        raise InvalidFeedbackRequestError(f"default of an approval must be True or False, got {default!r}")
    if kind is FeedbackType.TEXT and not isinstance(default, str):
        raise InvalidFeedbackRequestError(f"default of a text request must be a string, got {default!r}")
    if kind is FeedbackType.SELECTION and default not in (options or []):
        raise InvalidFeedbackRequestError(f"default {default!r} is not among the options {options}")
    if kind is FeedbackType.MULTI_SELECTION and (
        not isinstance(default, list) or any(d not in (options or []) for d in default)
    ):
        raise InvalidFeedbackRequestError(
            f"default of a multi_selection must be a list of options {options}, got {default!r}"
        )
    if kind is FeedbackType.NUMBER:
        low, high = numbers[0], numbers[1]
        if (low is not None and default < low) or (high is not None and default > high):
            raise InvalidFeedbackRequestError(f"default {default} is outside [{low}, {high}]")


def make_response(
    request: FeedbackRequest,
    *,
    approved: bool | None = None,
    reason: str | None = None,
    text: str | None = None,
    selected: str | list[str] | None = None,
    value: float | list[float] | None = None,
    data: Any = None,
    closed: bool = False,
    via: AnswerSource = "api",
    responded_by: str | None = None,
    model: type[BaseModel] | None = None,
) -> FeedbackResponse:
    """Check an answer against its request and build the response; raise InvalidAnswerError if it does not fit.

    ``model`` validates a form answer; without it (e.g. in another process) a form answer must be
    a dict and is validated again by the task that asked. ``closed=True`` (with an optional
    ``reason`` and no answer) closes the request without an answer instead.
    """
    fid = request.feedback_id
    kind = request.feedback_type
    fields = {"approved": approved, "text": text, "selected": selected, "value": value, "data": data}
    if reason is not None and not isinstance(reason, str):
        raise InvalidAnswerError(fid, f"a reason must be text, got {type(reason).__name__}")
    if responded_by is not None and not isinstance(responded_by, str):
        raise InvalidAnswerError(fid, f"responded_by must be a name, got {type(responded_by).__name__}")
    if closed is not False:
        return _closure(request, fields, closed, reason, via, responded_by)
    expected = {
        FeedbackType.APPROVAL: "approved",
        FeedbackType.TEXT: "text",
        FeedbackType.SELECTION: "selected",
        FeedbackType.MULTI_SELECTION: "selected",
        FeedbackType.NUMBER: "value",
        FeedbackType.FORM: "data",
    }[kind]
    stray = [name for name, given in fields.items() if given is not None and name != expected]
    if stray:
        raise InvalidAnswerError(fid, f"a {kind.value!r} request takes {expected!r}, not {', '.join(stray)}")
    if fields[expected] is None:
        raise InvalidAnswerError(fid, f"a {kind.value!r} request needs {expected!r}")
    if reason is not None and kind is not FeedbackType.APPROVAL:
        raise InvalidAnswerError(fid, "a reason only goes with an approval (or with closing a request)")
    checked = _check_answer_value(request, fields[expected], model)
    return _response(request, reason=reason, via=via, responded_by=responded_by, **{expected: checked})


def _response(request: FeedbackRequest, *, responded_by: str | None, **fields: Any) -> FeedbackResponse:
    """The response, or InvalidAnswerError if a field pydantic checks is wrong (e.g. an unknown ``via``)."""
    try:
        return FeedbackResponse(
            feedback_id=request.feedback_id,
            feedback_type=request.feedback_type,
            responded_by=responded_by or default_responder(),
            **fields,
        )
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise InvalidAnswerError(request.feedback_id, f"{where}: {problem['msg']}") from None


def _closure(
    request: FeedbackRequest,
    fields: dict[str, Any],
    closed: Any,
    reason: str | None,
    via: AnswerSource,
    responded_by: str | None,
) -> FeedbackResponse:
    """A response that closes the request without an answer."""
    fid = request.feedback_id
    if closed is not True:
        raise InvalidAnswerError(fid, f"closed must be True or False, got {closed!r}")
    given = [name for name, value in fields.items() if value is not None]
    if given:
        raise InvalidAnswerError(fid, f"closing a request takes no answer (got {', '.join(given)})")
    return _response(request, closed=True, reason=reason or None, via=via, responded_by=responded_by)


def _check_answer_value(request: FeedbackRequest, given: Any, model: type[BaseModel] | None) -> Any:
    fid = request.feedback_id
    kind = request.feedback_type
    options = request.options or []
    if kind is FeedbackType.APPROVAL:
        if not isinstance(given, bool):
            raise InvalidAnswerError(fid, f"approved must be True or False, got {given!r}")
        return given
    if kind is FeedbackType.TEXT:
        if not isinstance(given, str):
            raise InvalidAnswerError(fid, f"text must be a string, got {type(given).__name__}")
        return given
    if kind is FeedbackType.SELECTION:
        if isinstance(given, list) and len(given) == 1:
            given = given[0]
        if given not in options:
            raise InvalidAnswerError(fid, f"{given!r} is not one of the options {options}")
        return given
    if kind is FeedbackType.MULTI_SELECTION:
        chosen = [given] if isinstance(given, str) else given
        if not isinstance(chosen, (list, tuple)):
            raise InvalidAnswerError(fid, f"selected must be a list of options, got {given!r}")
        unknown = [c for c in chosen if c not in options]
        if unknown:
            raise InvalidAnswerError(fid, f"{unknown} not among the options {options}")
        if len(set(chosen)) != len(chosen):
            raise InvalidAnswerError(fid, f"an option was chosen twice: {list(chosen)}")
        return list(chosen)
    if kind is FeedbackType.NUMBER:
        return _check_number_answer(request, given)
    return _check_form_answer(request, given, model)


def _check_number_answer(request: FeedbackRequest, given: Any) -> int | float | list[int | float]:
    if not request.value_range:
        return _check_one_number(request, given)
    if not isinstance(given, (list, tuple)) or len(given) != 2:
        raise InvalidAnswerError(request.feedback_id, f"value must be [low, high], got {given!r}")
    low, high = (_check_one_number(request, number) for number in given)
    if low > high:
        raise InvalidAnswerError(request.feedback_id, f"low {low} is above high {high}")
    return [low, high]


def _is_finite(number: int | float) -> bool:
    """Finite, and small enough for a float (an int beyond ~1.8e308 is not)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _check_one_number(request: FeedbackRequest, given: Any) -> int | float:
    fid = request.feedback_id
    if not _is_number(given) or not _is_finite(given):
        shown = f"{given!r}"[:40] + ("..." if len(f"{given!r}") > 40 else "")
        raise InvalidAnswerError(fid, f"value must be a finite number a float can hold, got {shown}")
    if request.integer:
        if float(given) != int(given):
            raise InvalidAnswerError(fid, f"value must be a whole number, got {given!r}")
        given = int(given)
    number: int | float = given
    if request.min is not None and number < request.min:
        raise InvalidAnswerError(fid, f"value {number} is below the minimum {request.min:g}")
    if request.max is not None and number > request.max:
        raise InvalidAnswerError(fid, f"value {number} is above the maximum {request.max:g}")
    return number


def _check_form_answer(request: FeedbackRequest, given: Any, model: type[BaseModel] | None) -> Any:
    fid = request.feedback_id
    if model is None:
        if isinstance(given, BaseModel):
            given = given.model_dump(mode="json")
        if not isinstance(given, dict):
            raise InvalidAnswerError(fid, f"form data must be an object, got {type(given).__name__}")
        _check_plain_data(fid, given)
        missing = [name for name in (request.form_schema or {}).get("required", []) if name not in given]
        if missing:
            raise InvalidAnswerError(fid, f"form is missing required fields {missing}")
        if request.form_schema is not None:  # where the task's model is not at hand: its saved schema
            _check_against_schema(fid, given, request.form_schema)
        return given
    try:
        checked = (
            given
            if isinstance(given, model)
            else model.model_validate(given.model_dump() if isinstance(given, BaseModel) else given)
        )
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(form)'}: {e['msg']}" for e in error.errors())
        raise InvalidAnswerError(fid, f"form does not validate: {problems}") from None
    _check_plain_data(fid, checked.model_dump(mode="python"))
    return checked


def _check_plain_data(fid: str, data: Any) -> None:
    """Form data must be what a checkpoint stores exactly: JSON data, finite numbers, valid Unicode."""
    found = find_non_json(data)
    if found is not None:
        raise InvalidAnswerError(fid, f"form field {found[0] or '(form)'} holds a {found[1]}, not JSON data")


def _check_against_schema(fid: str, data: dict[str, Any], schema: dict[str, Any]) -> None:
    """Validate form data with the JSON schema the task's model had when it asked."""
    import jsonschema  # only for form answers given where the model is not at hand

    try:
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    except (jsonschema.exceptions.SchemaError, jsonschema.exceptions.RefResolutionError) as broken:
        raise InvalidAnswerError(fid, f"the form's saved schema cannot be used: {broken}") from None
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "(form)"
        raise InvalidAnswerError(fid, f"form does not validate: {where}: {error.message}")
