"""The check that a value can be stored in a JSON checkpoint."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

_SCALARS = (str, int, float, bool, type(None))


def is_model(value: Any) -> bool:
    """Whether ``value`` is a pydantic model (pydantic is not imported for it: no model exists before it is)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


#: Deeper values are refused: JSON parsers (orjson, pydantic) stop at a few hundred levels.
MAX_DEPTH = 100

#: The key of a saved value's tag, where JSON has no type for it (see typed_values).
TAG = "__graflow_nb__"
#: How a saved large value (an array's ``.npy`` bytes, by its SHA-256) is read back.
BlobLoader = Callable[[str], bytes]


class BlobStore(dict[str, bytes]):
    """What encoding a value puts aside: its large arrays' ``.npy`` bytes by name (their SHA-256),
    kept beside a checkpoint; and whether the saved form differs from plain JSON of the value
    (``typed``: it has tags or model dumps, so the value in memory is not the saved data itself)."""

    typed = False


class NotJsonError(ValueError):
    """A part of a value that a JSON checkpoint cannot hold exactly: where (``path``) and ``what`` it is."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path or 'the value'}: {what}")
        self.path = path
        self.what = what


def find_non_json(value: Any) -> tuple[str, str] | None:
    """Return ``(path, what)`` of the first part of ``value`` a JSON checkpoint cannot hold exactly, else None.

    ``what`` names the type (``DataFrame``), or the type and the problem (``float NaN or infinity``,
    ``str with lone surrogates``, ``list nested deeper than 100 levels``). Accepted: str (valid
    Unicode), int, finite float, bool, None, lists and tuples, dicts with str keys, pydantic models.
    """
    try:
        json_copy(value)
    except NotJsonError as error:
        return (error.path, error.what)
    return None


def json_copy(value: Any, path: str = "", depth: int = 0) -> Any:
    """A copy of ``value`` that shares no mutable part with it; NotJsonError where a JSON checkpoint
    could not hold it exactly (see :func:`find_non_json`). Tuples stay tuples, models are deep-copied."""
    if isinstance(value, str):
        return checked_text(value, path)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise NotJsonError(path, "float NaN or infinity")
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_DEPTH:
        raise NotJsonError(path, f"{type(value).__name__} nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        return [json_copy(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(json_copy(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))
    if isinstance(value, dict):
        copied = {}
        for key, item in value.items():
            copied[checked_key(key, path)] = json_copy(item, f"{path}[{key!r}]", depth + 1)
        return copied
    if is_model(value):
        return value.model_copy(deep=True)
    raise NotJsonError(path, type(value).__name__)


def checked_text(text: str, path: str) -> str:
    """``text``, if it is valid Unicode (a checkpoint is UTF-8); else NotJsonError."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NotJsonError(path, "str with lone surrogates (undecodable bytes)") from None
    return text


def checked_key(key: Any, path: str) -> str:
    """A dict key a checkpoint can hold (valid Unicode text); else NotJsonError naming where it is."""
    if not isinstance(key, str):
        raise NotJsonError(f"{path}[{key!r}] (key)", type(key).__name__)
    return checked_text(key, f"{path}[{key!r}] (key)")


def to_json_data(value: Any) -> Any:
    """Turn pydantic models inside ``value`` into plain JSON data."""
    if isinstance(value, (list, tuple)):
        return [to_json_data(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json_data(item) for key, item in value.items()}
    if is_model(value):
        return value.model_dump(mode="json")
    return value
