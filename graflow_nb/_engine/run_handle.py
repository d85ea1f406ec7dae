"""The handle of a run that goes on while the caller does other things: ``run = wf.start()``.

Here the run goes on in a background thread (a script, a kernel without widgets); in a notebook the
notebook front end's handle (a subclass) runs it on the kernel's event loop, drawn as a panel.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.to_thread
from typing_extensions import Unpack

from .._model.errors import RunNotFinishedError
from .._model.feedback import FeedbackRequest
from .._model.outcome import RunOutcome
from .._model.status import RunStatus
from .engine import Engine
from .state import RunEndedError

if TYPE_CHECKING:
    from .._io.store import CheckpointStore
    from .presenting import RunView
    from .run_options import RunOptions


class Runnable(Protocol):
    """What a run handle needs of its workflow (``Workflow``): how to prepare and run its runs."""

    @property
    def name(self) -> str: ...
    @property
    def store(self) -> CheckpointStore: ...

    last_run: RunHandle | None

    def _prepare_engine(self, **options: Unpack[RunOptions]) -> Engine: ...
    async def run_async(self, **options: Unpack[RunOptions]) -> RunOutcome: ...


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
    """A request waiting in a run with no panel: answered through the run's view."""

    request: FeedbackRequest
    run: RunView

    @property
    def feedback_id(self) -> str:
        return self.request.feedback_id

    def respond(self, **answer: Any) -> None:
        self.run.answer(self.request.feedback_id, via="api", **answer)


class RunHandle:
    """A run started with ``wf.start()``: awaitable, inspectable, answerable and cancellable in code."""

    #: Where the run goes on, as a running run's outcome says (see :meth:`outcome_so_far`).
    going_on = "it goes on in a background thread"
    #: Why a run whose awaiting was interrupted pauses.
    interrupted_because = "interrupted"
    #: How a person resumes the run once an interrupt paused it.
    to_resume = "start it again to resume it (or wf.resume())"

    def __init__(self, wf: Runnable) -> None:
        self.workflow = wf
        self._outcome: RunOutcome | None = None
        self._error: BaseException | None = None  # what ended the run other than an outcome (re-raised)
        self._finished = threading.Event()
        self._engine: Engine | None = None
        # What is asked of the run while it is ending (its outcome not yet known) is done once it has.
        self._ending = threading.Lock()
        self._when_ended: Callable[[], None] | None = None

    @classmethod
    def start(cls, wf: Runnable, **options: Unpack[RunOptions]) -> RunHandle:
        """Prepare a run and start it in a background thread.

        The run is prepared here, so a missing input or a misspelled option raises now, and the
        handle knows its run id at once.
        """
        handle = cls(wf)
        handle._start_thread(wf._prepare_engine(**options))
        wf.last_run = handle
        return handle

    def _start_thread(self, engine: Engine) -> None:
        """Run ``engine`` in a background thread."""
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

    def _ended(self, outcome: RunOutcome | None = None, *, error: BaseException | None = None) -> None:
        """Record how the run ended; then do what was asked of the run while it was ending."""
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

    def _paused_run_id(self) -> str | None:
        """The run's id if it has ended paused (and this handle knows so), else None."""
        outcome = self._outcome
        paused = outcome is not None and outcome.status is RunStatus.PAUSED and self._finished.is_set()
        return outcome.run_id if paused and outcome is not None else None

    def _cancel_paused(self, reason: str) -> None:
        """End the paused run for good: it is resumed only to be cancelled (no task runs), so its
        pending requests close unanswered, and the decision log says so."""
        run_id = self._paused_run_id()
        if run_id is None:
            return
        engine = self.workflow._prepare_engine(run_id=run_id, presenters=[])
        engine.cancel(reason)
        self._start_thread(engine)

    # -- what users call -----------------------------------------------------------------

    @property
    def run_id(self) -> str | None:
        """The run's id (known from the start)."""
        return self._engine.run_id if self._engine else (self._outcome.run_id if self._outcome else None)

    @property
    def pending_requests(self) -> list[FeedbackRequest]:
        """The requests waiting for an answer now, in the workflow's order of tasks."""
        engine = self._engine
        if engine is None:
            return []

        def read() -> list[FeedbackRequest]:
            return [record.request for record in engine.pending_records()]

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
        """The requests waiting for an answer; ``run.pending[0].respond(approved=True)`` answers one."""
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
            reason=self.going_on,
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
        RunNotFinishedError if it still goes on then."""
        if not self._finished.wait(timeout):
            raise RunNotFinishedError(f"{self._still_going()} after {timeout:g} s")
        return self.result()

    def _still_going(self) -> str:
        waiting = ", ".join(r.feedback_id for r in self.pending_requests) or "no request: tasks are running"
        return f"run {self.run_id} is still going (waiting for {waiting})"

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel the run, going or paused; a cancelled run is never resumed. Raises RunInUseError if a
        paused run was resumed elsewhere meanwhile."""
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
        __tracebackhide__ = True  # (IPython leaves this frame out of what a failed `await run` cell shows)
        try:
            return await self._wait_for_the_end()
        except (KeyboardInterrupt, asyncio.CancelledError) as stopped:  # Ctrl-C, ■ on an `await run` cell
            if self._engine is None or self._finished.is_set():
                raise
            self._engine.call_soon_on_loop(self._engine.request_stop, RunStatus.PAUSED, self.interrupted_because)
            if isinstance(stopped, KeyboardInterrupt):
                raise
            # (the kernel turns ■ into a cancellation with no message: say what became of the run)
            raise asyncio.CancelledError(
                f"run {self._engine.run_id} is saved as paused ({self.interrupted_because}); {self.to_resume}"
            ) from None

    async def _wait_for_the_end(self) -> Any:
        while not self._finished.is_set():
            await anyio.to_thread.run_sync(self._finished.wait)
            await asyncio.sleep(0)
        return self.result()

    def __repr__(self) -> str:
        return f"<RunHandle {self.workflow.name!r} {self.status.value}, {len(self.pending)} pending>"
