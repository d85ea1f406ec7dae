"""Channel values beyond JSON data, saved as data (never a pickle) and restored with their types.

A value is written as JSON; what JSON has no type for is a tagged object ``{"__graflow_nb__": kind, ...}``:
tuples, sets, ``datetime``/``date``/``time``/``timedelta``, ``Decimal``, ``UUID``, ``bytes``, NaN and
infinities, NumPy arrays and scalars (as ``.npy`` bytes, read back with ``allow_pickle=False``), pandas
Series, DataFrames and Index (column by column: dtypes, categories, time zones and the index kept). An
array's ``.npy`` bytes larger than :data:`INLINE_LIMIT` are a *blob*, kept beside the checkpoint under
their SHA-256 and written once. Anything else raises :class:`NotJsonError` naming the type.
NumPy and pandas are never imported here: a value can only be one of theirs if they are loaded.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import io
import math
import sys
import uuid
from collections.abc import Callable
from typing import Any

from . import typed_frames
from .jsonable import MAX_DEPTH, TAG, BlobLoader, BlobStore, NotJsonError, checked_key, checked_text, is_model

#: Arrays whose ``.npy`` bytes are larger than this go beside the document, not inside it.
INLINE_LIMIT = 64 * 1024


def encode(value: Any, blobs: BlobStore, path: str = "", depth: int = 0) -> Any:
    """``value`` as JSON data (large arrays put in ``blobs``, which also notes whether anything needed a
    tag); NotJsonError for what cannot be saved."""
    saved = _encode(value, blobs, path, depth)
    if isinstance(saved, dict) and TAG in saved:
        blobs.typed = True
    return saved


def _encode(value: Any, blobs: BlobStore, path: str, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        return {TAG: "numpy", "npy": _b64(_npy_bytes(numpy, numpy.asarray(value), path))}
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {TAG: "float", "value": repr(float(value))}
    if isinstance(value, str):
        return checked_text(value, path)
    if isinstance(value, (list, tuple, set, frozenset, dict)) and depth >= MAX_DEPTH:
        raise NotJsonError(path, f"{type(value).__name__} nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        return [encode(item, blobs, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    if isinstance(value, dict):
        items = {}
        for key, item in value.items():
            items[checked_key(key, path)] = encode(item, blobs, f"{path}[{key!r}]", depth + 1)
        return {TAG: "dict", "items": items} if TAG in items else items
    if isinstance(value, (tuple, set, frozenset)):
        kinds = {tuple: "tuple", set: "set", frozenset: "frozenset"}
        kind = "tuple" if isinstance(value, tuple) else kinds.get(type(value))  # a named tuple is a tuple
        if kind is None:
            raise NotJsonError(path, type(value).__name__)
        return {TAG: kind, "items": [encode(item, blobs, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]}
    if is_model(value):
        blobs.typed = True  # a model in memory, a dict on disk
        return value.model_dump(mode="json")
    scalar = _encode_scalar(value)
    if scalar is not None:
        return scalar
    if numpy is not None and isinstance(value, numpy.ndarray):
        return _encode_array(numpy, value, blobs, path)
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series, pandas.Index)):
        return typed_frames.encode_pandas(pandas, value, blobs, path, encode)
    raise NotJsonError(path, type(value).__name__)


def _encode_scalar(value: Any) -> dict[str, Any] | None:
    """The tagged form of a standard-library value JSON has no type for, or None."""
    if isinstance(value, dt.datetime):
        zone = getattr(value.tzinfo, "key", None)  # a zoneinfo.ZoneInfo keeps its name, not just the offset
        return {TAG: "datetime", "iso": value.isoformat(), **({"zone": zone} if zone else {})}
    if isinstance(value, dt.date):
        return {TAG: "date", "iso": value.isoformat()}
    if isinstance(value, dt.time):
        return {TAG: "time", "iso": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {TAG: "timedelta", "microseconds": value // dt.timedelta(microseconds=1)}
    if isinstance(value, decimal.Decimal):
        return {TAG: "decimal", "value": str(value)}
    if isinstance(value, uuid.UUID):
        return {TAG: "uuid", "value": str(value)}
    if isinstance(value, (bytes, bytearray)):
        return {TAG: type(value).__name__ if type(value) in (bytes, bytearray) else "bytes", "base64": _b64(value)}
    return None


def _encode_array(numpy: Any, array: Any, blobs: BlobStore, path: str) -> dict[str, Any]:
    data = _npy_bytes(numpy, array, path)
    if len(data) <= INLINE_LIMIT:
        return {TAG: "ndarray", "npy": _b64(data)}
    digest = hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {TAG: "ndarray", "blob": digest, "dtype": str(array.dtype), "shape": list(array.shape)}


def _npy_bytes(numpy: Any, array: Any, path: str) -> bytes:
    if array.dtype.hasobject:
        raise NotJsonError(path, "ndarray of Python objects (dtype object): give it a NumPy dtype")
    buffer = io.BytesIO()
    numpy.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def decode(data: Any, load_blob: BlobLoader) -> Any:
    """The value :func:`encode` wrote, with its type; ValueError for data no encoder wrote."""
    if isinstance(data, list):
        return [decode(item, load_blob) for item in data]
    if not isinstance(data, dict):
        return data
    kind = data.get(TAG)
    if kind is None:
        return {key: decode(item, load_blob) for key, item in data.items()}
    if kind == "dict":
        return {key: decode(item, load_blob) for key, item in data["items"].items()}
    if kind in ("tuple", "set", "frozenset"):
        items = [decode(item, load_blob) for item in data["items"]]
        return {"tuple": tuple, "set": set, "frozenset": frozenset}[kind](items)
    decoder = _DECODERS.get(kind)
    if decoder is not None:
        return decoder(data)
    if kind in ("ndarray", "numpy"):
        return _decode_array(data, load_blob, scalar=kind == "numpy")
    if kind in ("series", "dataframe", "index"):
        return typed_frames.decode_pandas(data, load_blob, decode)
    raise ValueError(f"unknown saved value kind {kind!r}")


def _datetime(data: dict[str, Any]) -> dt.datetime:
    value = dt.datetime.fromisoformat(data["iso"])
    if "zone" in data:
        from zoneinfo import ZoneInfo

        value = value.astimezone(ZoneInfo(data["zone"]))
    return value


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "float": lambda data: float(data["value"]),
    "datetime": _datetime,
    "date": lambda data: dt.date.fromisoformat(data["iso"]),
    "time": lambda data: dt.time.fromisoformat(data["iso"]),
    "timedelta": lambda data: dt.timedelta(microseconds=data["microseconds"]),
    "decimal": lambda data: decimal.Decimal(data["value"]),
    "uuid": lambda data: uuid.UUID(data["value"]),
    "bytes": lambda data: base64.b64decode(data["base64"]),
    "bytearray": lambda data: bytearray(base64.b64decode(data["base64"])),
}


def _decode_array(data: dict[str, Any], load_blob: BlobLoader, *, scalar: bool) -> Any:
    import numpy

    raw = base64.b64decode(data["npy"]) if "npy" in data else load_blob(data["blob"])
    array = numpy.load(io.BytesIO(raw), allow_pickle=False)
    if scalar:
        return array[()]
    array.flags.writeable = False  # what the channel holds changes only through set()
    return array


def typed_copy(value: Any) -> Any:
    """A copy of an encodable value that shares no mutable part with it (arrays come back read-only)."""
    if isinstance(value, list):
        return [typed_copy(item) for item in value]
    if isinstance(value, dict):
        return {key: typed_copy(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(typed_copy(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(typed_copy(item) for item in value)
    if isinstance(value, bytearray):
        return bytearray(value)
    if is_model(value):
        return value.model_copy(deep=True)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        copied = value.copy()
        copied.flags.writeable = False
        return copied
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series)):
        return value.copy(deep=True)
    return value  # immutable: str, numbers, datetimes, Decimal, UUID, bytes, NumPy scalars, pandas Index


def blob_names(data: Any) -> list[str]:
    """The blobs an encoded value refers to."""
    if isinstance(data, list):
        return [name for item in data for name in blob_names(item)]
    if isinstance(data, dict):
        own = [data["blob"]] if data.get(TAG) == "ndarray" and "blob" in data else []
        return own + [name for item in data.values() if isinstance(item, (dict, list)) for name in blob_names(item)]
    return []


def _b64(raw: bytes | bytearray) -> str:
    return base64.b64encode(bytes(raw)).decode("ascii")
