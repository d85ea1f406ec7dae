"""The live run panel shown in the cell that started a run: progress, tasks, pending controls, Cancel."""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from IPython.display import DisplayHandle, display

from ..._io.hints import plain_prompt
from ..._model.errors import GraflowNbError
from ..._model.feedback import FeedbackRequest, FeedbackResponse
from ..._model.feedback_kinds import default_responder
from ..._model.status import RunStatus
from ..._model.task_order import request_rank
from .controls import Submit
from .kernel import MainThreadCalls
from .page_bar import PageBar
from .request_pages import RequestPages
from .shown_request import ShownRequest
from .theme import STYLESHEET, muted, state_label

if TYPE_CHECKING:
    from ..._engine.presenting import RunView, TaskState
    from ..._model.outcome import RunOutcome
    from .panel_watch import PausedRunWatch


#: Beyond this many tasks, the panel counts them by state instead of drawing a chip each.
_CHIPS_SHOWN = 60
#: The plain-text stand-in lists this many requests, then counts the rest.
_RECAP_LINES = 200
#: Requests that arrive within this many seconds of the first one not yet settled (and before a person
#: answers one here) are shown in the workflow's order of tasks, whatever order their threads asked in;
#: later ones go after them, so nothing moves once a person may be about to click it.
ARRIVAL_SECONDS = 0.5


class RunPanel:
    """A presenter that draws the run as widgets; every widget change happens on the main thread."""

    def __init__(self, calls: MainThreadCalls, run: RunView) -> None:
        self.calls = calls
        self.workflow = run.workflow_name
        completed = run.state.completed
        self.task_states: dict[str, str] = {t: ("completed" if t in completed else "waiting") for t in run.graph.tasks}
        self._rank, self._ranked_tasks = request_rank(list(self.task_states)), len(self.task_states)
        #: How many times each task has completed, where a loop ran it more than once.
        self.task_rounds: dict[str, int] = {t: n for t, n in run.state.visits.items() if n > 1}
        #: The requests shown here, with a page of them drawn as controls (``controls`` is their dict).
        self.pages = RequestPages()
        self._drawn: list[ShownRequest] = []  # the requests whose controls are built: the page's
        self.controls: dict[str, ShownRequest] = self.pages.entries
        self._page_bar: PageBar | None = None  # made once the requests outgrow a page
        self._counts_due = False  # the page bar's counts changed since they were last drawn
        self._redraw_due = False  # tasks changed since the header and the task chips were drawn
        self._settled_early: dict[str, FeedbackResponse | None] = {}  # settled before its control was drawn
        self._arriving_since: float | None = None  # when the requests still kept in task order began to arrive
        self.on_paused_answer: Callable[[], Submit] | None = None
        self.on_cancel: Callable[[str], None] | None = None  # cancels the run, going or paused
        self._run: RunView | None = run
        self._started = time.monotonic()
        self._ended = False
        self.header = widgets.HTML()
        self.tasks = widgets.HTML()
        self.requests = widgets.VBox()
        self.paging = widgets.VBox()  # the page bar, once there is more than a page
        self.cancel_button = widgets.Button(
            description="Cancel run", tooltip="Stop the run for good (it cannot be resumed)"
        )
        self.cancel_button.on_click(self._cancel_clicked)
        self.cancel_reason = widgets.Text(placeholder="why (optional)", layout=widgets.Layout(width="16em"))
        self.footer = widgets.HBox([self.cancel_button, self.cancel_reason])
        self.result = widgets.HTML()  # the run's result (or why it ended otherwise), once it has ended
        self.result.add_class("gnb-result")
        style = widgets.HTML(STYLESHEET)  # once per panel: the header is redrawn every second
        self.widget = widgets.VBox(
            [style, self.header, self.tasks, self.paging, self.requests, self.result, self.footer]
        )
        self.widget.add_class("graflow-nb-panel")
        self._handle: DisplayHandle | None = None
        self._elapsed = 0
        self._watch: PausedRunWatch | None = None
        self._status = "running"
        self._redraw()

    def follow(self, run: RunView) -> None:
        """Show a new run here (a paused run resumed from this panel)."""
        self._stop_watching()
        self._run = run
        self._ended = False
        self._status = "running"
        self.result.value = ""
        self._set_cancellable(True)
        self.footer.layout.display = None
        self._redraw()

    # -- display -----------------------------------------------------------------------

    def display(self) -> None:
        """Show the panel in the current cell's output; its plain-text stand-in is :meth:`recap`.

        Where widgets cannot render (nbconvert, GitHub, a terminal) the stand-in is what shows; it is
        brought up to date when the run ends.
        """
        self._handle = display(self._bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def _bundle(self) -> dict[str, Any]:
        return {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
            "text/plain": self.recap(),
        }

    def recap(self) -> str:
        """The run in plain text, one line per request, with no times or ids (stored outputs stay comparable)."""
        done = sum(1 for s in self.task_states.values() if s == "completed")
        lines = [f"graflow_nb: workflow {self.workflow!r} {self._status}, {done}/{len(self.task_states)} tasks done"]
        order = {task_id: index for index, task_id in enumerate(self.task_states)}
        by_task = sorted(
            self.controls.values(),
            key=lambda c: (order.get(c.request.task_id, 0), c.request.visit, c.request.call_index),
        )
        for control in by_task[:_RECAP_LINES]:
            request, response = control.request, control.response
            answer = (
                f"{response.summary()} (by {response.responded_by} via {response.via})"
                if response is not None
                else ("closed without an answer" if control.answered else "waiting")
            )
            round_of = f" (round {request.visit + 1})" if request.visit else ""
            lines.append(f"- {request.task_id}{round_of}: {plain_prompt(request.prompt)} -> {answer}")
        if len(by_task) > _RECAP_LINES:
            waiting = sum(1 for control in by_task[_RECAP_LINES:] if not control.answered)
            lines.append(f"- ... and {len(by_task) - _RECAP_LINES:,} more requests ({waiting:,} waiting)")
        return "\n".join(lines)

    def _where_tasks_run(self) -> str:
        redis = self._run.workers_redis if self._run else None
        return muted(f"on Graflow workers of {html.escape(redis)}") if redis else ""

    def _redraw(self) -> None:
        self._redraw_due = False
        done = sum(1 for s in self.task_states.values() if s == "completed")
        run_id = self._run.run_id if self._run else ""
        self.header.value = (
            "<div class='gnb-header'>"
            f"<span class='gnb-title' title='run {html.escape(run_id)}'>{html.escape(self.workflow)}</span>"
            f"{state_label(self._status, self._status_kind)}"
            f"{muted(f'{done:,}/{len(self.task_states):,} tasks')}"
            f"{muted(f'{self._elapsed} s') if self._elapsed else ''}"
            f"{self._where_tasks_run()}"
            "</div>"
        )
        self.tasks.value = "<div class='gnb-tasks'>" + self._task_chips() + "</div>"

    def _task_chips(self) -> str:
        """A chip per task; beyond a screenful of them, one chip per state with its count."""
        if len(self.task_states) > _CHIPS_SHOWN:
            counts = Counter(self.task_states.values())
            return "".join(
                _task_label(f"{count:,} {_STATE_WORDS.get(state, state)}", state, 0)
                for state, count in sorted(counts.items())
            )
        rounds = self.task_rounds
        return "".join(
            _task_label(task_id, state, rounds.get(task_id, 0)) for task_id, state in self.task_states.items()
        )

    @property
    def _status_kind(self) -> str:
        return self._status.split(":", 1)[0]

    def _set_cancellable(self, cancellable: bool) -> None:
        self.cancel_button.disabled = not cancellable
        self.cancel_reason.disabled = not cancellable

    def tick(self) -> None:
        """Refresh elapsed time and countdowns (main thread)."""
        if not self._ended:
            elapsed = int(time.monotonic() - self._started)
            if elapsed != self._elapsed:
                self._elapsed = elapsed
                self._redraw_due = True
        if self._redraw_due:
            self._redraw()
        now = datetime.now(timezone.utc)
        for feedback_id in self.pages.page:
            control = self.pages.entries[feedback_id].control
            if control is not None:
                control.tick(now)
        if self._counts_due:
            self._counts_due = False
            self._show_paging()

    # -- presenter protocol (any thread) ---------------------------------------------------

    def task_changed(self, run: RunView, task_id: str, state: TaskState) -> None:
        """Mark a task's state (and, in a loop, how many times it has run)."""
        rounds = run.state.visits.get(task_id, 0)  # read here, on the run's loop thread

        def update() -> None:
            self._run = run
            self.task_states[task_id] = state
            if rounds > 1:
                self.task_rounds[task_id] = rounds
            self._redraw_due = True  # drawn at the next tick: a batch's thousands of changes, once

        self.calls.call(update)

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        """Add (or re-arm) the request's control."""
        live = run.live_parts(request.feedback_id)
        record = run.state.records.get(request.feedback_id)  # (on the run's loop: its state is ours to read)
        deadline = record.deadline if record is not None else None

        def submit(feedback_id: str, **answer: Any) -> FeedbackResponse:
            response = run.answer(feedback_id, via="widget", **answer)
            self._answered_here(feedback_id)
            return response

        def extend(feedback_id: str, seconds: float) -> datetime:
            return run.extend(feedback_id, seconds, by=default_responder(), via="widget")

        def add() -> None:
            self._run = run
            known = self.controls.get(request.feedback_id)
            if known is not None:  # a paused run resumed from this panel asks again: live again
                known.rearm(submit, extend, deadline)
                return
            entry = ShownRequest(request, submit, live, extend, self.calls.call_later)
            if request.feedback_id in self._settled_early:
                entry.settle(self._settled_early.pop(request.feedback_id))
            joins = self.pages.add(entry, self._arrival_rank(request))
            if joins is not None and joins == len(self._drawn):
                self.requests.children = (*self.requests.children, entry.draw().widget)
                self._drawn.append(entry)
            elif joins is not None:  # among the requests that arrived with it, in task order
                self._draw_page()
            elif self.pages.goes_on_to(entry):  # the page is all answered: show what is asked now
                self.pages.next_page()
                self._page_turned()
            self._counts_due = True
            if self._page_bar is None and self.pages.paged:
                self._show_paging()

        self.calls.call(add)

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """Show the answer on the request's control."""

        def update() -> None:
            entry = self.controls.get(request.feedback_id)
            if entry is None:
                self._settled_early[request.feedback_id] = response
                return
            entry.settle(response)
            self._counts_due = True

        self.calls.call(update)

    def deadline_moved(self, request: FeedbackRequest, deadline: datetime) -> None:
        """Count the request's control down to its new deadline."""

        def update() -> None:
            entry = self.controls.get(request.feedback_id)
            if entry is not None:
                entry.deadline_moved(deadline)

        self.calls.call(update)

    def run_ended(self, run: RunView) -> None:
        """Show the final status; keep a paused run's controls answerable."""
        outcome = run.outcome()

        def update() -> None:
            self._run = run
            self._status = outcome.status.value + (f": {outcome.reason}" if outcome.reason else "")
            self._ended = outcome.status.finished
            self._set_cancellable(not outcome.status.finished and self.on_cancel is not None)
            if outcome.status.finished:  # nothing left to cancel: the footer goes
                self.footer.layout.display = "none"
            self.result.value = _ending_text(outcome)
            if not outcome.status.finished and self.on_paused_answer is not None:
                submit = self.on_paused_answer()
                for feedback_id in outcome.pending_feedback_ids:
                    entry = self.controls.get(feedback_id)
                    if entry is not None:
                        entry.reopen(submit)
                self._watch_paused(run)
            self._redraw()
            self.tick()
            if self._handle is not None:  # the plain-text stand-in now tells how the run ended
                self._handle.update(self._bundle(), raw=True)  # type: ignore[no-untyped-call]

        self.calls.call(update)

    # -- the page of controls (main thread) --------------------------------------------------

    def _show_paging(self) -> None:
        """Show the page bar once the requests outgrow a page, and bring its counts up to date."""
        if self._page_bar is None:
            if not self.pages.paged:
                return
            self._page_bar = PageBar(self.pages, self._page_turned)
            self.paging.children = (self._page_bar.widget,)
        self._page_bar.refresh()

    def _arrival_rank(self, request: FeedbackRequest) -> tuple[int, int, int] | None:
        """Where the request goes among those arriving with it (the workflow's order of tasks), or None
        once the order is settled: :data:`ARRIVAL_SECONDS` after the first of them arrived."""
        now = time.monotonic()
        if self._arriving_since is None or now - self._arriving_since > ARRIVAL_SECONDS:
            self.pages.settle()
            self._arriving_since = now
        if self._ranked_tasks != len(self.task_states):  # a task was added (next_task): the order grows
            self._rank, self._ranked_tasks = request_rank(list(self.task_states)), len(self.task_states)
        return self._rank(request)

    def _page_turned(self) -> None:
        """Draw the page's requests, close the controls of those that left it, focus the first waiting one."""
        self._arriving_since = None
        entries = self._draw_page()
        waiting = next((entry for entry in entries if not entry.answered), None)
        if waiting is not None and waiting.control is not None:
            waiting.control.focus()

    def _draw_page(self) -> list[ShownRequest]:
        """Draw the page's requests, in order, and close the controls of those that left it."""
        on_page = set(self.pages.page)
        for entry in self._drawn:  # (not every request of a batch of thousands: a turn costs a page)
            if entry.feedback_id not in on_page:
                entry.undraw()
        entries = [self.pages.entries[feedback_id] for feedback_id in self.pages.page]
        self.requests.children = tuple(entry.draw().widget for entry in entries)
        self._drawn = entries
        self._show_paging()
        return entries

    def _answered_here(self, feedback_id: str) -> None:
        """A person answered on a batch's page: the keyboard goes on to the next waiting request (or the
        next page), so that a batch is answered in sequence. An answer given in code moves nothing, nor
        does one in a panel with no page bar: a focus moved there scrolls the page under a mouse that
        is about to click another control (seen in Notebook 7)."""
        entry = self.pages.entries.get(feedback_id)
        if entry is not None and not entry.answering_in_code:  # a person acted: nothing moves from now on
            self.pages.settle()
            self._arriving_since = None
        if entry is None or entry.answering_in_code or self._page_bar is None:
            return
        following = self.pages.after_on_page(feedback_id)
        if following is not None and following.control is not None:
            following.control.focus()
        elif self._page_bar is not None:
            self._page_bar.next.focus()

    # -- after a pause (main thread) -------------------------------------------------------

    def _watch_paused(self, run: RunView) -> None:
        """Keep watching the paused run's files from the kernel's loop, once the cell has ended."""
        from .panel_watch import PausedRunWatch

        self._stop_watching()
        watch = PausedRunWatch(self, run.store, run.run_id)
        self._watch = watch
        self.calls.call_on_loop(watch.start)

    def _stop_watching(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            self.calls.call_on_loop(watch.stop)

    def open_request_ids(self) -> list[str]:
        """The requests still waiting for an answer here."""
        return [feedback_id for feedback_id, entry in self.controls.items() if not entry.answered]

    def answered_elsewhere(self, feedback_id: str, response: FeedbackResponse) -> None:
        """A paused request was answered from outside this panel (CLI, API, another notebook)."""
        control = self.controls.get(feedback_id)
        if control is not None and not control.answered:
            done = "closed" if response.closed else "answered"
            control.settle(response, note=f"{done} elsewhere: re-run the workflow's cell (or wf.resume()) to go on")
            self._redraw()

    def moved_on(self, where: str) -> None:
        """The paused run went on without this panel: nothing here can answer it any more."""
        self._watch = None
        self._status = f"moved on: {where}"
        for control in self.controls.values():
            if not control.answered:
                control.retire(f"this run was {where}")
        self._redraw()

    def _cancel_clicked(self, _button: widgets.Button) -> None:
        reason = self.cancel_reason.value.strip() or "cancelled from the notebook"
        if self.on_cancel is None:
            if self._run is not None:
                self._run.cancel_threadsafe(reason)
            return
        try:
            self.on_cancel(reason)
        except GraflowNbError as error:  # e.g. the paused run was resumed elsewhere meanwhile
            self.say(f"not cancelled: {error}")

    def say(self, status: str) -> None:
        """Show ``status`` in the header (main thread)."""
        self._status = status
        self._redraw()


def _ending_text(outcome: RunOutcome) -> str:
    """The result of a completed run (shortened), or the error that failed one; nothing otherwise
    (the header says why a run paused or was cancelled)."""
    if outcome.status is RunStatus.COMPLETED:
        shown = repr(outcome.result)
        shown = shown if len(shown) <= 400 else shown[:400] + "…"
        return f"{muted('result')} <code>{html.escape(shown)}</code>"
    if outcome.status is RunStatus.FAILED and outcome.error is not None:
        error = outcome.error
        return f"{muted(f'{error.task_id} failed')} <code>{html.escape(f'{error.error_type}: {error.message}')}</code>"
    return ""


#: A task's state in words where the engine's name would mislead: a "waiting" task has not started
#: (beside a page bar whose "waiting" means requests not yet answered).
_STATE_WORDS = {"waiting": "not started"}


def _task_label(task_id: str, state: str, rounds: int) -> str:
    """A task's chip: its id, its state as a colour, and ``×N`` once a loop has run it N times."""
    name = html.escape(task_id)
    times = f" ×{rounds}" if rounds > 1 else ""
    tip = f"{name}: {_STATE_WORDS.get(state, state)}" + (f", completed {rounds} times" if rounds > 1 else "")
    return f"<span class='gnb-task gnb-{state}' title='{tip}'>{name}{times}</span>"
