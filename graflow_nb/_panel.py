"""The live run panel shown in the cell that started a run: progress, tasks, pending controls, Cancel."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from IPython.display import display

from ._controls import RequestControl, Submit
from ._feedback import FeedbackRequest, FeedbackResponse
from ._kernel import MainThreadCalls

if TYPE_CHECKING:
    from ._engine import Engine, TaskState

_STATE_MARKS = {"waiting": "·", "running": "▶", "completed": "✔", "stopped": "■", "failed": "✖"}


class RunPanel:
    """A presenter that draws the run as widgets; every widget change happens on the main thread."""

    def __init__(self, calls: MainThreadCalls, engine: Engine) -> None:
        self.calls = calls
        self.workflow = engine.workflow_name
        completed = engine.state.completed
        self.task_states: dict[str, str] = {
            t: ("completed" if t in completed else "waiting") for t in engine.graph.tasks
        }
        self.controls: dict[str, RequestControl] = {}
        self._settled_early: dict[str, FeedbackResponse | None] = {}  # settled before its control was drawn
        self.on_paused_answer: Callable[[], Submit] | None = None
        self._engine: Engine | None = engine
        self._started = time.monotonic()
        self._ended = False
        self.header = widgets.HTML()
        self.progress = widgets.IntProgress(min=0, max=len(self.task_states), description="tasks")
        self.elapsed = widgets.Label()
        self.tasks = widgets.HTML()
        self.requests = widgets.VBox()
        self.cancel_reason = widgets.Text(placeholder="reason", layout=widgets.Layout(width="14em"))
        self.cancel_button = widgets.Button(description="Cancel run", icon="stop", button_style="warning")
        self.cancel_button.on_click(self._cancel_clicked)
        self.widget = widgets.VBox(
            [
                self.header,
                widgets.HBox([self.progress, self.elapsed]),
                self.tasks,
                self.requests,
                widgets.HBox([self.cancel_button, self.cancel_reason]),
            ]
        )
        self.widget.add_class("graflow-nb-panel")
        self._status = "running"
        self._redraw()

    def follow(self, engine: Engine) -> None:
        """Show a new engine's run here (a paused run resumed from this panel)."""
        self._engine = engine
        self._ended = False
        self._status = "running"
        self.cancel_button.disabled = False

    # -- display -----------------------------------------------------------------------

    def display(self) -> None:
        """Show the panel in the current cell's output, with a plain-text stand-in where widgets do not render."""
        bundle = {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
            "text/plain": f"graflow_nb: live panel of workflow {self.workflow!r}",
        }
        display(bundle, raw=True)  # type: ignore[no-untyped-call]

    def recap(self) -> str:
        """The run in plain text, with no times or ids, so stored notebook outputs stay comparable.

        Printed when a blocking run ends: what nbconvert, GitHub previews and nbval see of the run.
        """
        done = sum(1 for s in self.task_states.values() if s == "completed")
        lines = [f"graflow_nb: {self.workflow!r} {self._status}, {done}/{len(self.task_states)} tasks done"]
        order = {task_id: index for index, task_id in enumerate(self.task_states)}
        by_task = sorted(self.controls.values(), key=lambda c: (order.get(c.request.task_id, 0), c.request.call_index))
        for control in by_task:
            request, response = control.request, control.response
            answer = (
                f"{response.summary()} (by {response.responded_by} via {response.via})"
                if response is not None
                else ("closed without an answer" if control.answered else "waiting")
            )
            lines.append(f"- {request.task_id}: {request.prompt} -> {answer}")
        return "\n".join(lines)

    def _redraw(self) -> None:
        done = sum(1 for s in self.task_states.values() if s == "completed")
        self.progress.value = done
        self.header.value = (
            f"<b>{html.escape(self.workflow)}</b> "
            f"<span style='color:gray'>{html.escape(self._engine.run_id if self._engine else '')}</span> — "
            f"{html.escape(self._status)}"
        )
        self.tasks.value = " ".join(
            f"<span title='{html.escape(state)}'>{_STATE_MARKS.get(state, '?')} {html.escape(task_id)}</span>"
            for task_id, state in self.task_states.items()
        )

    def tick(self) -> None:
        """Refresh elapsed time and countdowns (main thread)."""
        if not self._ended:
            self.elapsed.value = f"{time.monotonic() - self._started:.0f} s"
        now = datetime.now(timezone.utc)
        for control in self.controls.values():
            control.tick(now)

    # -- presenter protocol (any thread) ---------------------------------------------------

    def task_changed(self, engine: Engine, task_id: str, state: TaskState) -> None:
        """Mark a task's state."""

        def update() -> None:
            self._engine = engine
            self.task_states[task_id] = state
            self._redraw()

        self.calls.call(update)

    def show(self, engine: Engine, request: FeedbackRequest) -> None:
        """Add (or re-arm) the request's control."""
        live = engine.feedback.live_parts(request.feedback_id)

        def submit(feedback_id: str, **answer: Any) -> FeedbackResponse:
            return engine.feedback.submit_threadsafe(feedback_id, via="widget", **answer)

        def add() -> None:
            self._engine = engine
            known = self.controls.get(request.feedback_id)
            if known is not None:
                known.reopen(submit)
                return
            control = RequestControl(request, submit, live)
            self.controls[request.feedback_id] = control
            if request.feedback_id in self._settled_early:
                control.settle(self._settled_early.pop(request.feedback_id))
            self.requests.children = (*self.requests.children, control.widget)

        self.calls.call(add)

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """Show the answer on the request's control."""

        def update() -> None:
            control = self.controls.get(request.feedback_id)
            if control is None:
                self._settled_early[request.feedback_id] = response
                return
            control.settle(response)

        self.calls.call(update)

    def run_ended(self, engine: Engine) -> None:
        """Show the final status; keep a paused run's controls answerable."""
        outcome = engine.outcome()

        def update() -> None:
            self._engine = engine
            self._status = outcome.status.value + (f": {outcome.reason}" if outcome.reason else "")
            self._ended = outcome.status.finished
            if outcome.status.finished:
                self.cancel_button.disabled = True
            elif self.on_paused_answer is not None:
                submit = self.on_paused_answer()
                for feedback_id in outcome.pending_feedback_ids:
                    control = self.controls.get(feedback_id)
                    if control is not None:
                        control.reopen(submit)
            self._redraw()
            self.tick()

        self.calls.call(update)

    def _cancel_clicked(self, _button: widgets.Button) -> None:
        if self._engine is not None:
            self._engine.cancel_threadsafe(self.cancel_reason.value.strip() or "cancelled from the notebook")
