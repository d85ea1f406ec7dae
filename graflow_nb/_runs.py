"""From a workflow's definition to an engine ready to run: a new run, or the run to continue.

Imported by the first run, not by ``import graflow_nb``: the engine, pydantic and the checkpoint
models load only when a workflow runs.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._answers_file import answer_presenters
from ._channel import Channel
from ._checkpoint import CheckpointDocument, RunStatus
from ._engine import Engine, FeedbackPresenter, RunState, live_engines, new_run_id, run_id_prefix
from ._exceptions import CheckpointMismatchError, NoResumableRunError, RunInUseError, UnknownTaskError
from ._graph import TaskGraph, describe_differences

if TYPE_CHECKING:
    from ._workflow import Workflow


def prepare_engine(
    wf: Workflow,
    *,
    channel: Mapping[str, Any] | None,
    start_node: str | None,
    resume: bool | str,
    presenters: Sequence[FeedbackPresenter],
    answers: str | os.PathLike[str] | None,
) -> Engine:
    """Check the definition (or the run to resume) and build the engine that will run it (see ``Workflow.prepare``)."""
    store = wf.store
    store.check_writable()
    document = _auto_resume_document(wf) if resume == "auto" else None
    if document is not None:
        state, graph = RunState.from_document(document), wf.graph
    elif resume and resume != "auto":
        state, graph = _state_to_resume(wf, None if resume is True else resume)
    else:
        graph = wf.graph if start_node is None else _part_from(wf, start_node)
        initial = Channel(channel)
        graph.check(initial.keys())
        state = RunState(workflow=wf.name, run_id=new_run_id(wf.name), channel=initial)
    return Engine(graph, state, store, [*presenters, *answer_presenters(answers)])


def _newest_unfinished(wf: Workflow) -> CheckpointDocument | None:
    """The newest unfinished run, reading only this workflow's files, newest first, until one is found."""
    for document in wf.store.newest_first(run_id_prefix(wf.name)):
        if document.workflow == wf.name and not document.status.finished:
            return document
    return None


def _auto_resume_document(wf: Workflow) -> CheckpointDocument | None:
    """The run to continue automatically, announced on stdout; None (the reason on stderr) if none."""
    document = _newest_unfinished(wf)
    if document is None:
        return None
    difference = describe_differences(wf.graph, document.tasks, document.edges)
    try:
        if difference:
            raise CheckpointMismatchError(difference)
        _refuse_if_live(document)
    except (CheckpointMismatchError, RunInUseError) as error:
        print(
            f"graflow_nb: starting a new run of {wf.name!r}; not resuming {document.run_id}: {error}",
            file=sys.stderr,
        )
        return None
    answered = sum(1 for r in document.pending if wf.store.read_answer(r.feedback_id) is not None)
    print(
        f"graflow_nb: resuming run {document.run_id} of {wf.name!r} ({document.status.value}"
        + (f": {document.reason}" if document.reason else "")
        + f"; {len(document.completed)}/{len(document.tasks)} tasks done, {len(document.pending)} pending, "
        f"{answered} answered meanwhile). Start afresh with resume=False."
    )  # stdout: resuming is the expected course of things, not a warning
    return document


def _part_from(wf: Workflow, start_node: str) -> TaskGraph:
    if start_node not in wf.graph.tasks:
        raise UnknownTaskError(start_node, list(wf.graph.tasks))
    return wf.graph.downstream_of(start_node)


def _state_to_resume(wf: Workflow, run_id: str | None) -> tuple[RunState, TaskGraph]:
    document = _document_to_resume(wf, run_id)
    difference = describe_differences(wf.graph, document.tasks, document.edges)
    if difference:
        raise CheckpointMismatchError(
            f"run {document.run_id} was saved by a different definition of workflow "
            f"{wf.name!r}: {difference}. Restore the old tasks, or start a new run with execute()."
        )
    _refuse_if_live(document)
    return RunState.from_document(document), wf.graph


def _document_to_resume(wf: Workflow, run_id: str | None) -> CheckpointDocument:
    store = wf.store
    if run_id is not None:
        document = store.load_run(run_id)
        if document.workflow != wf.name:
            raise NoResumableRunError(f"run {run_id} belongs to workflow {document.workflow!r}, not {wf.name!r}")
        if document.status.finished:
            raise NoResumableRunError(f"run {run_id} is {document.status.value}; nothing to resume")
        return document
    newest = _newest_unfinished(wf)
    if newest is None:
        raise NoResumableRunError(
            f"no unfinished run of workflow {wf.name!r} in {store.directory.resolve()}; start one with execute()"
        )
    return newest


def _refuse_if_live(document: CheckpointDocument) -> None:
    """Refuse to resume a run that a live process (this one or another on this host) still executes."""
    if any(engine.run_id == document.run_id for engine in live_engines):
        raise RunInUseError(f"run {document.run_id} is running in this process")
    pid = document.owner_pid
    if document.status is not RunStatus.RUNNING or pid is None or pid == os.getpid():
        return
    if document.owner_host != socket.gethostname():
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return  # the process that ran it is gone: it crashed, so the run can be resumed
    except PermissionError:
        pass
    raise RunInUseError(f"run {document.run_id} is still running in process {pid}")
