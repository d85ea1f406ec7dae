"""An answer, from any source, made into a :class:`FeedbackResponse` that fits its request; one that
does not fit raises :class:`InvalidAnswerError`."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ValidationError

from .._util.jsonable import find_non_json
from .errors import InvalidAnswerError
from .feedback import RESPONSE_CLASSES, FeedbackRequest, FeedbackResponse, is_number
from .feedback_kinds import AnswerSource, FeedbackType, default_responder


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
        FeedbackType.CUSTOM: "data",
    }[kind]
    stray = [name for name, given in fields.items() if given is not None and name != expected]
    if stray:
        raise InvalidAnswerError(fid, f"a {kind.value!r} request takes {expected!r}, not {', '.join(stray)}")
    if fields[expected] is None:
        raise InvalidAnswerError(fid, f"a {kind.value!r} request needs {expected!r}")
    if reason is not None and kind is not FeedbackType.APPROVAL:
        raise InvalidAnswerError(fid, "a reason only goes with an approval (or with closing a request)")
    checked = _check_answer_value(request, fields[expected], model)
    typed = RESPONSE_CLASSES[kind]
    return _response(request, typed, reason=reason, via=via, responded_by=responded_by, **{expected: checked})


def _response(
    request: FeedbackRequest, response_class: type[FeedbackResponse], *, responded_by: str | None, **fields: Any
) -> FeedbackResponse:
    """The response, or InvalidAnswerError if a field pydantic checks is wrong (e.g. an unknown ``via``)."""
    try:
        return response_class(
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
    return _response(request, FeedbackResponse, closed=True, reason=reason or None, via=via, responded_by=responded_by)


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
        return [option for option in options if option in chosen]  # in the options' order, as a control gives them
    if kind is FeedbackType.NUMBER:
        return _check_number_answer(request, given)
    if kind is FeedbackType.CUSTOM:
        if not isinstance(given, dict):
            raise InvalidAnswerError(fid, f"custom data must be a JSON object, got {type(given).__name__}")
        _check_plain_data(fid, given, "custom data field")
        return given
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
    if not is_number(given) or not _is_finite(given):
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


def _check_plain_data(fid: str, data: Any, what: str = "form field") -> None:
    """Form (or custom) data must be what a checkpoint stores exactly: JSON data, finite numbers, valid Unicode."""
    found = find_non_json(data)
    if found is not None:
        raise InvalidAnswerError(fid, f"{what} {found[0] or '(form)'} holds a {found[1]}, not JSON data")


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
