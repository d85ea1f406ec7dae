"""``workflow("name")``: collects tasks and starts, awaits or resumes runs of them."""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ._answers_file import answer_presenters
from ._channel import Channel
from ._checkpoint import CheckpointDocument, RunStatus
from ._console import ConsolePresenter
from ._engine import Engine, FeedbackPresenter, RunState, live_engines, new_run_id, run_id_prefix
from ._exceptions import (
    CheckpointMismatchError,
    NoResumableRunError,
    RunInUseError,
    UnknownTaskError,
)
from ._graph import Flowable, TaskGraph, TaskWrapper, current_workflow, describe_differences
from ._kernel_detect import running_kernel
from ._outcome import RunOutcome
from ._store import CheckpointStore

if TYPE_CHECKING:
    from ._notebook import NotebookRun

T = TypeVar("T")


class Workflow:
    """A named graph of tasks, built inside ``with workflow("name") as wf:``."""

    def __init__(self, name: str, *, checkpoint_dir: str | os.PathLike[str] | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a workflow needs a non-empty name")
        self.name = name
        self.graph = TaskGraph()
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self._tokens: list[contextvars.Token[Workflow | None]] = []

    def __enter__(self) -> Workflow:
        self._tokens.append(current_workflow.set(self))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        current_workflow.reset(self._tokens.pop())

    def __repr__(self) -> str:
        return f"<workflow {self.name!r}: {len(self.graph.tasks)} tasks>"

    # -- building --------------------------------------------------------------------------

    def add(self, *items: Flowable) -> None:
        """Add tasks (or flows) that are not connected by ``>>`` or ``|``."""
        for item in items:
            if isinstance(item, TaskWrapper):
                self.graph.add(item)
            else:
                for wrapper in (*item.entries, *item.exits):
                    self.graph.add(wrapper)

    def add_edge(self, before: TaskWrapper[..., Any], after: TaskWrapper[..., Any]) -> None:
        """Run ``after`` once ``before`` has completed (what ``before >> after`` does)."""
        self.graph.add_edge(before, after)

    @property
    def store(self) -> CheckpointStore:
        """The checkpoint directory this workflow's runs are saved in."""
        return CheckpointStore(self.checkpoint_dir)

    def show_info(self) -> None:
        """Print the tasks and the edges between them."""
        print(f"=== Workflow '{self.name}' ===")
        for task_id, afters in self.graph.successors.items():
            print(f"{task_id} >> {', '.join(afters)}" if afters else task_id)

    # -- running ---------------------------------------------------------------------------

    async def run_async(
        self,
        *,
        channel: Mapping[str, Any] | None = None,
        start_node: str | None = None,
        resume: bool | str = False,
        presenters: Sequence[FeedbackPresenter] | None = None,
        console: bool | None = None,
        answers: str | os.PathLike[str] | None = None,
    ) -> RunOutcome:
        """Run (or, with ``resume``, continue) the workflow and return how it ended; never raises for
        a paused, cancelled or failed run.

        ``resume`` is True for the newest unfinished run, or a run id. ``presenters`` show pending
        requests to people; by default requests are announced on stderr and, when ``console`` is
        True (default: stdin is a terminal outside Jupyter), asked at the prompt. ``answers`` names an
        answers file to replay (default: ``$GRAFLOW_NB_ANSWERS``; see the README).
        """
        if presenters is None:
            presenters = [ConsolePresenter(interactive=_wants_console(console))]
        engine = self.prepare(
            channel=channel, start_node=start_node, resume=resume, presenters=presenters, answers=answers
        )
        return await engine.run()

    def prepare(
        self,
        *,
        channel: Mapping[str, Any] | None = None,
        start_node: str | None = None,
        resume: bool | str = False,
        presenters: Sequence[FeedbackPresenter] = (),
        answers: str | os.PathLike[str] | None = None,
    ) -> Engine:
        """Check the definition (or the run to resume) and build the engine that will run it.

        ``resume="auto"`` continues the newest unfinished run of this workflow when there is one that
        this definition can continue (what re-running a notebook's cells does), else starts afresh.
        """
        self.store.check_writable()
        document = self._auto_resume_document() if resume == "auto" else None
        if document is not None:
            state, graph = RunState.from_document(document), self.graph
        elif resume and resume != "auto":
            state, graph = self._state_to_resume(None if resume is True else resume)
        else:
            graph = self.graph if start_node is None else self._part_from(start_node)
            initial = Channel(channel)
            graph.check(initial.keys())
            state = RunState(workflow=self.name, run_id=new_run_id(self.name), channel=initial)
        return Engine(graph, state, self.store, [*presenters, *answer_presenters(answers)])

    async def execute_async(self, **options: Any) -> Any:
        """:meth:`run_async`, returning the result or raising WorkflowPaused/Cancelled/Failed."""
        return (await self.run_async(**options)).raise_for_status()

    def run(self, **options: Any) -> RunOutcome:
        """:meth:`run_async`, blocking until the run ends.

        In a Jupyter kernel the run is drawn as a live panel of widgets in the cell, which stay
        answerable while the cell blocks.
        """
        if running_kernel() is not None:
            options.setdefault("resume", "auto")
            if options.get("presenters") is None:
                from ._notebook import run_in_cell

                return run_in_cell(self, **options)
        return run_blocking(lambda: self.run_async(**options))

    def start(self, **options: Any) -> NotebookRun:
        """Start the run and return at once with a handle: ``await run``, ``run.result()``, ``run.pending``.

        In a Jupyter kernel the run goes on in the kernel's event loop, drawn as a live panel; elsewhere
        it runs in a background thread. Options are those of :meth:`run_async`.
        """
        from ._notebook import NotebookRun

        if running_kernel() is not None:
            options.setdefault("resume", "auto")
        return NotebookRun.start(self, **options)

    def execute(
        self,
        start_node: str | None = None,
        *,
        channel: Mapping[str, Any] | None = None,
        console: bool | None = None,
        resume: bool | str | None = None,
        answers: str | os.PathLike[str] | None = None,
    ) -> Any:
        """Run the workflow to its end and return its result (Graflow's call).

        The result is the last task's return value (a dict by task id when several tasks end the
        graph). A run that ends paused, cancelled or failed raises WorkflowPaused,
        WorkflowCancelled or WorkflowFailed, whose ``outcome`` says why and what is pending.

        In a notebook, ``execute()`` continues the newest unfinished run of the workflow (so re-running
        the cells after a kernel restart picks up where it stopped); ``resume=False`` starts afresh.
        In a script it starts a new run unless ``resume`` says otherwise.
        """
        options: dict[str, Any] = {"channel": channel, "start_node": start_node, "console": console, "answers": answers}
        if resume is not None:
            options["resume"] = resume
        return self.run(**options).raise_for_status()

    def resume(self, run_id: str | None = None, *, console: bool | None = None) -> Any:
        """Continue the newest unfinished run (or ``run_id``); returns or raises as :meth:`execute`."""
        return self.run(resume=run_id or True, console=console).raise_for_status()

    def runs(self) -> list[CheckpointDocument]:
        """This workflow's runs in its checkpoint directory, oldest first."""
        found = [d for d in self.store.readable_documents() if d.workflow == self.name]
        return sorted(found, key=lambda d: d.created_at)

    # -- resuming --------------------------------------------------------------------------

    def _newest_unfinished(self) -> CheckpointDocument | None:
        """The newest unfinished run, reading only this workflow's files, newest first, until one is found."""
        for document in self.store.newest_first(run_id_prefix(self.name)):
            if document.workflow == self.name and not document.status.finished:
                return document
        return None

    def _auto_resume_document(self) -> CheckpointDocument | None:
        """The run to continue automatically, announced on stdout; None (the reason on stderr) if none."""
        document = self._newest_unfinished()
        if document is None:
            return None
        difference = describe_differences(self.graph, document.tasks, document.edges)
        try:
            if difference:
                raise CheckpointMismatchError(difference)
            _refuse_if_live(document)
        except (CheckpointMismatchError, RunInUseError) as error:
            print(
                f"graflow_nb: starting a new run of {self.name!r}; not resuming {document.run_id}: {error}",
                file=sys.stderr,
            )
            return None
        answered = sum(1 for r in document.pending if self.store.read_answer(r.feedback_id) is not None)
        print(
            f"graflow_nb: resuming run {document.run_id} of {self.name!r} ({document.status.value}"
            + (f": {document.reason}" if document.reason else "")
            + f"; {len(document.completed)}/{len(document.tasks)} tasks done, {len(document.pending)} pending, "
            f"{answered} answered meanwhile). Start afresh with resume=False."
        )  # stdout: resuming is the expected course of things, not a warning
        return document

    def _part_from(self, start_node: str) -> TaskGraph:
        if start_node not in self.graph.tasks:
            raise UnknownTaskError(start_node, list(self.graph.tasks))
        return self.graph.downstream_of(start_node)

    def _state_to_resume(self, run_id: str | None) -> tuple[RunState, TaskGraph]:
        document = self._document_to_resume(run_id)
        difference = describe_differences(self.graph, document.tasks, document.edges)
        if difference:
            raise CheckpointMismatchError(
                f"run {document.run_id} was saved by a different definition of workflow "
                f"{self.name!r}: {difference}. Restore the old tasks, or start a new run with execute()."
            )
        _refuse_if_live(document)
        return RunState.from_document(document), self.graph

    def _document_to_resume(self, run_id: str | None) -> CheckpointDocument:
        store = self.store
        if run_id is not None:
            document = store.load_run(run_id)
            if document.workflow != self.name:
                raise NoResumableRunError(f"run {run_id} belongs to workflow {document.workflow!r}, not {self.name!r}")
            if document.status.finished:
                raise NoResumableRunError(f"run {run_id} is {document.status.value}; nothing to resume")
            return document
        newest = self._newest_unfinished()
        if newest is None:
            raise NoResumableRunError(
                f"no unfinished run of workflow {self.name!r} in {store.directory.resolve()}; start one with execute()"
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


def workflow(name: str, *, checkpoint_dir: str | os.PathLike[str] | None = None) -> Workflow:
    """A workflow to define with ``with workflow("name") as wf:`` (Graflow's call).

    Checkpoints go to ``checkpoint_dir``, else ``$GRAFLOW_NB_CHECKPOINT_DIR``, else ``./.graflow_nb``.
    """
    return Workflow(name, checkpoint_dir=checkpoint_dir)


def _wants_console(console: bool | None) -> bool:
    if console is not None:
        return console
    in_kernel = "ipykernel" in sys.modules
    try:
        return sys.stdin is not None and sys.stdin.isatty() and not in_kernel
    except (AttributeError, ValueError):
        return False


def run_blocking(start: Callable[[], Awaitable[T]]) -> T:
    """Run an async function to completion from sync code.

    Where this thread already runs an event loop (a Jupyter kernel), the run gets a thread of its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop_running = False
    else:
        loop_running = True
    if not loop_running:
        return anyio.run(start)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(anyio.run(start))
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=target, name="graflow-nb-run")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
