"""pandas values in the channel: Series, DataFrames and Index saved column by column as data.

A column of a NumPy dtype is saved as its array (``.npy``: exact, and a blob beside the checkpoint when
large); a categorical as its codes and categories; a time-zone-aware one as UTC nanoseconds and its
zone; any other (object, strings, nullable integers) as its values, one by one, with its dtype's name.
The index (a RangeIndex as its bounds) and the column labels are kept; a MultiIndex is refused.
Called by :mod:`.typed_values`, which hands in its ``encode`` and ``decode`` for the values inside;
pandas is imported only to read a saved pandas value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .jsonable import TAG, BlobLoader, BlobStore, NotJsonError

Encode = Callable[[Any, BlobStore, str], Any]
Decode = Callable[[Any, BlobLoader], Any]


def encode_pandas(pandas: Any, value: Any, blobs: BlobStore, path: str, encode: Encode) -> dict[str, Any]:
    """A DataFrame, Series or Index as tagged JSON data."""
    if isinstance(value, pandas.DataFrame):
        columns = [
            _encode_column(pandas, value.iloc[:, i], blobs, f"{path}[{i}]", encode) for i in range(value.shape[1])
        ]
        return {
            TAG: "dataframe",
            "index": _encode_index(pandas, value.index, blobs, f"{path}.index", encode),
            "columns": _encode_index(pandas, value.columns, blobs, f"{path}.columns", encode),
            "data": columns,
        }
    if isinstance(value, pandas.Series):
        return {
            TAG: "series",
            "name": encode(value.name, blobs, f"{path}.name"),
            "index": _encode_index(pandas, value.index, blobs, f"{path}.index", encode),
            "values": _encode_column(pandas, value, blobs, path, encode),
        }
    return {TAG: "index", **_encode_index(pandas, value, blobs, path, encode)}


def _encode_index(pandas: Any, index: Any, blobs: BlobStore, path: str, encode: Encode) -> dict[str, Any]:
    if isinstance(index, pandas.MultiIndex):
        raise NotJsonError(path, "MultiIndex (reset_index() it into columns first)")
    name = encode(index.name, blobs, f"{path}.name")
    if isinstance(index, pandas.RangeIndex):
        return {"range": [index.start, index.stop, index.step], "name": name}
    return {"values": _encode_column(pandas, pandas.Series(index, copy=False), blobs, path, encode), "name": name}


def _encode_column(pandas: Any, column: Any, blobs: BlobStore, path: str, encode: Encode) -> dict[str, Any]:
    import numpy

    dtype = column.dtype
    if isinstance(dtype, numpy.dtype) and not dtype.hasobject:
        return {"array": encode(column.to_numpy(), blobs, path)}
    if isinstance(dtype, pandas.CategoricalDtype):
        return {
            "codes": encode(numpy.asarray(column.cat.codes), blobs, f"{path}.codes"),
            "categories": _encode_index(pandas, dtype.categories, blobs, f"{path}.categories", encode),
            "ordered": bool(dtype.ordered),
        }
    if isinstance(dtype, pandas.DatetimeTZDtype):
        utc = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        return {"utc": encode(utc, blobs, path), "zone": str(dtype.tz)}
    items = [_encode_item(pandas, item, blobs, f"{path}[{i}]", encode) for i, item in enumerate(column.tolist())]
    return {"dtype": str(dtype), "items": items}


def _encode_item(pandas: Any, item: Any, blobs: BlobStore, path: str, encode: Encode) -> Any:
    if item is pandas.NA:
        return {TAG: "NA"}
    if item is pandas.NaT:
        return {TAG: "NaT"}
    return encode(item, blobs, path)


def decode_pandas(data: dict[str, Any], load_blob: BlobLoader, decode: Decode) -> Any:
    """The pandas value :func:`encode_pandas` wrote."""
    import pandas

    kind = data[TAG]
    if kind == "dataframe":
        index = _decode_index(pandas, data["index"], load_blob, decode)
        columns = _decode_index(pandas, data["columns"], load_blob, decode)
        series = [_decode_column(pandas, column, load_blob, index, decode) for column in data["data"]]
        if not series:
            return pandas.DataFrame(index=index, columns=columns)
        frame = pandas.concat(series, axis=1, ignore_index=True)
        frame.columns = columns
        return frame
    if kind == "series":
        index = _decode_index(pandas, data["index"], load_blob, decode)
        column = _decode_column(pandas, data["values"], load_blob, index, decode)
        column.name = decode(data["name"], load_blob)
        return column
    return _decode_index(pandas, data, load_blob, decode)


def _decode_index(pandas: Any, data: dict[str, Any], load_blob: BlobLoader, decode: Decode) -> Any:
    name = decode(data["name"], load_blob)
    if "range" in data:
        return pandas.RangeIndex(*data["range"], name=name)
    return pandas.Index(_decode_column(pandas, data["values"], load_blob, None, decode), name=name)


def _decode_column(pandas: Any, data: dict[str, Any], load_blob: BlobLoader, index: Any, decode: Decode) -> Any:
    if "array" in data:
        return pandas.Series(decode(data["array"], load_blob).copy(), index=index)
    if "codes" in data:
        categories = _decode_index(pandas, data["categories"], load_blob, decode)
        codes = decode(data["codes"], load_blob)
        values = pandas.Categorical.from_codes(codes, categories=categories, ordered=data["ordered"])
        return pandas.Series(values, index=index)
    if "utc" in data:
        utc = pandas.Series(decode(data["utc"], load_blob).copy(), index=index)
        return utc.dt.tz_localize("UTC").dt.tz_convert(data["zone"])
    items = [_decode_item(pandas, item, load_blob, decode) for item in data["items"]]
    return pandas.Series(
        pandas.array(items, dtype=data["dtype"]) if data["dtype"] != "object" else items,
        index=index,
        dtype=data["dtype"],
    )


def _decode_item(pandas: Any, item: Any, load_blob: BlobLoader, decode: Decode) -> Any:
    if isinstance(item, dict) and item.get(TAG) == "NA":
        return pandas.NA
    if isinstance(item, dict) and item.get(TAG) == "NaT":
        return pandas.NaT
    return decode(item, load_blob)
