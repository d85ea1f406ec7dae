"""The answers and deadlines filed in the checkpoint folder, read and written for a run's broker
(in worker threads: these touch the disk)."""

from __future__ import annotations

from pathlib import Path

from .._io.store import CheckpointStore
from .._model.feedback import FeedbackResponse
from .deadlines import FiledDeadline, read_filed_deadline


def file_first(store: CheckpointStore, response: FeedbackResponse) -> tuple[bool, FeedbackResponse | None]:
    """File the answer unless one is filed already: ``(True, None)``, or ``(False, the first answer)``."""
    if store.file_answer(response):
        return True, None
    return False, store.read_answer(response.feedback_id)


def filed_ids(store: CheckpointStore) -> tuple[set[str], set[str]]:
    """The feedback ids with an answer filed, and those with a deadline filed (names only: a poll's
    cost follows what is on disk, not how many requests wait)."""
    return _ids_in(store.answers_directory), _ids_in(store.deadlines_directory)


def _ids_in(folder: Path) -> set[str]:
    try:
        return {entry.name[: -len(".json")] for entry in folder.iterdir() if entry.name.endswith(".json")}
    except FileNotFoundError:
        return set()


def read_filed(store: CheckpointStore, wanted: list[str]) -> dict[str, FeedbackResponse]:
    """The answers filed for ``wanted`` (one set aside as unreadable is left out)."""
    found = {}
    for feedback_id in wanted:
        response = store.read_answer(feedback_id, set_aside=True)
        if response is not None:
            found[feedback_id] = response
    return found


def read_filed_deadlines(store: CheckpointStore, wanted: list[str]) -> dict[str, FiledDeadline]:
    """The deadlines filed for ``wanted``."""
    found = {}
    for feedback_id in wanted:
        if (entry := read_filed_deadline(store, feedback_id)) is not None:
            found[feedback_id] = entry
    return found
