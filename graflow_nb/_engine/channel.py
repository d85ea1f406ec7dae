"""The channel: the run's shared, checkpointed key-value state (``ctx.get_channel()``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from .._model.errors import ChannelValueError
from .._util.jsonable import NotJsonError, json_copy


class Channel:
    """Thread-safe key-value state shared by a run's tasks and saved in every checkpoint.

    Values must be JSON-compatible or pydantic models; a pydantic model comes back as a plain
    dict after the run is resumed from a checkpoint.
    """

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        self._version = 0
        for key, value in (initial or {}).items():
            self.set(key, value)

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` when it is not set."""
        with self._lock:
            return self._data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Store a copy of ``value`` under ``key``; raise ChannelValueError if it cannot be saved as JSON.

        A copy: changing ``value`` afterwards changes nothing here (``set`` it again to keep a change), so
        what a checkpoint saves is what was set.
        """
        if not isinstance(key, str):
            raise ChannelValueError(repr(key), "", f"{type(key).__name__} (keys must be str)")
        try:
            copied = json_copy(value)
        except NotJsonError as error:
            raise ChannelValueError(key, error.path, error.what) from None
        with self._lock:
            self._data[key] = copied
            self._version += 1

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was there."""
        with self._lock:
            present = self._data.pop(key, _MISSING) is not _MISSING
            if present:
                self._version += 1
            return present

    def keys(self) -> list[str]:
        """The keys currently set, in insertion order."""
        with self._lock:
            return list(self._data)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    @property
    def version(self) -> int:
        """A counter that grows with every change, to tell whether a checkpoint is stale."""
        return self._version

    def snapshot(self) -> dict[str, Any]:
        """A shallow copy of the channel's items (values are JSON data or pydantic models)."""
        with self._lock:
            return dict(self._data)

    def __repr__(self) -> str:
        return f"Channel({self.keys()!r})"


_MISSING = object()
