"""Writing a run's checkpoint: coalesced while tasks finish, at once when asked, newest last.

Writes happen in a worker thread, one at a time; a snapshot is written only if no newer one is on
disk already (the inline watchdog may have written one from its own thread meanwhile). The first
write of a run (or of a resumed run) writes the document whole; later ones append what changed to
its journal (held open: one write per save), until the journal outgrows the document and the
document is written whole again, so the bytes written follow what changed, not the size of the channel.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from .._io.journal import JournalAppender, changes_between, journal_entry
from .._io.store import CheckpointStore
from .._model.errors import CheckpointSaveError
from .._model.notification_config import scrub_secrets
from .._model.status import RunStatus
from .channel import Channel

#: Seconds between coalesced writes while tasks finish (an engine's default).
COALESCE_SECONDS = 0.2
#: A journal is folded into a new whole document once it holds more bytes than the document, and
#: never below this size (a small document is rewritten whole every few saves).
JOURNAL_MIN_BYTES = 256 * 1024


class CheckpointWriter:
    """Saves one run's snapshots to its checkpoint file."""

    def __init__(
        self,
        store: CheckpointStore,
        path: Path,
        snapshot: Callable[[], dict[str, Any]],
        channel: Channel,
        failed: Callable[[CheckpointSaveError], None],
        interval: float,
    ) -> None:
        self._store = store
        self._path = path
        self._snapshot = snapshot  # the run as checkpoint document data but its channel, now (on the loop)
        # read as it is when written: never older than the snapshot, so nothing a completed task set is missing
        self._channel = channel
        self._blobs_written: set[str] = set()  # the large values already beside the checkpoint
        self._failed = failed  # told on the loop when a write fails
        self.interval = interval  #: seconds between coalesced writes
        self._changes = 0
        self._written_changes = -1
        self._wake = anyio.Event()
        self._write_lock = anyio.Lock()
        self._disk_lock = threading.Lock()
        self._disk_changes = -1
        # Under _disk_lock: the data on disk (document and journal), and their sizes; None: the next
        # write is a whole document
        self._on_disk: dict[str, Any] | None = None
        self._channel_on_disk = 0  # the channel's version on disk
        self._document_bytes = 0
        self._journal_bytes = 0
        self._journal: JournalAppender | None = None  # under _disk_lock: the journal held open, once appended to

    @property
    def unsaved(self) -> bool:
        """Whether a change is not yet on disk."""
        return self._changes != self._written_changes

    def mark_dirty(self) -> None:
        """Note a change that the next coalesced write must save (on the loop)."""
        self._changes += 1
        self._wake.set()

    async def write_now(self) -> Path:
        """Write the checkpoint now (in a worker thread, one write at a time, newest last)."""
        self._changes += 1  # e.g. the run's status changed
        async with self._write_lock:
            return await self._write_locked()

    async def save_changes(self) -> None:
        """Return once the state as of now is on disk: a write under way or queued may already cover it.

        Many tasks asking at once (a batch of requests) share a few writes instead of one each.
        """
        self._changes += 1
        wanted = self._changes
        async with self._write_lock:
            if self._written_changes < wanted:
                await self._write_locked()

    async def write_when_dirty(self) -> None:
        """Coalesce writes: at most one per ``interval`` while tasks finish (runs until cancelled).

        A change after a quiet ``interval`` is written at once, so a slow task's completion is on disk
        before the next task has run long (a crash then costs no finished task); changes that follow
        within the interval share one write at its end.
        """
        written_at = -self.interval
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            quiet_for = written_at + self.interval - anyio.current_time()
            if quiet_for > 0:
                await anyio.sleep(quiet_for)
            if self.unsaved:
                await self.write_now()
                written_at = anyio.current_time()

    def close(self) -> None:
        """Let go of the journal held open (when the run ends; a later save opens it again)."""
        with self._disk_lock:
            self._close_journal()

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def save_from_thread(self) -> None:
        """Save unsaved progress from another thread while the loop's thread is busy (the state is still);
        raises CheckpointSaveError."""
        changes = self._changes
        if changes != self._written_changes:
            self._write_document(self._snapshot(), changes)

    async def _write_locked(self) -> Path:
        changes = self._changes
        try:
            envelope = self._snapshot()
            return await anyio.to_thread.run_sync(self._write_document, envelope, changes)
        except CheckpointSaveError as error:
            self._failed(error)
            return self._path

    def _write_blobs(self, run_id: str, blobs: Mapping[str, bytes | None]) -> None:
        """Write the large values not yet beside the checkpoint (before the document that names them)."""
        new = {name: data for name, data in blobs.items() if name not in self._blobs_written}
        if new:
            self._store.write_blobs(run_id, new)
            self._blobs_written.update(new)

    def _write_document(self, envelope: dict[str, Any], changes: int) -> Path:
        """Write a snapshot (the large values it names first) unless a newer one is on disk already."""
        with self._disk_lock:
            if changes > self._disk_changes:
                try:
                    self._save(envelope)
                except (OSError, ValueError, TypeError, RecursionError) as error:
                    self._on_disk = None  # what reached the disk is unknown: the next write is whole
                    raise CheckpointSaveError(self._path, _save_problem(error)) from error
                self._disk_changes = changes
            self._written_changes = max(self._written_changes, changes)
        return self._path

    def _save(self, envelope: dict[str, Any]) -> None:
        """Append what changed to the journal, or write the document whole (under _disk_lock): the
        first time, when the journal has outgrown the document, and when the run stops if the
        document is small (so that most stopped runs are one file again)."""
        run_id = envelope["run_id"]
        going = envelope["status"] == RunStatus.RUNNING.value
        small = self._document_bytes + self._journal_bytes <= JOURNAL_MIN_BYTES
        if (
            self._on_disk is not None
            and self._journal_bytes <= max(JOURNAL_MIN_BYTES, self._document_bytes)
            and (going or not small)
        ):
            version, set_now, deleted, blobs = self._channel.saved_since(self._channel_on_disk)
            self._write_blobs(run_id, blobs)
            changes = changes_between(self._on_disk, envelope)
            if set_now:
                changes.setdefault("update", {})["channel"] = set_now
            if deleted:
                changes.setdefault("remove", {})["channel"] = deleted
            entry = journal_entry(changes)
            try:
                if self._journal is None:
                    self._journal = self._store.open_journal(run_id)
                # a request made or answered, or the run stopping, is synced at once; progress alone
                # reaches the disk with the next of those (or the system's writeback): a power cut may
                # cost the last tasks' progress, which run again, never a decision
                self._journal.append(entry, sync="requests" in changes or not going)
            except FileNotFoundError:  # the journal was removed: start again from a whole document (below)
                pass
            else:
                self._on_disk, self._channel_on_disk = envelope, version
                self._journal_bytes += len(entry)
                return
        self._close_journal()  # the journal is replaced or removed next
        version, saved, blobs = self._channel.saved_state()
        self._write_blobs(run_id, blobs)
        data = {**envelope, "channel": saved}
        self._document_bytes = self._store.write_data(data, journal=secrets.token_hex(8) if going else None)
        self._on_disk, self._channel_on_disk = envelope, version
        self._journal_bytes = 0


def _save_problem(error: BaseException) -> str:
    """Why a checkpoint could not be written, in a few words."""
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return scrub_secrets(f"a value cannot be encoded ({type(error).__name__}: {error})")
