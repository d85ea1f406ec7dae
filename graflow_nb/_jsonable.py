"""The check that a value can be stored in a JSON checkpoint."""

from __future__ import annotations

import math
import sys
from typing import Any

_SCALARS = (str, int, float, bool, type(None))


def is_model(value: Any) -> bool:
    """Whether ``value`` is a pydantic model (pydantic is not imported for it: no model exists before it is)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


#: Deeper values are refused: JSON parsers (orjson, pydantic) stop at a few hundred levels.
MAX_DEPTH = 100


def find_non_json(value: Any, path: str = "", depth: int = 0) -> tuple[str, str] | None:
    """Return ``(path, what)`` of the first part of ``value`` a JSON checkpoint cannot hold exactly, else None.

    ``what`` names the type (``DataFrame``), or the type and the problem (``float NaN or infinity``,
    ``str with lone surrogates``, ``list nested deeper than 100 levels``). Accepted: str (valid
    Unicode), int, finite float, bool, None, lists and tuples, dicts with str keys, pydantic models.
    """
    if isinstance(value, str):
        return None if value.isascii() or _encodes(value) else (path, "str with lone surrogates (undecodable bytes)")
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, "float NaN or infinity")
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_DEPTH:
        return (path, f"{type(value).__name__} nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = find_non_json(item, f"{path}[{index}]", depth + 1)
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return (f"{path}[{key!r}] (key)", type(key).__name__)
            if not (key.isascii() or _encodes(key)):
                return (f"{path}[{key!r}] (key)", "str with lone surrogates (undecodable bytes)")
            found = find_non_json(item, f"{path}[{key!r}]", depth + 1)
            if found:
                return found
        return None
    return None if is_model(value) else (path, type(value).__name__)


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_json_data(value: Any) -> Any:
    """Turn pydantic models inside ``value`` into plain JSON data."""
    if isinstance(value, (list, tuple)):
        return [to_json_data(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json_data(item) for key, item in value.items()}
    if is_model(value):
        return value.model_dump(mode="json")
    return value
