"""The check that a value can be stored in a JSON checkpoint."""

from __future__ import annotations

import sys
from typing import Any

_SCALARS = (str, int, float, bool, type(None))


def is_model(value: Any) -> bool:
    """Whether ``value`` is a pydantic model (pydantic is not imported for it: no model exists before it is)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


def find_non_json(value: Any, path: str = "") -> tuple[str, str] | None:
    """Return ``(path, type name)`` of the first part of ``value`` that JSON cannot hold, else None.

    Accepted: str, int, float, bool, None, lists and tuples, dicts with str keys, pydantic models.
    """
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = find_non_json(item, f"{path}[{index}]")
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return (f"{path}[{key!r}] (key)", type(key).__name__)
            found = find_non_json(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    return None if is_model(value) else (path, type(value).__name__)


def to_json_data(value: Any) -> Any:
    """Turn pydantic models inside ``value`` into plain JSON data."""
    if isinstance(value, (list, tuple)):
        return [to_json_data(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json_data(item) for key, item in value.items()}
    if is_model(value):
        return value.model_dump(mode="json")
    return value
