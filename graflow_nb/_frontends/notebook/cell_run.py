"""``wf.execute()`` / ``wf.run()`` in a cell: the engine runs in a thread of its own while the cell's
main thread serves the widgets' messages (:class:`~.kernel.ShellPump`), so the person can answer in
the panel, and "Run All" runs the cells below only once the run has finished or paused."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import anyio
from typing_extensions import Unpack

from ..._engine.run_handle import Runnable
from ..._model.errors import LoopRunsWouldFreezeError
from ..._model.outcome import RunOutcome
from ..._model.status import RunStatus
from ..._util.environment import running_kernel
from .run_handle import NotebookRunHandle, kernel_loop, panel_for, runs_on_the_loop

if TYPE_CHECKING:
    from ..._engine.run_options import RunOptions


def run_in_cell(wf: Runnable, **options: Unpack[RunOptions]) -> RunOutcome:
    """``wf.run()`` inside a kernel: draw the panel and keep it answerable while the cell blocks."""
    kernel = running_kernel()
    if threading.current_thread() is not threading.main_thread():
        from ..._util.blocking import run_blocking

        options["presenters"] = []  # a cell's worker thread: nobody draws a panel there
        return run_blocking(lambda: wf.run_async(**options))
    going = [run.run_id or run.workflow.name for run in list(runs_on_the_loop) if not run.done()]
    if going:  # the pump serves widgets, not the kernel's event loop, where those runs go on
        raise LoopRunsWouldFreezeError(going)
    options["presenters"] = list(options.get("presenters") or [])  # the panel joins them below
    engine = wf._prepare_engine(**options)  # may raise: first
    from .kernel import MainThreadCalls, ShellPump

    calls = MainThreadCalls(kernel_loop())
    pump = ShellPump(kernel)
    calls.pumping(pump)
    handle = NotebookRunHandle(wf, None)
    wf.last_run = handle
    panel = panel_for(engine, calls)
    handle.panel = panel
    panel.on_paused_answer = handle._answer_paused
    panel.on_cancel = handle.cancel
    handle._engine = engine
    outcome: list[RunOutcome] = []
    error: list[BaseException] = []
    engine_done = threading.Event()

    def run_engine() -> None:
        try:
            outcome.append(anyio.run(engine.run))
        except BaseException as failure:  # noqa: BLE001 - re-raised in the cell, not lost to excepthook
            error.append(failure)
        finally:
            engine_done.set()
            pump.wake()

    def pause_for_interrupt() -> None:  # the ■ button: save the run as paused, as Ctrl-C does in a script
        engine.call_soon_on_loop(engine.request_stop, RunStatus.PAUSED, "interrupted from the notebook")

    thread = threading.Thread(target=run_engine, name="graflow-nb-run")
    thread.start()
    try:
        interrupted = pump.run_until(engine_done.is_set, panel.tick, on_interrupt=pause_for_interrupt)
    finally:
        calls.pumping(None)
        thread.join()
        handle._ended(outcome[0] if outcome else None, error=error[0] if error else None)
    if error:  # the engine's thread ended with an error of its own (e.g. sys.exit in a task)
        raise error[0]
    if interrupted:
        raise KeyboardInterrupt(f"run {engine.run_id} saved as {outcome[0].status.value}; re-run the cell to resume it")
    return outcome[0]
