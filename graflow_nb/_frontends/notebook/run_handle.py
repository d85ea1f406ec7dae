"""The handle of a run that goes on while cells run: ``run = wf.start()``.

In a kernel the engine runs on the kernel's event loop and the cell returns at once; ``await run`` in
a later cell, or ``run.result()``, gives the result (elsewhere the run goes on in a thread). A run
that pauses on a timeout keeps its controls answerable: an answer given there resumes the run in the
same kernel, in the same panel. (A blocking ``wf.execute()`` cell is :mod:`.cell_run`.)
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable, Coroutine, Generator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ..._engine.engine import Engine
from ..._engine.state import RunEndedError
from ..._model.answer_checks import make_response
from ..._model.errors import (
    BlockingCallError,
    FeedbackNotFoundError,
    GraflowNbError,
    RunNotFinishedError,
)
from ..._model.feedback import FeedbackRequest, FeedbackResponse
from ..._model.outcome import RunOutcome
from ..._model.status import Resume, RunStatus
from ..._util.environment import in_voila, running_kernel, widgets_available

if TYPE_CHECKING:  # the notebook parts (ipywidgets, ipykernel, zmq) load only inside a kernel that has them
    from ..._engine.presenting import FeedbackPresenter, RunView
    from ..._io.store import CheckpointStore
    from .controls import RequestControl, Submit
    from .kernel import MainThreadCalls
    from .panel import RunPanel


class Runnable(Protocol):
    """What a run handle needs of its workflow (``Workflow``): how to prepare and run its runs."""

    @property
    def name(self) -> str: ...
    @property
    def store(self) -> CheckpointStore: ...

    last_run: RunHandle | None

    def prepared(
        self,
        *,
        channel: Mapping[str, Any] | None = None,
        start_node: str | None = None,
        resume: Resume = False,
        run_id: str | None = None,
        presenters: Sequence[FeedbackPresenter] | None = None,
        console: bool | None = None,
        answers: str | os.PathLike[str] | None = None,
    ) -> Engine: ...
    def prepare(
        self,
        *,
        channel: Mapping[str, Any] | None = None,
        start_node: str | None = None,
        resume: Resume = False,
        run_id: str | None = None,
        presenters: Sequence[FeedbackPresenter] = (),
        answers: str | os.PathLike[str] | None = None,
    ) -> Engine: ...
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
    ) -> RunOutcome: ...


def panel_for(engine: Engine, calls: MainThreadCalls) -> RunPanel:
    from .kernel import frame_concurrent_widget_messages
    from .panel import RunPanel

    frame_concurrent_widget_messages(running_kernel())
    panel = RunPanel(calls, engine.view)
    engine.presenters.append(panel)
    panel.display()
    return panel


def kernel_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


class PendingRequest(Protocol):
    """A request a run waits for, as :attr:`RunHandle.pending` lists it."""

    @property
    def request(self) -> FeedbackRequest:
        """The request."""

    @property
    def feedback_id(self) -> str:
        """The request's feedback id."""

    def respond(self, **answer: Any) -> None:
        """Answer it (``approved=True``, ``text=...``, ``selected=...``, ``value=...``, ``data=...``)."""


@dataclass(frozen=True)
class _PendingAnswer:
    """A request waiting in a run with no panel (a script): answered through the run's view."""

    request: FeedbackRequest
    run: RunView

    @property
    def feedback_id(self) -> str:
        return self.request.feedback_id

    def respond(self, **answer: Any) -> None:
        self.run.answer(self.request.feedback_id, via="api", **answer)


class RunHandle:
    """A run started with ``wf.start()``: awaitable, inspectable and answerable in code, in a notebook
    or a script."""

    def __init__(self, wf: Runnable, panel: RunPanel | None) -> None:
        self.workflow = wf
        self.panel = panel
        self._outcome: RunOutcome | None = None
        self._error: BaseException | None = None  # what ended the run other than an outcome (re-raised)
        self._finished = threading.Event()
        self._engine: Engine | None = None
        self._task: asyncio.Task[RunOutcome] | None = None
        # An answer given in a paused panel resumes the run; one given while the run is still ending
        # (its controls already reopened, its outcome not yet known) resumes it once it has ended.
        self._ending = threading.Lock()
        self._when_ended: Callable[[], None] | None = None
        self._steps: set[asyncio.Task[None]] = set()  # a paused panel's answers and resumes under way

    @classmethod
    def start(cls, wf: Runnable, **options: Any) -> RunHandle:
        """Start a run: on the kernel's loop inside a kernel, else in a background thread.

        The run is prepared here, so a missing input or a misspelled option raises now, and the
        handle knows its run id at once.
        """
        if running_kernel() is None or not widgets_available():
            handle = cls(wf, None)
            handle._start_thread(wf.prepared(**options))
            wf.last_run = handle
            return handle
        from .kernel import MainThreadCalls

        calls = MainThreadCalls(kernel_loop())
        engine = wf.prepared(**{**options, "presenters": list(options.get("presenters") or [])})
        handle = cls(wf, panel_for(engine, calls))
        wf.last_run = handle
        handle._launch(engine)
        return handle

    def _start_thread(self, engine: Engine) -> None:
        """Run ``engine`` in a background thread (outside a kernel)."""
        self._engine = engine
        self._finished.clear()
        thread = threading.Thread(target=self._run_in_thread, args=(engine,), name="graflow-nb-run", daemon=True)
        thread.start()

    def _run_in_thread(self, engine: Engine) -> None:
        try:
            outcome = anyio.run(engine.run)
        except BaseException as error:  # noqa: BLE001 - kept for result()/wait(), not lost to excepthook
            self._ended(error=error)
        else:
            self._ended(outcome)

    def _launch(self, engine: Engine) -> None:
        """Run ``engine`` on the kernel's loop, with its panel ticking."""
        assert self.panel is not None
        self._engine = engine
        self._finished.clear()
        self.panel.follow(engine.view)
        self.panel.on_paused_answer = self._answer_paused
        self.panel.on_cancel = self.cancel
        loop = kernel_loop()
        self._task = loop.create_task(engine.run())
        self._task.add_done_callback(self._done)
        runs_on_the_loop.add(self)
        loop.create_task(self._tick())

    def _done(self, task: asyncio.Task[RunOutcome]) -> None:
        if task.cancelled():
            self._ended(error=asyncio.CancelledError("the run's task was cancelled"))
        elif task.exception() is not None:
            self._ended(error=task.exception())
        else:
            self._ended(task.result())

    def _ended(self, outcome: RunOutcome | None = None, *, error: BaseException | None = None) -> None:
        """Record how the run ended; then do what was asked of the paused run while it was ending."""
        with self._ending:
            self._outcome, self._error = outcome, error
            self._finished.set()
            then, self._when_ended = self._when_ended, None
        if then is not None:
            then()

    def _pausing(self) -> bool:
        """Whether the run has stopped paused but this handle has not yet heard so (call under _ending)."""
        engine = self._engine
        return not self._finished.is_set() and engine is not None and engine.state.status is RunStatus.PAUSED

    async def _tick(self) -> None:
        assert self.panel is not None
        while not self._finished.is_set():
            self.panel.tick()
            await asyncio.sleep(0.1)

    def _answer_paused(self) -> Submit:
        """The submit used by a paused run's controls: check the answer at once, then file it and
        resume the run here, off the event loop's thread (files are read and written meanwhile)."""

        def submit(feedback_id: str, **answer: Any) -> FeedbackResponse:
            control = self.panel.controls[feedback_id] if self.panel else None
            if control is None:
                raise FeedbackNotFoundError(feedback_id, self.workflow.store.directory)
            response = make_response(control.request, via="widget", **answer)  # an invalid answer: here and now
            self._go_on_in_background(self._file_paused_answer(control, answer))
            return response

        return submit

    async def _file_paused_answer(self, control: RequestControl, answer: dict[str, Any]) -> None:
        from ..._engine.answering import provide_feedback

        directory = self.workflow.store.directory
        try:
            await asyncio.to_thread(
                partial(provide_feedback, control.request.feedback_id, via="widget", checkpoint_dir=directory, **answer)
            )
        except GraflowNbError as error:  # answered elsewhere first, say
            control.show_error(str(error))
            return
        with self._ending:
            if self._pausing():  # _ended resumes it (unless it is to be cancelled)
                self._when_ended = self._when_ended or self._resume_paused
                return
            if not self._finished.is_set():  # going again: the run takes the answer itself
                return
        self._resume_paused()

    def _paused_run_id(self) -> str | None:
        """The run's id if it has ended paused (and this handle knows so), else None."""
        outcome = self._outcome
        paused = outcome is not None and outcome.status is RunStatus.PAUSED and self._finished.is_set()
        return outcome.run_id if paused and outcome is not None else None

    def _resume_paused(self) -> None:
        """Resume the run here if it ended paused (once: a second quick click finds it claimed)."""
        run_id = self._paused_run_id()
        if run_id is not None:
            self._go_on_in_background(self._prepare_and_launch(run_id))

    def _cancel_paused(self, reason: str) -> None:
        """End the paused run for good: it is resumed only to be cancelled (no task runs), so its
        pending requests close unanswered, and the decision log and the panel say so."""
        run_id = self._paused_run_id()
        if run_id is None:
            return
        if self.panel is not None:
            self._go_on_in_background(self._prepare_and_launch(run_id, cancel_reason=reason))
            return
        engine = self.workflow.prepare(run_id=run_id, presenters=[])
        engine.cancel(reason)
        self._start_thread(engine)

    def _go_on_in_background(self, step: Coroutine[Any, Any, None]) -> None:
        """Run a step of a paused panel's on the kernel's loop (kept referenced until it is done)."""
        task = kernel_loop().create_task(step)
        self._steps.add(task)
        task.add_done_callback(self._steps.discard)

    async def _prepare_and_launch(self, run_id: str, cancel_reason: str | None = None) -> None:
        """Claim and load the paused run in a worker thread, then run it on the loop (to cancel it, maybe)."""
        panel = self.panel
        assert panel is not None
        try:
            # the same presenters as before (the caller's, an answers file's), not ones made afresh
            kept = (
                [presenter for presenter in self._engine.presenters if presenter is not panel] if self._engine else []
            )
            engine = await asyncio.to_thread(
                partial(self.workflow.prepare, run_id=run_id, answers="", presenters=[*kept, panel])
            )
        except GraflowNbError as error:  # resumed elsewhere meanwhile: the answer is filed, that run takes it
            if cancel_reason is not None:
                panel.say(f"not cancelled: {error}")
            return
        if cancel_reason is not None:
            engine.cancel(cancel_reason)
        self._launch(engine)

    # -- what users call -----------------------------------------------------------------

    @property
    def run_id(self) -> str | None:
        """The run's id (known from the start)."""
        return self._engine.run_id if self._engine else (self._outcome.run_id if self._outcome else None)

    @property
    def pending_requests(self) -> list[FeedbackRequest]:
        """The requests waiting for an answer now (in scripts and notebooks alike)."""
        engine = self._engine
        if engine is None:
            return []

        def read() -> list[FeedbackRequest]:
            return [record.request for record in engine.state.records.values() if record.state == "pending"]

        try:
            return engine.run_on_loop(read)  # the run's records belong to its loop while it goes on
        except RunEndedError:  # not started yet, or over: nothing changes them meanwhile
            return read()

    @property
    def status(self) -> RunStatus:
        """Where the run stands now."""
        if self._outcome is not None and self._finished.is_set():
            return self._outcome.status
        return RunStatus.RUNNING

    @property
    def outcome(self) -> RunOutcome | None:
        """How the run ended, or None while it runs."""
        return self._outcome if self._finished.is_set() else None

    @property
    def pending(self) -> list[PendingRequest]:
        """The requests waiting for an answer; ``run.pending[0].respond(approved=True)`` answers one
        (in a notebook through its control, as a click would, so the panel shows it)."""
        if self.panel is not None:
            return [control for control in self.panel.controls.values() if not control.answered]
        engine = self._engine
        return [_PendingAnswer(request, engine.view) for request in self.pending_requests] if engine else []

    def outcome_so_far(self) -> RunOutcome:
        """How the run ended, or, while it goes on, an outcome with status *running* saying where."""
        if self.outcome is not None:
            return self.outcome
        engine = self._engine
        return RunOutcome(
            workflow=self.workflow.name,
            run_id=self.run_id or "",
            status=RunStatus.RUNNING,
            checkpoint_path=engine.checkpoint_path if engine else self.workflow.store.directory,
            reason="it goes on in its panel, which shows the result when it ends",
            pending_feedback_ids=tuple(request.feedback_id for request in self.pending_requests),
        )

    def done(self) -> bool:
        """Whether the run has ended (completed, paused, cancelled or failed)."""
        return self._finished.is_set()

    def result(self) -> Any:
        """The result of a completed run; raises WorkflowPaused/Cancelled/Failed (or whatever stopped the
        run), or RunNotFinishedError while it still goes on."""
        if self._finished.is_set() and self._error is not None:
            raise self._error
        outcome = self.outcome
        if outcome is None:
            raise RunNotFinishedError(f"{self._still_going()}; `await run` or answer it first")
        return outcome.raise_for_status()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends (at most ``timeout`` seconds) and return :meth:`result`; raises
        RunNotFinishedError if it still goes on then. In a notebook cell, ``await run`` instead: a
        run on the kernel's event loop cannot end while its cell blocks (BlockingCallError)."""
        if self._task is not None and threading.current_thread() is threading.main_thread():
            raise BlockingCallError(
                "this run goes on in the notebook's event loop, which waiting here would freeze; "
                "use `await run` in a cell (the widgets stay answerable), or wf.execute() to block"
            )
        if not self._finished.wait(timeout):
            raise RunNotFinishedError(f"{self._still_going()} after {timeout:g} s")
        return self.result()

    def _still_going(self) -> str:
        waiting = ", ".join(r.feedback_id for r in self.pending_requests) or "no request: tasks are running"
        return f"run {self.run_id} is still going (waiting for {waiting})"

    def cancel(self, reason: str = "cancelled from the notebook") -> None:
        """Cancel the run, going or paused (what the panel's Cancel button does); a cancelled run is
        never resumed. Raises RunInUseError if a paused run was resumed elsewhere meanwhile."""
        with self._ending:
            if self._engine is None:
                return
            if self._pausing():
                self._when_ended = partial(self._cancel_paused, reason)  # outranks a resume asked meanwhile
                return
            if not self._finished.is_set():
                self._engine.cancel_threadsafe(reason)
                return
        self._cancel_paused(reason)

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait_async().__await__()

    async def _wait_async(self) -> Any:
        if in_voila() and not self._finished.is_set():
            return None  # Voilà shows the page once every cell has run: the panel shows the result instead
        try:
            return await self._wait_for_the_end()
        except (KeyboardInterrupt, asyncio.CancelledError):  # the ■ button on an `await run` cell
            if self._engine is not None and not self._finished.is_set():
                self._engine.call_soon_on_loop(
                    self._engine.request_stop, RunStatus.PAUSED, "interrupted from the notebook"
                )
            raise

    async def _wait_for_the_end(self) -> Any:
        kernel = running_kernel() if self._task is not None else None
        if kernel is not None:
            from .kernel import await_serving_widgets
        while not self._finished.is_set():
            if self._task is not None and kernel is not None:
                await await_serving_widgets(kernel, self._task)
            elif self._task is not None:
                await asyncio.wait({self._task})
            else:
                await anyio.to_thread.run_sync(self._finished.wait)
            # The task may have ended just now, its done callback (which sets _finished) not yet run:
            # give the loop a turn, or this loop would spin without ever letting it run.
            await asyncio.sleep(0)
        return self.result()

    def __repr__(self) -> str:
        return f"<RunHandle {self.workflow.name!r} {self.status.value}, {len(self.pending)} pending>"


#: Runs started with wf.start() in this kernel (weakly held): a blocking cell would freeze those still going.
runs_on_the_loop: weakref.WeakSet[RunHandle] = weakref.WeakSet()


#: The name the handle had before it served scripts as well.
NotebookRun = RunHandle
