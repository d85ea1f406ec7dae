"""Cancelling a run that no process is running, from its checkpoint alone (``graflow-nb cancel``)."""

from __future__ import annotations

from .._io.decision_log import DecisionLog
from .._io.run_claim import RunClaim
from .._io.store import CheckpointStore
from .._model.checkpoint import CheckpointDocument
from .._model.errors import NoResumableRunError
from .._model.status import RunStatus
from .._util.clock import utc_now


def cancel_stored_run(
    store: CheckpointStore, run_id: str, *, cancelled_by: str, reason: str | None
) -> CheckpointDocument:
    """End a paused (or crashed) run as cancelled: its pending requests close unanswered, the decision log
    says who cancelled it and why, and nothing resumes it. Raises RunInUseError while a process runs it,
    NoResumableRunError if it has already ended."""
    store.check_run_exists(run_id)  # (before the claim, which makes the folder's locks)
    claim = RunClaim.acquire(store.directory, run_id)  # nobody runs it meanwhile
    try:
        document = store.load_run(run_id)
        if document.status.finished:
            raise NoResumableRunError(f"run {run_id} is already {document.status.value}; nothing to cancel")
        why = f"cancelled by {cancelled_by}" + (f": {reason}" if reason else "")
        requests = [r.model_copy(update={"state": "closed"}) if r.state == "pending" else r for r in document.requests]
        cancelled = document.model_copy(
            update={
                "status": RunStatus.CANCELLED,
                "reason": why,
                "requests": requests,
                "updated_at": utc_now(),
                "owner_pid": None,
                "owner_host": None,
            }
        )
        store.write(cancelled)
        log = DecisionLog(store.directory)
        for record in document.pending:
            if store.read_answer(record.feedback_id) is None:  # (an answer filed meanwhile is logged already)
                log.closed(record.request, why)
        return cancelled
    finally:
        claim.release()
