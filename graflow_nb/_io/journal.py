"""A run's journal: what changed since its checkpoint document was last written whole.

A save that follows an earlier one appends one line to ``<run_id>.journal`` instead of rewriting the
document, so a task that sets one key of a 100 MB channel writes a few hundred bytes. Each line is
``<crc32, 8 hex digits> <JSON>``; the first names the document it continues (the document's
``journal`` token), every other holds one save's changes (:func:`changes_between`). Reading stops at
the first line that is incomplete or fails its checksum: the tail a crash cut short. A journal whose
first line names another token is stale (a newer document was written whole after it) and is ignored.
"""

from __future__ import annotations

import os
import time
import weakref
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._util import exact_json
from .._util.sequences import replaced_positions

#: A journal's first line: which document it continues.
_HEADER = "journal"
#: Keys of a change record: fields replaced whole, items appended to list fields, keys set in and
#: removed from mapping fields, and records set by feedback id in the list of requests.
_FIELDS, _APPEND, _UPDATE, _REMOVE, _REQUESTS = "fields", "append", "update", "remove", "requests"
_MISSING = object()
#: Seconds between checks that a journal held open is still the one beside its document (a check is a
#: stat of its path: as costly as opening it, so not made for every line).
LINK_CHECK_SECONDS = 1.0
#: Mappings of a document that hold counts by task (ints only).
_COUNTS = frozenset({"visits", "iterations"})


def journal_beside(document: Path) -> Path:
    """The journal that may continue the document at ``document`` (``<run_id>.journal``)."""
    return document.with_suffix(".journal")


def _line(data: Any) -> bytes:
    body = exact_json.dumps(data)
    return b"%08x %s\n" % (zlib.crc32(body), body)


def journal_start(token: str) -> bytes:
    """The first line of a journal continuing the document whose ``journal`` token is ``token``."""
    return _line({_HEADER: token})


def journal_entry(changes: Mapping[str, Any]) -> bytes:
    """One save's changes as a journal line."""
    return _line(changes)


class JournalAppender:
    """A journal held open for appending: a save is one ``write`` (not an open, a write and a close,
    each of which costs a cold process tens of microseconds, and a thread that must take the GIL back
    from a busy task up to 5 ms).

    A synced append, and any append a second or more after the last check, first checks that the
    journal's path still names the file held open: a journal removed or replaced meanwhile (by hand,
    or by a sync client: a running run's files are its own) raises FileNotFoundError, and the writer
    writes its document whole again. Until then, progress lines may have gone to the removed file: a
    crash meanwhile costs that second's progress, as a power cut may.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        #: FileNotFoundError if there is no journal to continue
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
        self._descriptor: int | None = descriptor
        self._close = weakref.finalize(self, os.close, descriptor)  # also when dropped unclosed
        self._checked_at = time.monotonic()

    def append(self, entry: bytes, *, sync: bool) -> None:
        """Append one line, synced to the disk if ``sync``. Unsynced, the line survives the process being
        killed, not a power cut."""
        descriptor = self._descriptor
        if descriptor is None:
            raise ValueError(f"{self.path.name} was closed")
        if sync or time.monotonic() - self._checked_at >= LINK_CHECK_SECONDS:
            self._check_still_there(descriptor)
        view = memoryview(entry)
        while view:
            view = view[os.write(descriptor, view) :]
        if sync:
            os.fsync(descriptor)

    def _check_still_there(self, descriptor: int) -> None:
        held, named = os.fstat(descriptor), self.path.stat()  # FileNotFoundError once removed
        if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino):
            raise FileNotFoundError(f"{self.path} was replaced")
        self._checked_at = time.monotonic()

    def close(self) -> None:
        """Let the file go (again: nothing)."""
        self._descriptor = None
        self._close()

    def __enter__(self) -> JournalAppender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def journal_entries(raw: bytes, token: str) -> Iterator[dict[str, Any]]:
    """The change records of a journal that continues the document with ``token``, in order (none when
    the journal continues another document); a damaged or incomplete line ends them."""
    lines = raw.split(b"\n")
    lines.pop()  # what follows the last newline: empty, or a line a crash cut short
    for index, line in enumerate(lines):
        record = _checked(line)
        if record is None:
            return
        if index == 0:
            if record.get(_HEADER) != token:
                return
            continue
        yield record


def _checked(line: bytes) -> dict[str, Any] | None:
    if len(line) < 10 or line[8:9] != b" ":
        return None
    try:
        checksum = int(line[:8], 16)
    except ValueError:
        return None
    body = line[9:]
    if zlib.crc32(body) != checksum:
        return None
    try:
        record = exact_json.loads(body)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What turns document data ``before`` into ``after`` (both as JSON data), for :func:`apply_entries`.

    Values are compared by identity first (a snapshot shares the unchanged values of the one before);
    a value that may have changed is written (1 and True are different here, unlike for ``==``).
    """
    fields: dict[str, Any] = {}
    appended: dict[str, list[Any]] = {}
    updated: dict[str, dict[str, Any]] = {}
    removed: dict[str, list[str]] = {}
    requests: dict[str, Any] = {}
    for name, value in after.items():
        old = before.get(name, _MISSING)
        if old is value:
            continue
        if name == "requests" and isinstance(old, list) and isinstance(value, list):
            changed = _changed_requests(old, value)
            if changed is not None:
                requests.update(changed)
                continue
        elif isinstance(old, dict) and isinstance(value, dict):
            set_here, gone = _mapping_changes(old, value, counts=name in _COUNTS)
            if set_here:
                updated[name] = set_here
            if gone:
                removed[name] = gone
            continue
        elif isinstance(old, list) and isinstance(value, list) and _starts_with(value, old):
            if len(value) > len(old):
                appended[name] = value[len(old) :]
            continue
        if not _same(old, value):
            fields[name] = value
    kinds = {_FIELDS: fields, _APPEND: appended, _UPDATE: updated, _REMOVE: removed, _REQUESTS: requests}
    return {kind: part for kind, part in kinds.items() if part}


def _same(old: Any, new: Any) -> bool:
    """Whether two JSON values are the same data (so 1, 1.0 and True differ)."""
    if old is new:
        return True
    if type(old) is not type(new):
        return False
    if isinstance(new, (list, dict)):
        return old == new and exact_json.dumps(old) == exact_json.dumps(new)
    return bool(old == new)


def _mapping_changes(old: dict[str, Any], new: dict[str, Any], *, counts: bool) -> tuple[dict[str, Any], list[str]]:
    """The keys set (with their values) and removed between two mappings."""
    if counts and len(new) >= len(old):
        # counts by task, each task's added once and counted up: usually only new keys, found at C speed
        # (exact for ints: == is enough)
        keys, values = list(new), list(new.values())
        if keys[: len(old)] == list(old) and values[: len(old)] == list(old.values()):
            return dict(zip(keys[len(old) :], values[len(old) :], strict=True)), []
    get = old.get
    set_here = {key: now for key, now in new.items() if (was := get(key, _MISSING)) is not now and not _same(was, now)}
    return set_here, [key for key in old if key not in new]


def _starts_with(longer: list[Any], shorter: list[Any]) -> bool:
    """Whether ``longer`` begins with the items of ``shorter`` (a document's lists hold names, for which
    ``==`` is exact: compared at C speed)."""
    return len(longer) >= len(shorter) and longer[: len(shorter)] == shorter


def _changed_requests(old: list[Any], new: list[Any]) -> dict[str, Any] | None:
    """The request records set or changed, by feedback id (a record converted anew is taken as changed;
    the others are found the same objects at C speed); None when one was dropped or reordered (the list
    is then written whole)."""
    if len(new) < len(old):
        return None
    changed = {}
    for index in replaced_positions(new, old):
        feedback_id = _feedback_id(new[index])
        if _feedback_id(old[index]) != feedback_id:
            return None
        changed[feedback_id] = new[index]
    for record in new[len(old) :]:
        changed[_feedback_id(record)] = record
    return changed


def _feedback_id(record: Any) -> str:
    return str(record["request"]["feedback_id"])


def apply_entries(document: dict[str, Any], entries: Iterator[Mapping[str, Any]]) -> None:
    """Replay change records onto document data parsed from its file (in place). A record that does not
    fit (a file edited by hand) raises ValueError."""
    where: dict[str, int] | None = None  # index of each request by feedback id, built when first needed
    try:
        for changes in entries:
            document.update(changes.get(_FIELDS, {}))
            if _FIELDS in changes and "requests" in changes[_FIELDS]:
                where = None
            for name, items in changes.get(_APPEND, {}).items():
                _of_type(document, name, list).extend(items)
            for name, entries_set in changes.get(_UPDATE, {}).items():
                _of_type(document, name, dict).update(entries_set)
            for name, keys in changes.get(_REMOVE, {}).items():
                mapping = _of_type(document, name, dict)
                for key in keys:
                    mapping.pop(key, None)
            records = changes.get(_REQUESTS)
            if records:
                requests = _of_type(document, "requests", list)
                if where is None:
                    where = {_feedback_id(record): index for index, record in enumerate(requests)}
                for feedback_id, record in records.items():
                    if feedback_id in where:
                        requests[where[feedback_id]] = record
                    else:
                        where[feedback_id] = len(requests)
                        requests.append(record)
    except (TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"a journal entry does not fit its document ({type(error).__name__}: {error})") from None


def _of_type(document: dict[str, Any], name: str, kind: type) -> Any:
    value = document.setdefault(name, kind())
    if not isinstance(value, kind):
        raise TypeError(f"{name} is not a {kind.__name__}")
    return value
