"""From a workflow's definition to an engine ready to run: a new run, or the run to continue.

Imported by the first run, not by ``import graflow_nb``: the engine, pydantic and the checkpoint
models load only when a workflow runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .._definition.graph import TaskGraph, defined_tasks, describe_differences
from .._engine.channel import Channel
from .._engine.engine import Engine
from .._engine.presenting import FeedbackPresenter
from .._engine.state import RunState, new_run_id, run_id_prefix
from .._io.run_claim import RunClaim
from .._model.errors import (
    CheckpointMismatchError,
    CorruptCheckpointError,
    NoResumableRunError,
    RunInUseError,
    UnknownTaskError,
)
from .._model.status import Resume, RunStatus
from .._util.environment import ANSWERS_ENV

if TYPE_CHECKING:
    from .._engine.remote_tasks import RemoteTasks
    from .._io.store import CheckpointStore
    from .._model.checkpoint import CheckpointDocument


class Definition(Protocol):
    """What preparing a run needs of its workflow: its name, graph, and checkpoint folder."""

    @property
    def name(self) -> str: ...
    @property
    def graph(self) -> TaskGraph: ...
    @property
    def store(self) -> CheckpointStore: ...


def prepare_engine(
    wf: Definition,
    *,
    channel: Mapping[str, Any] | None,
    start_node: str | None,
    resume: Resume,
    run_id: str | None = None,
    presenters: Sequence[FeedbackPresenter],
    answers: str | os.PathLike[str] | None,
    max_steps: int | None = None,
    redis: str | None = None,
) -> Engine:
    """Check the definition (or the run to resume) and build the engine that will run it (see ``Workflow.prepare``).

    The engine holds its run's claim (see _run_claim) from here on: nobody else can run that run
    until this engine has ended (or been dropped unrun).
    """
    store = wf.store
    store.check_writable()
    given = [name for name, value in (("channel", channel), ("start_node", start_node)) if value is not None]
    if run_id is not None and given:
        raise TypeError(f"run {run_id} is resumed as it was saved: {' and '.join(given)} cannot be given with run_id")
    if resume == "auto" and given:  # the run would ignore them: start afresh, and say so
        unfinished = _newest_unfinished(wf)
        if unfinished is not None:
            print(
                f"graflow_nb: starting a new run of {wf.name!r} with the {' and '.join(given)} given; not resuming "
                f"{unfinished.run_id} (continue that one with wf.resume({unfinished.run_id!r}))",
                file=sys.stderr,
            )
        resume = False
    claimed = _auto_resume_document(wf) if resume == "auto" and run_id is None else None
    if claimed is not None:
        document, claim = claimed
        state, graph = _restored(wf, document, claim), _run_graph(wf, document)
    elif run_id is not None or resume is True:
        state, graph, claim = _state_to_resume(wf, run_id)
    else:
        graph = wf.graph.copy() if start_node is None else _part_from(wf, start_node)  # a run adds tasks to its own
        initial = Channel(channel)
        graph.check(initial.keys())
        state = RunState(workflow=wf.name, run_id=new_run_id(wf.name), channel=initial)
        claim = RunClaim.acquire(store.directory, state.run_id)
    if max_steps is not None:  # given again on resume, it replaces the saved limit
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            claim.release()
            raise ValueError(f"max_steps must be a positive whole number of task executions, not {max_steps!r}")
        state.max_steps = max_steps
    shown_by = [*presenters, *_answer_presenters(answers)]
    workers_url = redis or os.environ.get("GRAFLOW_NB_REDIS") or None
    if workers_url is None:
        return Engine(graph, state, store, shown_by, claim=claim)
    try:
        remote, store, mirror = _on_graflow_workers(workers_url, graph, store)
    except BaseException:
        claim.release()
        raise
    return Engine(graph, state, store, [*shown_by, mirror], claim=claim, remote=remote)


def _on_graflow_workers(
    url: str, graph: TaskGraph, store: CheckpointStore
) -> tuple[RemoteTasks, CheckpointStore, FeedbackPresenter]:
    """What runs a run's tasks on Graflow's workers: the tasks sent there, the requests kept in Redis
    (answerable there) and the answers arbitrated by it."""
    from .._engine.remote_tasks import RemoteTasks
    from .._frontends.graflow_mirror import GraflowRedisMirror
    from .._io.graflow_redis import GraflowRedisRequests
    from .._io.redis_store import RedisArbitratedStore

    remote = RemoteTasks(url, graph)  # a Redis that cannot be reached, or no Graflow, raises here
    requests = GraflowRedisRequests(url)
    return remote, RedisArbitratedStore(store.directory, requests), GraflowRedisMirror(requests)


def _answer_presenters(answers: str | os.PathLike[str] | None) -> list[FeedbackPresenter]:
    """The presenters an answers file calls for (see ``answers_file.answer_presenters``); that module,
    and pydantic with it, loads only when a file may be named: ``use_answers()`` imports it."""
    if answers is None and not os.environ.get(ANSWERS_ENV) and _ANSWERS_FILE not in sys.modules:
        return []
    from .._frontends.answers_file import answer_presenters

    return answer_presenters(answers)


_ANSWERS_FILE = "graflow_nb._frontends.answers_file"


def _newest_unfinished(wf: Definition) -> CheckpointDocument | None:
    """The newest unfinished run, reading only this workflow's files, newest first, until one is found
    (a finished run's file is skipped after its first bytes)."""
    for document in wf.store.newest_unfinished_first(run_id_prefix(wf.name)):
        if document.workflow == wf.name and not document.status.finished:
            return document
    return None


def _claim(wf: Definition, document: CheckpointDocument) -> tuple[CheckpointDocument, RunClaim]:
    """Claim the run, then read it again: another process may have run it on while we looked."""
    try:
        claim = RunClaim.acquire(wf.store.directory, document.run_id)
    except RunInUseError:
        if document.status is RunStatus.RUNNING and document.owner_pid is not None:
            raise RunInUseError(
                f"run {document.run_id} is still running in process {document.owner_pid}; wait until it pauses or ends"
            ) from None
        raise
    try:
        current = wf.store.load_run(document.run_id)
    except BaseException:
        claim.release()
        raise
    if current.status.finished:
        claim.release()
        raise NoResumableRunError(f"run {document.run_id} was {current.status.value} meanwhile; nothing to resume")
    return current, claim


def _auto_resume_document(wf: Definition) -> tuple[CheckpointDocument, RunClaim] | None:
    """The run to continue automatically (claimed), announced on stdout; None (the reason on stderr) if none."""
    document = _newest_unfinished(wf)
    if document is None:
        return None
    try:
        difference = describe_differences(_run_graph(wf, document), document.tasks, document.edges)
        if difference:
            raise CheckpointMismatchError(difference)
        document, claim = _claim(wf, document)
    except (CheckpointMismatchError, RunInUseError, NoResumableRunError) as error:
        print(
            f"graflow_nb: starting a new run of {wf.name!r}; not resuming {document.run_id}: {error}",
            file=sys.stderr,
        )
        return None
    _announce_resume(wf, document, "Start afresh with resume=False.")
    return document, claim


def _announce_resume(wf: Definition, document: CheckpointDocument, advice: str) -> None:
    """Say which run goes on, how far it got and what was answered meanwhile (stdout: the expected course)."""
    answered = sum(1 for r in document.pending if wf.store.read_answer(r.feedback_id) is not None)
    print(
        f"graflow_nb: resuming run {document.run_id} of {wf.name!r} ({document.status.value}"
        + (f": {document.reason}" if document.reason else "")
        + f"; {len(document.completed)}/{len(document.tasks)} tasks done, {len(document.pending)} pending, "
        f"{answered} answered meanwhile). {advice}".rstrip()
    )


def _part_from(wf: Definition, start_node: str) -> TaskGraph:
    if start_node not in wf.graph.tasks:
        raise UnknownTaskError(start_node, list(wf.graph.tasks))
    return wf.graph.downstream_of(start_node)


def _state_to_resume(wf: Definition, run_id: str | None) -> tuple[RunState, TaskGraph, RunClaim]:
    document = _document_to_resume(wf, run_id)
    difference = describe_differences(_run_graph(wf, document), document.tasks, document.edges)
    if difference:
        raise CheckpointMismatchError(
            f"run {document.run_id} was saved by a different definition of workflow "
            f"{wf.name!r}: {difference}. Restore the old tasks, or start a new run with execute()."
        )
    document, claim = _claim(wf, document)
    if run_id is None:  # the newest unfinished run: say which (a run named by id needs no saying)
        _announce_resume(wf, document, "(The newest unfinished run; name another with run_id=RUN_ID.)")
    try:
        graph = _run_graph(wf, document)  # (read again once claimed: it may have gone on meanwhile)
    except CheckpointMismatchError:
        claim.release()
        raise
    return _restored(wf, document, claim), graph, claim


def _run_graph(wf: Definition, document: CheckpointDocument) -> TaskGraph:
    """The graph a saved run runs: the workflow's, with the tasks ``ctx.next_task(...)`` added to it."""
    graph = wf.graph.copy()
    for task_id, after in document.added:
        added = defined_tasks.get(task_id)
        if added is None or after not in graph.tasks:
            raise CheckpointMismatchError(
                f"run {document.run_id} added task {task_id!r} while it ran (ctx.next_task), and no task "
                f"{task_id!r} is defined now: run the cell (or import the module) that defines it, then resume"
            )
        graph.add_edge(graph.tasks[after], added)
    return graph


def _restored(wf: Definition, document: CheckpointDocument, claim: RunClaim) -> RunState:
    """The run's state as its checkpoint saved it, its large channel values read back from beside it."""
    try:
        return RunState.from_document(document, wf.store.blob_loader(document.run_id))
    except (OSError, ValueError, KeyError, TypeError) as error:
        claim.release()
        detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise CorruptCheckpointError(
            wf.store.run_path(document.run_id), f"a channel value cannot be read back ({detail})"
        ) from None


def _document_to_resume(wf: Definition, run_id: str | None) -> CheckpointDocument:
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
