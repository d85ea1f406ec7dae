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


def read_filed(store: CheckpointStore, folder: Path, wanted: list[str]) -> dict[str, FeedbackResponse]:
    try:
        present = {entry.name for entry in folder.iterdir()}
    except FileNotFoundError:
        return {}
    found = {}
    for feedback_id in wanted:
        if f"{feedback_id}.json" in present:
            response = store.read_answer(feedback_id, set_aside=True)
            if response is not None:
                found[feedback_id] = response
    return found


def read_filed_deadlines(store: CheckpointStore, wanted: list[str]) -> dict[str, FiledDeadline]:
    try:
        present = {entry.name for entry in store.deadlines_directory.iterdir()}
    except FileNotFoundError:
        return {}
    found = {}
    for feedback_id in wanted:
        if f"{feedback_id}.json" in present and (entry := read_filed_deadline(store, feedback_id)) is not None:
            found[feedback_id] = entry
    return found
