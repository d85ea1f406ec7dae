"""``workflow("name")``: collects tasks and starts, awaits or resumes runs of them."""

from __future__ import annotations

import contextvars
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from typing_extensions import Unpack

from .._definition.graph import Flowable, TaskGraph, TaskWrapper, current_graph
from .._engine.run_options import RunOptions
from .._frontends.script_ending import SavedRunInterrupt, end_scripts_in_one_message
from .._model.errors import BlockingCallError, NestedRunError
from .._model.status import Resume
from .._util.blocking import run_blocking
from .._util.environment import in_voila, running_kernel, widgets_available

if TYPE_CHECKING:
    from .._engine.engine import Engine
    from .._engine.presenting import FeedbackPresenter
    from .._engine.run_handle import RunHandle
    from .._io.store import CheckpointStore
    from .._model.checkpoint import CheckpointDocument
    from .._model.outcome import RunOutcome

T = TypeVar("T")


class Workflow:
    """A named graph of tasks, built inside ``with workflow("name") as wf:``."""

    def __init__(self, name: str, *, checkpoint_dir: str | os.PathLike[str] | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a workflow needs a non-empty name")
        self.name = name
        self.graph = TaskGraph()
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self._tokens: list[contextvars.Token[TaskGraph | None]] = []
        #: The handle of this workflow's latest run started in this kernel (``wf.start()`` or a blocking
        #: ``wf.execute()``); it follows a paused run resumed from its panel: ``wf.last_run.result()``.
        self.last_run: RunHandle | None = None

    def __enter__(self) -> Workflow:
        self._tokens.append(current_graph.set(self.graph))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        current_graph.reset(self._tokens.pop())

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
        from .._io.store import CheckpointStore

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
        resume: Resume = False,
        run_id: str | None = None,
        presenters: Sequence[FeedbackPresenter] | None = None,
        console: bool | None = None,
        answers: str | os.PathLike[str] | None = None,
        max_steps: int | None = None,
        redis: str | None = None,
    ) -> RunOutcome:
        """Run (or, with ``resume``, continue) the workflow and return how it ended; never raises for
        a paused, cancelled or failed run.

        ``resume`` is True for the newest unfinished run, ``"auto"`` for it if this definition can
        continue it (else a new run); ``run_id`` names the run to continue. ``presenters`` show pending
        requests to people; by default requests are announced on stderr and, when ``console`` is
        True (default: stdin is a terminal outside Jupyter), asked at the prompt. ``answers`` names an
        answers file to replay (default: ``$GRAFLOW_NB_ANSWERS``; see the README). ``max_steps`` bounds
        the task executions a run may complete (a loop that does not end then fails). ``redis`` (default:
        ``$GRAFLOW_NB_REDIS``) runs the tasks on Graflow's workers fed by that Redis (see the README).
        """
        engine = self._prepare_engine(
            channel=channel,
            start_node=start_node,
            resume=resume,
            run_id=run_id,
            presenters=presenters,
            console=console,
            answers=answers,
            max_steps=max_steps,
            redis=redis,
        )
        return await engine.run()

    def _prepare_engine(self, **options: Unpack[RunOptions]) -> Engine:
        """Check the definition (or the run to resume) and build the engine that will run it.

        Every way of running goes through here, so an option is never dropped and a misspelled one is a
        TypeError; errors found before any task runs are raised to the caller. ``presenters=None`` shows
        requests on the console (asked at its prompt when ``console`` says so).
        """
        from .runs import prepare_engine  # the engine and checkpoints load with the first run, not on import

        presenters = options.get("presenters")
        if presenters is None:
            from .._frontends.console import ConsolePresenter

            presenters = [ConsolePresenter(interactive=_wants_console(options.get("console")))]
        resume, run_id = _which_run(options.get("resume", False), options.get("run_id"))
        engine = prepare_engine(
            self,
            channel=options.get("channel"),
            start_node=options.get("start_node"),
            resume=resume,
            run_id=run_id,
            presenters=presenters,
            answers=options.get("answers"),
            max_steps=options.get("max_steps"),
            redis=options.get("redis"),
        )
        if running_kernel() is not None:
            from .._frontends.notebook.unattended import nobody_watching

            engine.unattended = nobody_watching()
        return engine

    async def execute_async(
        self,
        *,
        channel: Mapping[str, Any] | None = None,
        start_node: str | None = None,
        resume: Resume = False,
        run_id: str | None = None,
        presenters: Sequence[FeedbackPresenter] | None = None,
        console: bool | None = None,
        answers: str | os.PathLike[str] | None = None,
        max_steps: int | None = None,
        redis: str | None = None,
    ) -> Any:
        """:meth:`run_async`, returning the result or raising WorkflowPaused/Cancelled/Failed."""
        outcome = await self.run_async(
            channel=channel,
            start_node=start_node,
            resume=resume,
            run_id=run_id,
            presenters=presenters,
            console=console,
            answers=answers,
            max_steps=max_steps,
            redis=redis,
        )
        return outcome.raise_for_status()

    def run(
        self,
        *,
        channel: Mapping[str, Any] | None = None,
        start_node: str | None = None,
        resume: Resume | None = None,
        run_id: str | None = None,
        presenters: Sequence[FeedbackPresenter] | None = None,
        console: bool | None = None,
        answers: str | os.PathLike[str] | None = None,
        max_steps: int | None = None,
        redis: str | None = None,
    ) -> RunOutcome:
        """:meth:`run_async`, blocking until the run ends.

        In a Jupyter kernel the run is drawn as a live panel of widgets in the cell, which stay
        answerable while the cell blocks, and ``resume`` defaults to ``"auto"`` (False in Voilà);
        in a script it defaults to False.
        """
        options = RunOptions(channel=channel, start_node=start_node, run_id=run_id, console=console)
        options["presenters"], options["answers"], options["max_steps"] = presenters, answers, max_steps
        options["redis"] = redis
        return self._run_here(options, resume, False, "run_async")

    def _run_here(
        self, options: RunOptions, resume: Resume | None, script_default: Resume, async_twin: str
    ) -> RunOutcome:
        """Run to the end in the way that fits where this runs (a cell's panel, Voilà's page, a script)."""
        _refuse_to_block_async_code(f"await wf.{async_twin}(...)")
        if running_kernel() is not None:
            self._refuse_inside_a_task()
            options["resume"] = _default_resume(resume)
            if in_voila() and options.get("presenters") is None and widgets_available():
                return self.start(**options).outcome_so_far()  # a blocking cell would keep the page from showing
            if options.get("presenters") is None and widgets_available():
                from .._frontends.notebook.cell_run import run_in_cell

                return run_in_cell(self, **options)
        else:
            options["resume"] = script_default if resume is None else resume
            end_scripts_in_one_message()
        engine = self._prepare_engine(**options)
        try:
            return run_blocking(engine.run)
        except KeyboardInterrupt:  # Ctrl-C: the run saved itself; one line says so, not the engine's stack
            saved = engine.state.status.value
            raise SavedRunInterrupt(
                f"graflow_nb: run {engine.run_id} saved as {saved}; run the script again to continue it "
                f"(or wf.resume({engine.run_id!r}))"
            ) from None

    def start(
        self,
        *,
        channel: Mapping[str, Any] | None = None,
        start_node: str | None = None,
        resume: Resume | None = None,
        run_id: str | None = None,
        presenters: Sequence[FeedbackPresenter] | None = None,
        console: bool | None = None,
        answers: str | os.PathLike[str] | None = None,
        max_steps: int | None = None,
        redis: str | None = None,
    ) -> RunHandle:
        """Start the run and return at once with a handle: ``await run``, ``run.result()``, ``run.pending``.

        In a Jupyter kernel the run goes on in the kernel's event loop, drawn as a live panel; elsewhere
        it runs in a background thread. Options are those of :meth:`run` (``resume`` defaults alike).
        """
        from .._engine.run_handle import RunHandle

        in_kernel = running_kernel() is not None
        if in_kernel:
            self._refuse_inside_a_task()
        chosen = _default_resume(resume) if in_kernel else (resume or False)
        start = RunHandle.start  # a background thread
        if in_kernel and widgets_available():  # the kernel's loop, drawn as a panel
            from .._frontends.notebook.run_handle import NotebookRunHandle

            start = NotebookRunHandle.start
        return start(
            self,
            channel=channel,
            start_node=start_node,
            resume=chosen,
            run_id=run_id,
            presenters=presenters,
            console=console,
            answers=answers,
            max_steps=max_steps,
            redis=redis,
        )

    def _refuse_inside_a_task(self) -> None:
        """In a notebook, a run started from inside a task would show its requests nowhere: refuse it."""
        from .._engine.task_calls import running_task

        task_id = running_task.get()
        if task_id is not None:
            raise NestedRunError(self.name, task_id)

    def execute(
        self,
        start_node: str | None = None,
        *,
        channel: Mapping[str, Any] | None = None,
        console: bool | None = None,
        resume: Resume | None = None,
        run_id: str | None = None,
        answers: str | os.PathLike[str] | None = None,
        initial_channel: Mapping[str, Any] | None = None,
        ret_context: bool = False,
        max_steps: int | None = None,
        redis: str | None = None,
    ) -> Any:
        """Run the workflow to its end and return its result (Graflow's call).

        The result is the last task's return value (a dict by task id when several tasks end the
        graph); with ``ret_context=True``, ``(result, context)``, whose ``context.get_result(task_id)``
        reads any task's. A run that ends paused, cancelled or failed raises WorkflowPaused,
        WorkflowCancelled or WorkflowFailed, whose ``outcome`` says why and what is pending.

        ``execute()`` continues the newest unfinished run of the workflow, saying which (so re-running
        a notebook's cells after a kernel restart, or a script after a pause, picks up where it
        stopped); ``resume=False`` starts afresh, and ``run_id`` continues that run. ``initial_channel``
        is Graflow's name for ``channel``; ``max_steps`` bounds the task executions (a guard for loops).
        ``redis="redis://host:6379/0"`` (default: ``$GRAFLOW_NB_REDIS``) runs the tasks on Graflow's
        workers fed by that Redis instead of in this process.
        """
        if initial_channel is not None:
            if channel is not None:
                raise TypeError("give the channel's first values as channel= or initial_channel=, not both")
            channel = initial_channel
        options = RunOptions(channel=channel, start_node=start_node, run_id=run_id, console=console, answers=answers)
        options["max_steps"], options["redis"] = max_steps, redis
        outcome = self._run_here(options, resume, "auto", "execute_async")
        if outcome.status.value == "running":  # Voilà: the run goes on in the page, which shows its result
            return (None, outcome.context) if ret_context else None
        result = outcome.raise_for_status()
        return (result, outcome.context) if ret_context else result

    def resume(self, run_id: str | None = None, *, console: bool | None = None) -> Any:
        """Continue the newest unfinished run (or ``run_id``); returns or raises as :meth:`execute`."""
        return self._run_here(RunOptions(run_id=run_id, console=console), True, True, "resume_async").raise_for_status()

    async def resume_async(self, run_id: str | None = None, *, console: bool | None = None) -> Any:
        """:meth:`resume` for async code."""
        return await self.execute_async(resume=True, run_id=run_id, console=console)

    def cancel_run(self, run_id: str | None = None, reason: str = "cancelled") -> RunOutcome:
        """End a paused run for good (the newest unfinished one, or ``run_id``) and return its outcome.

        No task runs: its pending requests close unanswered (the decision log says why) and no later
        ``execute()`` resumes it. Raises RunInUseError while another process runs it.
        """
        _refuse_to_block_async_code(f"await asyncio.to_thread(wf.cancel_run, {run_id!r}, {reason!r})")
        engine = self._prepare_engine(resume=True, run_id=run_id, presenters=[])
        engine.cancel(reason)
        return run_blocking(engine.run)

    def runs(self) -> list[CheckpointDocument]:
        """This workflow's runs in its checkpoint directory, oldest first."""
        found = [d for d in self.store.readable_documents() if d.workflow == self.name]
        return sorted(found, key=lambda d: d.created_at)


def workflow(name: str, *, checkpoint_dir: str | os.PathLike[str] | None = None, tracer: None = None) -> Workflow:
    """A workflow to define with ``with workflow("name") as wf:`` (Graflow's call).

    Checkpoints go to ``checkpoint_dir``, else ``$GRAFLOW_NB_CHECKPOINT_DIR``, else ``./.graflow_nb``.
    ``tracer`` is accepted as Graflow's ``tracer=None``; graflow_nb has no tracers (its decision log
    records every request and answer).
    """
    if tracer is not None:
        raise TypeError(
            f"graflow_nb has no tracers (got {type(tracer).__name__}); pass tracer=None or leave it out. "
            "Every request and answer is in the decision log: graflow_nb.decision_log()"
        )
    return Workflow(name, checkpoint_dir=checkpoint_dir)


def _refuse_to_block_async_code(instead: str) -> None:
    """A script's async code that calls a blocking run would freeze its own event loop: refuse, naming
    the call to make instead. (In a kernel a blocking cell is expected; a task may run a workflow.)"""
    import asyncio

    from .._engine.task_calls import running_task

    if running_kernel() is not None or running_task.get() is not None:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise BlockingCallError(
        f"this call blocks, and async code called it, whose event loop it would freeze; use `{instead}`"
    )


def _which_run(resume: Resume | str, run_id: str | None) -> tuple[Resume, str | None]:
    """``resume`` checked; a run id given as ``resume`` (as before ``run_id=`` existed) still works."""
    if isinstance(resume, str) and resume != "auto":
        if run_id not in (None, resume):
            raise TypeError(f"resume={resume!r} and run_id={run_id!r} name different runs")
        warnings.warn("name the run to continue with run_id=, not resume=", DeprecationWarning, stacklevel=4)
        return False, resume
    if resume is False or resume is True:  # not 0 or 1, which equal them
        return resume, run_id
    if resume == "auto":
        return "auto", run_id
    raise TypeError(f"resume must be False, True or 'auto', not {resume!r}; name a run with run_id=")


def _default_resume(resume: Resume | None) -> Resume:
    """In a notebook, a run continues the newest unfinished one unless told otherwise; in Voilà each
    visitor's page starts a run of its own (its kernel is the visitor's) unless the author asks to resume."""
    if resume is not None:
        return resume
    return False if in_voila() else "auto"


def _wants_console(console: bool | None) -> bool:
    if console is not None:
        return console
    in_kernel = "ipykernel" in sys.modules
    try:
        return sys.stdin is not None and sys.stdin.isatty() and not in_kernel
    except (AttributeError, ValueError):
        return False
