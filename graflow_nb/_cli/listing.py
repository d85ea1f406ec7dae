"""``graflow-nb list`` and ``graflow-nb show``: the runs of a checkpoint folder, their pending requests
(in the workflow's order of tasks), and one request or one run in full."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from .._io.store import CheckpointStore
from .._model.checkpoint_format import FEEDBACK_ID_PATTERN, checkpoint_folders_beside
from .._model.errors import CheckpointError
from .._model.status import RunStatus
from .exits import EXIT_OK

if TYPE_CHECKING:  # each command imports what it needs: a command's time is mostly imports
    from .._model.checkpoint import CheckpointDocument, RequestRecord
    from .._model.feedback import FeedbackResponse


def list_runs(store: CheckpointStore) -> int:
    """Print each run, and under an unfinished one its pending requests."""
    from .._io.hints import cli_program, plain_prompt

    documents = list(store.documents())
    if not documents:
        print(f"no runs in {store.directory}" + checkpoint_folders_beside(store.directory))
        return EXIT_OK
    pending = 0
    for path, document in documents:
        if isinstance(document, CheckpointError):
            print(f"{path.name}: UNREADABLE: {document}")
            continue
        print(
            f"{document.run_id}  {document.workflow}  {_status_of(document)}"
            f"  {len(document.completed)}/{len(document.tasks)} tasks done"
            f"  updated {document.updated_at.astimezone():%Y-%m-%d %H:%M:%S %Z}"
            + (f"  ({document.reason})" if document.reason else "")
        )
        if not document.status.finished:
            for record in document.pending:
                pending += 1
                filed = store.read_answer(record.feedback_id)
                note = f"  [{_filed_note(filed)}, applied on resume]" if filed else ""
                if record.deadline is not None and not filed and document.status.value == "running":
                    note = f"  [times out {record.deadline.astimezone():%H:%M:%S %Z}]"
                print(
                    f"  {record.feedback_id}  {record.request.feedback_type.value}"
                    f"  {record.request.task_id}: {plain_prompt(record.request.prompt)}{note}"
                )
    if pending:
        program, folder = shlex.join(cli_program()), shlex.quote(str(store.directory.resolve()))
        print(f"\nanswer with: {program} answer FEEDBACK_ID --approve --dir {folder}")
        print("  (or --reject, --text T, --select O, --value N, --json J; --run RUN_ID for all of a run's requests)")
        print(f"ready-made commands for one request: {program} show FEEDBACK_ID --dir {folder}")
    return EXIT_OK


def _status_of(document: CheckpointDocument) -> str:
    """A run's status, and for a running one whose process is gone (killed, crashed), that it is."""
    from .._io.run_claim import owner_alive

    if document.status is RunStatus.RUNNING and not owner_alive(document):
        return f"running, but its process ({document.owner_pid}) is gone: resume it to go on"
    return document.status.value


def _filed_note(filed: FeedbackResponse) -> str:
    if filed.closed:
        return f"closed by {filed.responded_by}" + (f": {filed.reason}" if filed.reason else "")
    return f"answered by {filed.responded_by}: {filed.summary()}"


def show(store: CheckpointStore, which: str) -> int:
    """Print one request (by feedback id) or one run (by run id) in full, as JSON."""
    if FEEDBACK_ID_PATTERN.fullmatch(which) or not store.run_path(which).is_file():
        document, record = store.find_request(which)
        print(json.dumps(_describe(document, record, store), indent=2, default=str))
        return EXIT_OK
    document = store.load_run(which)
    described = {
        "run": _run_summary(document),
        "tasks": {
            "done": list(document.completed),
            "not done": [task_id for task_id in document.tasks if task_id not in set(document.completed)],
        },
        "requests": [
            {key: value for key, value in _describe(document, record, store).items() if key != "run"}
            for record in _in_task_order(document)
        ],
    }
    print(json.dumps(described, indent=2, default=str))
    return EXIT_OK


def _in_task_order(document: CheckpointDocument) -> list[RequestRecord]:
    from .._model.task_order import in_task_order

    return in_task_order(document.requests, document.tasks, lambda record: record.request)


def _run_summary(document: CheckpointDocument) -> dict[str, Any]:
    return {
        "run_id": document.run_id,
        "workflow": document.workflow,
        "status": _status_of(document),
        "reason": document.reason,
        "updated_at": document.updated_at.isoformat(),
    }


def _describe(document: CheckpointDocument, record: RequestRecord, store: CheckpointStore) -> dict[str, Any]:
    from .._io.hints import cli_commands

    filed = store.read_answer(record.feedback_id)
    response = record.response or filed
    return {
        "run": {"run_id": document.run_id, "workflow": document.workflow, "status": document.status.value},
        "request": record.request.model_dump(mode="json", exclude_none=True),
        "state": ("closed" if response.closed else "answered") if response else record.state,
        "deadline": record.deadline.isoformat() if record.deadline and not response else None,
        "response": response.model_dump(mode="json", exclude_none=True) if response else None,
        "answer_with": None if response or document.status.finished else cli_commands(record.request, store.directory),
    }
