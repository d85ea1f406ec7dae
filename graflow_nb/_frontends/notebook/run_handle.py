"""The notebook's run handle: ``run = wf.start()`` in a kernel.

The engine runs on the kernel's event loop and the cell returns at once; ``await run`` in a later
cell, or ``run.result()``, gives the result. A run that pauses on a timeout keeps its controls
answerable: an answer given there resumes the run in the same kernel, in the same panel. (A blocking
``wf.execute()`` cell is :mod:`.cell_run`.)
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from typing_extensions import Unpack

from ..._engine.engine import Engine
from ..._engine.run_handle import PendingRequest, RunHandle, Runnable
from ..._model.answer_checks import make_response
from ..._model.errors import BlockingCallError, FeedbackNotFoundError, GraflowNbError
from ..._model.feedback import FeedbackResponse
from ..._model.outcome import RunOutcome
from ..._util.environment import in_voila, running_kernel

if TYPE_CHECKING:  # the notebook parts (ipywidgets, ipykernel, zmq) load only inside a kernel that has them
    from ..._engine.run_options import RunOptions
    from .controls import Submit
    from .kernel import MainThreadCalls
    from .panel import RunPanel
    from .shown_request import ShownRequest


def panel_for(engine: Engine, calls: MainThreadCalls) -> RunPanel:
    """Draw a panel for ``engine``'s run in the cell, and make it one of the run's presenters."""
    from .kernel import frame_concurrent_widget_messages
    from .panel import RunPanel

    frame_concurrent_widget_messages(running_kernel())
    panel = RunPanel(calls, engine.view)
    engine.presenters.append(panel)
    panel.display()
    return panel


def kernel_loop() -> asyncio.AbstractEventLoop:
    """The kernel's event loop (the one running on this thread)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


class NotebookRunHandle(RunHandle):
    """A run going on in the kernel's event loop, drawn as a panel in the cell that started it."""

    going_on = "it goes on in its panel, which shows the result when it ends"
    interrupted_because = "interrupted from the notebook"
    to_resume = "answer its controls, or run the cell that started it again, to resume it"

    def __init__(self, wf: Runnable, panel: RunPanel | None) -> None:
        super().__init__(wf)
        self.panel = panel
        self._task: asyncio.Task[RunOutcome] | None = None
        self._steps: set[asyncio.Task[None]] = set()  # a paused panel's answers and resumes under way

    @classmethod
    def start(cls, wf: Runnable, **options: Unpack[RunOptions]) -> NotebookRunHandle:
        """Prepare a run and start it on the kernel's loop, drawing its panel.

        The run is prepared here, so a missing input or a misspelled option raises now, and the
        handle knows its run id at once.
        """
        from .kernel import MainThreadCalls

        calls = MainThreadCalls(kernel_loop())
        options["presenters"] = list(options.get("presenters") or [])  # the panel joins them
        engine = wf._prepare_engine(**options)
        handle = cls(wf, panel_for(engine, calls))
        wf.last_run = handle
        handle._launch(engine)
        return handle

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

    async def _file_paused_answer(self, control: ShownRequest, answer: dict[str, Any]) -> None:
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

    def _resume_paused(self) -> None:
        """Resume the run here if it ended paused (once: a second quick click finds it claimed)."""
        run_id = self._paused_run_id()
        if run_id is not None:
            self._go_on_in_background(self._prepare_and_launch(run_id))

    def _cancel_paused(self, reason: str) -> None:
        """End the paused run for good, in its panel: the panel shows its requests closed."""
        run_id = self._paused_run_id()
        if run_id is None:
            return
        if self.panel is None:
            super()._cancel_paused(reason)
            return
        self._go_on_in_background(self._prepare_and_launch(run_id, cancel_reason=reason))

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
                partial(self.workflow._prepare_engine, run_id=run_id, answers="", presenters=[*kept, panel])
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
    def pending(self) -> list[PendingRequest]:
        """The requests waiting for an answer, in the order the panel shows them;
        ``run.pending[0].respond(approved=True)`` answers one through its control, as a click would."""
        if self.panel is None:
            return super().pending
        return [control for control in self.panel.pages.in_order() if not control.answered]

    def wait(self, timeout: float | None = None) -> Any:
        """:meth:`RunHandle.wait`; in a notebook cell, ``await run`` instead: a run on the kernel's event
        loop cannot end while its cell blocks (BlockingCallError)."""
        if self._task is not None and threading.current_thread() is threading.main_thread():
            raise BlockingCallError(
                "this run goes on in the notebook's event loop, which waiting here would freeze; "
                "use `await run` in a cell (the widgets stay answerable), or wf.execute() to block"
            )
        return super().wait(timeout)

    def cancel(self, reason: str = "cancelled from the notebook") -> None:
        """Cancel the run, going or paused (what the panel's Cancel button does)."""
        super().cancel(reason)

    async def _wait_async(self) -> Any:
        __tracebackhide__ = True  # (IPython leaves this frame out of what a failed `await run` cell shows)
        if in_voila() and not self._finished.is_set():
            return None  # Voilà shows the page once every cell has run: the panel shows the result instead
        return await super()._wait_async()

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


#: Runs started with wf.start() in this kernel (weakly held): a blocking cell would freeze those still going.
runs_on_the_loop: weakref.WeakSet[NotebookRunHandle] = weakref.WeakSet()
