"""A task's ``request_feedback(...)`` arguments made into a checked :class:`FeedbackRequest`;
bad arguments raise :class:`InvalidFeedbackRequestError` in the task."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from .._util.clock import utc_now
from .._util.jsonable import find_non_json, to_json_data
from .errors import InvalidFeedbackRequestError
from .feedback import FeedbackRequest, is_number
from .feedback_kinds import ON_TIMEOUT_CHOICES, OPTION_TYPES, FeedbackType, OnTimeout
from .notification_config import redact_notification_config, validate_notification_config


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
    options: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    timeout: float | None = None,
    notification_config: dict[str, Any] | None = None,
    *,
    feedback_id: str,
    workflow: str,
    run_id: str,
    task_id: str,
    call_index: int,
    visit: int = 0,
    default: Any = None,
    min: float | None = None,  # noqa: A002 - request_feedback's own names, passed on as they are
    max: float | None = None,  # noqa: A002
    step: float | None = None,
    model: type[BaseModel] | None = None,
    preview: Callable[[Any], Any] | None = None,
    range: bool = False,  # noqa: A002
    key: str | None = None,
    on_timeout: str = "pause",
    channel_key: str | None = None,
    write_to_channel: bool | None = None,
) -> FeedbackRequest:
    """Check request_feedback()'s arguments and build the request they describe."""
    minimum, maximum, value_range = min, max, range
    kind = parse_feedback_type(feedback_type)
    when_unanswered = _check_on_timeout(on_timeout, timeout, default)
    writes_to_channel = _check_channel_key(channel_key, write_to_channel)
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
        visit=visit,
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
        channel_key=channel_key,
        write_to_channel=writes_to_channel,
    )


def _check_channel_key(channel_key: str | None, write_to_channel: bool | None) -> bool:
    """Whether the answer is written to the channel: given a ``channel_key``, unless told not to."""
    if channel_key is not None and (not isinstance(channel_key, str) or not channel_key):
        raise InvalidFeedbackRequestError(f"channel_key must be a non-empty string, got {channel_key!r}")
    if write_to_channel not in (None, True, False):
        raise InvalidFeedbackRequestError(f"write_to_channel must be True or False, got {write_to_channel!r}")
    if write_to_channel and channel_key is None:
        raise InvalidFeedbackRequestError("write_to_channel=True needs a channel_key= to write the answer to")
    return channel_key is not None and write_to_channel is not False


def _check_options(kind: FeedbackType, options: list[str] | None) -> None:
    if kind not in OPTION_TYPES:
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
        if value is not None and (not is_number(value) or not math.isfinite(value)):
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
    if is_number(low) and is_number(high) and not minimum <= low <= high <= maximum:
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
    if kind is FeedbackType.CUSTOM and not isinstance(default, dict):
        raise InvalidFeedbackRequestError(f"default of a custom request must be a JSON object, got {default!r}")
    if kind is FeedbackType.NUMBER:
        low, high = numbers[0], numbers[1]
        if (low is not None and default < low) or (high is not None and default > high):
            raise InvalidFeedbackRequestError(f"default {default} is outside [{low}, {high}]")
