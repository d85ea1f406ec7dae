"""Answering and inspecting requests from anywhere: this process, another one, the CLI."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from .._io.decision_log import RefusalLog
from .._io.store import CheckpointStore
from .._io.wake_signal import nudge_waiting_runs
from .._model.answer_checks import make_response
from .._model.checkpoint import CheckpointDocument, RequestRecord
from .._model.errors import InvalidAnswerError
from .._model.feedback import FeedbackAlreadySettledError, FeedbackResponse, already_settled
from .._model.feedback_kinds import AnswerSource
from .request_events import RequestEvents

if TYPE_CHECKING:
    from .engine import Engine


def engines_in_this_process() -> list[Engine]:
    """The engines running in this process: none unless the engine was ever imported (so answering from
    the CLI or a script does not import it, nor asyncio with it)."""
    if f"{__package__}.engine" not in sys.modules:
        return []
    from .engine import live_engines

    return list(live_engines)


def provide_feedback(
    feedback_id: str,
    *,
    approved: bool | None = None,
    reason: str | None = None,
    text: str | None = None,
    selected: str | list[str] | None = None,
    value: float | list[float] | None = None,
    data: Any = None,
    responded_by: str | None = None,
    via: AnswerSource = "api",
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> FeedbackResponse:
    """Answer a pending request by feedback id, from any process; the first valid answer wins.

    A run waiting live picks the answer up at once (same process) or within a fraction of a
    second (another process); a paused run finds it when resumed. Raises InvalidAnswerError
    when the answer does not fit, FeedbackNotFoundError for an unknown id, and
    FeedbackAlreadySettledError when someone answered first or the run has finished.
    """
    answer = {"approved": approved, "reason": reason, "text": text, "selected": selected, "value": value, "data": data}
    given = {key: item for key, item in answer.items() if item is not None}
    return _settle(feedback_id, given, via=via, responded_by=responded_by, checkpoint_dir=checkpoint_dir)


def close_feedback(
    feedback_id: str,
    *,
    reason: str | None = None,
    closed_by: str | None = None,
    via: AnswerSource = "api",
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> FeedbackResponse:
    """Close a pending request without an answer, from any process (first come, as for answers).

    The task that asked gets :class:`FeedbackClosedError` from its ``request_feedback`` call (at once
    if it waits live, when resumed if its run is paused): it may catch it and go on without the
    answer; uncaught, the run fails. Returns the closure (``closed=True``, who, when, ``reason``).
    """
    given: dict[str, Any] = {"closed": True, "reason": reason} if reason else {"closed": True}
    return _settle(feedback_id, given, via=via, responded_by=closed_by, checkpoint_dir=checkpoint_dir)


def _settle(
    feedback_id: str,
    given: dict[str, Any],
    *,
    via: AnswerSource,
    responded_by: str | None,
    checkpoint_dir: str | os.PathLike[str] | None,
) -> FeedbackResponse:
    """File an answer or a closure: through the live run that asks, if in this process, else on disk."""
    for engine in engines_in_this_process():
        record = engine.state.records.get(feedback_id)
        if record is not None and record.state == "pending":
            return engine.feedback.submit_threadsafe(feedback_id, via=via, responded_by=responded_by, **given)
    store = CheckpointStore(checkpoint_dir)
    document, record = store.find_request(feedback_id)
    return file_settlement(store, document, record, given, via=via, responded_by=responded_by)


def file_settlement(
    store: CheckpointStore,
    document: CheckpointDocument,
    record: RequestRecord,
    given: dict[str, Any],
    *,
    via: AnswerSource,
    responded_by: str | None,
) -> FeedbackResponse:
    """File an answer or a closure to a request found in the store (``store.find_request``), checked
    against what the document says of it; waiting runs are nudged."""
    feedback_id = record.feedback_id
    events = RequestEvents(store)
    refused = RefusalLog(events.log, record.request, given, via, responded_by)
    if record.response is not None:  # who answered, when, and what, whether or not the run has finished
        raise refused(already_settled(feedback_id, record.response))
    if document.status.finished:
        ended = f"its run {document.run_id} is {document.status.value}" + (
            f" ({document.reason})" if document.reason else ""
        )
        raise refused(FeedbackAlreadySettledError(feedback_id, f"{ended}; the request was closed without an answer"))
    if record.state != "pending":
        raise refused(FeedbackAlreadySettledError(feedback_id, "the request was closed: its task asked a new question"))
    try:
        response = make_response(record.request, via=via, responded_by=responded_by, **given)
    except InvalidAnswerError as error:
        raise refused(error) from None
    if not store.file_answer(response):
        raise refused(already_settled(feedback_id, store.read_answer(feedback_id)))
    nudge_waiting_runs(store.directory)
    events.answered(record.request, response, None, filed_here=True)
    return response


def pending_requests(
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> list[tuple[CheckpointDocument, RequestRecord, FeedbackResponse | None]]:
    """Every pending request of unfinished runs, with the answer already filed for it, if any."""
    store = CheckpointStore(checkpoint_dir)
    found = []
    for document in store.readable_documents():
        if document.status.finished:
            continue
        for record in document.pending:
            found.append((document, record, store.read_answer(record.feedback_id)))
    return found
