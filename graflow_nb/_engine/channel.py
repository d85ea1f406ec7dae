"""The channel: the run's shared, checkpointed key-value state (``ctx.get_channel()``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from .._model.errors import ChannelValueError
from .._util.jsonable import BlobLoader, BlobStore, NotJsonError
from .._util.typed_values import blob_names, decode, encode, typed_copy


class Channel:
    """Thread-safe key-value state shared by a run's tasks and saved in every checkpoint.

    Values are JSON data, or values saved as data and restored with their types after a resume:
    tuples, sets, dates and times, ``Decimal``, ``UUID``, ``bytes``, NumPy arrays, pandas Series and
    DataFrames (see ``_util/typed_values.py``); a pydantic model comes back as a plain dict. Large
    arrays are kept beside the checkpoint, each written once.
    """

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        self._saved: dict[str, Any] = {}  # each value as the checkpoint holds it (JSON data)
        self._blobs: dict[str, dict[str, bytes | None]] = {}  # each value's large parts (None: on disk)
        self._version = 0
        # the version of each key's last change, oldest first (a deleted key stays, absent from _saved)
        self._changed_at: dict[str, int] = {}
        for key, value in (initial or {}).items():
            self.set(key, value)

    @classmethod
    def restore(cls, saved: Mapping[str, Any], load_blob: BlobLoader) -> Channel:
        """The channel a checkpoint saved (its large values read with ``load_blob``); ValueError or
        OSError if a value cannot be read back."""
        channel = cls()
        for key, data in saved.items():
            channel._data[key] = decode(data, load_blob)
            channel._saved[key] = data
            channel._blobs[key] = dict.fromkeys(blob_names(data))
            channel._changed_at[key] = 0
        return channel

    def changes_since(self, saved: Mapping[str, Any]) -> dict[str, Any]:
        """What was set and deleted since the channel was ``saved`` (a snapshot), as JSON data:
        ``{"set": {key: saved value}, "deleted": [key, ...]}``; ChannelValueError for a value too large
        to travel as data (a large array, which a checkpoint keeps beside itself)."""
        with self._lock:
            for key, parts in self._blobs.items():
                if parts and saved.get(key) != self._saved[key]:
                    raise ChannelValueError(key, "", "a value too large to send between machines (over 64 kB)")
            changed = {key: data for key, data in self._saved.items() if saved.get(key, _MISSING) != data}
            return {"set": changed, "deleted": [key for key in saved if key not in self._saved]}

    def apply(self, changes: Mapping[str, Any]) -> None:
        """Take what :meth:`changes_since` said of another copy of this channel (a task on a worker)."""
        with self._lock:
            self._version += 1
            for key, data in changes.get("set", {}).items():
                self._data[key] = decode(data, no_large_parts)
                self._saved[key] = data
                self._blobs[key] = {}
                self._note_change(key)
            for key in changes.get("deleted", []):
                self._data.pop(key, None)
                self._saved.pop(key, None)
                self._blobs.pop(key, None)
                self._note_change(key)

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
        blobs = BlobStore()
        try:
            saved = encode(value, blobs)
        except NotJsonError as error:
            raise ChannelValueError(key, error.path, error.what) from None
        copied = typed_copy(value) if blobs.typed else saved  # plain JSON: the saved data is the copy
        with self._lock:
            self._data[key] = copied
            self._saved[key] = saved
            self._blobs[key] = dict(blobs)
            self._version += 1
            self._note_change(key)

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was there."""
        with self._lock:
            present = self._data.pop(key, _MISSING) is not _MISSING
            if present:
                self._saved.pop(key, None)
                self._blobs.pop(key, None)
                self._version += 1
                self._note_change(key)
            return present

    def _note_change(self, key: str) -> None:
        """Move ``key`` to the end of the change order at the current version (under the lock)."""
        self._changed_at.pop(key, None)
        self._changed_at[key] = self._version

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
        """The channel as its checkpoint holds it: each value as JSON data (large arrays by name)."""
        with self._lock:
            return dict(self._saved)

    def saved_state(self) -> tuple[int, dict[str, Any], dict[str, bytes | None]]:
        """At one moment: the version, :meth:`snapshot` and the large values it names (:meth:`blobs`)."""
        with self._lock:
            return self._version, dict(self._saved), self._blob_parts(self._saved)

    def saved_since(self, version: int) -> tuple[int, dict[str, Any], list[str], dict[str, bytes | None]]:
        """At one moment: the version, and what was set (as the checkpoint holds it) and deleted since
        ``version``, with the large values the set ones name; costs what changed, not the channel's size."""
        with self._lock:
            changed: list[str] = []
            for key, at in reversed(self._changed_at.items()):
                if at <= version:
                    break
                changed.append(key)
            changed.reverse()
            set_now = {key: self._saved[key] for key in changed if key in self._saved}
            deleted = [key for key in changed if key not in self._saved]
            return self._version, set_now, deleted, self._blob_parts(set_now)

    def _blob_parts(self, keys: Mapping[str, Any]) -> dict[str, bytes | None]:
        return {name: data for key in keys for name, data in self._blobs[key].items()}

    def blobs(self) -> dict[str, bytes | None]:
        """The large values the snapshot names, by name (None: already on disk)."""
        with self._lock:
            return {name: data for parts in self._blobs.values() for name, data in parts.items()}

    def __repr__(self) -> str:
        return f"Channel({self.keys()!r})"


_MISSING = object()


def no_large_parts(name: str) -> bytes:
    """The blob loader of data sent between machines (to and from Graflow's workers): none travels so."""
    raise ValueError(f"data sent between machines names a large part ({name}); none travels so")
