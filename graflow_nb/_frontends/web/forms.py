"""What a request's page asks for, by feedback type, and the answer a submitted form gives."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..._model.errors import InvalidAnswerError
from ..._model.feedback import FeedbackRequest
from ..._model.feedback_kinds import FeedbackType

#: A submitted form, as tornado hands it: each field's values.
Submitted = Callable[[str], list[str]]


def form_fields(request: FeedbackRequest) -> list[dict[str, Any]]:
    """The fields of a form request's schema, for the page: name, title, input kind, choices, required."""
    schema = request.form_schema or {}
    required = set(schema.get("required", []))
    fields = []
    for name, declared in (schema.get("properties") or {}).items():
        spec = _resolved(declared, schema)
        kind = spec.get("type")
        if "enum" in spec:
            input_kind = "select"
        elif kind == "boolean":
            input_kind = "checkbox"
        elif kind in ("integer", "number"):
            input_kind = "number"
        else:
            input_kind = "text"
        fields.append(
            {
                "name": name,
                "title": spec.get("title") or name,
                "input": input_kind,
                "choices": [str(choice) for choice in spec.get("enum", [])],
                "step": "1" if kind == "integer" else "any",
                "required": name in required,
                "default": spec.get("default"),
            }
        )
    return fields


def answer_from(request: FeedbackRequest, submitted: Submitted) -> dict[str, Any]:
    """The answer (as ``provide_feedback`` takes it) a submitted form gives; InvalidAnswerError if it
    cannot be read. Whether it fits the request is checked where every answer is."""

    def one(name: str) -> str:
        values = submitted(name)
        return values[-1] if values else ""

    kind = request.feedback_type
    reason = one("reason").strip() or None
    if kind is FeedbackType.APPROVAL:
        decision = one("decision")
        if decision not in ("approve", "reject"):
            raise InvalidAnswerError(request.feedback_id, "choose Approve or Reject")
        return {"approved": decision == "approve", "reason": reason}
    if kind is FeedbackType.TEXT:
        return {"text": one("text")}
    if kind is FeedbackType.SELECTION:
        return {"selected": one("selected")}
    if kind is FeedbackType.MULTI_SELECTION:
        return {"selected": submitted("selected")}
    if kind is FeedbackType.NUMBER:
        if request.value_range:
            return {"value": [_number(request, one("low")), _number(request, one("high"))]}
        return {"value": _number(request, one("value"))}
    if kind is FeedbackType.FORM:
        return {"data": _form_data(request, submitted)}
    try:
        return {"data": json.loads(one("json"))}
    except json.JSONDecodeError as error:
        raise InvalidAnswerError(request.feedback_id, f"not JSON: {error.msg} (line {error.lineno})") from None


def _number(request: FeedbackRequest, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise InvalidAnswerError(request.feedback_id, f"{text.strip() or 'nothing'} is not a number") from None
    return int(number) if request.integer and number.is_integer() else number


def _form_data(request: FeedbackRequest, submitted: Submitted) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in form_fields(request):
        values = submitted(f"field.{field['name']}")
        text = values[-1] if values else ""
        if field["input"] == "checkbox":
            data[field["name"]] = bool(values)
        elif text == "" and not field["required"]:
            continue
        elif field["input"] == "number":
            try:
                data[field["name"]] = int(text) if field["step"] == "1" else float(text)
            except ValueError:
                raise InvalidAnswerError(request.feedback_id, f"{field['title']}: {text!r} is not a number") from None
        else:
            data[field["name"]] = text
    return data


def _resolved(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with a local ``$ref`` (pydantic's enums) followed, and ``anyOf`` of one type
    and null (an Optional field) read as that type."""
    reference = spec.get("$ref", "")
    if reference.startswith("#/$defs/"):
        spec = {**schema.get("$defs", {}).get(reference.removeprefix("#/$defs/"), {}), **spec}
    for choice in spec.get("anyOf", []):
        if choice.get("type") != "null":
            return {**_resolved(choice, schema), **{k: v for k, v in spec.items() if k != "anyOf"}}
    return spec
