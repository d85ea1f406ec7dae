"""A panel of the requests plain Graflow runs keep in Redis, answered in the notebook.

A thread reads the requests every half second; controls are added, and settled when an answer came
from elsewhere (the CLI, another notebook, Graflow's own API), on the kernel's main thread. A click
answers through :class:`~graflow_nb._io.graflow_redis.GraflowRedisRequests`, first answer wins.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from ..._io.graflow_redis import GraflowRedisRequests, GraflowRequest
from ..._io.redis_connection import redacted_url
from ..._model.errors import GraflowRedisError
from ..._model.feedback import FeedbackRequest, FeedbackResponse
from ..._model.feedback_kinds import FeedbackType
from .controls import RequestControl
from .kernel import MainThreadCalls
from .run_handle import kernel_loop
from .theme import STYLESHEET, error_text, muted

#: Seconds between two reads of the requests in Redis.
POLL_INTERVAL = 0.5


class GraflowRequestsPanel:
    """The pending requests of Graflow runs in one Redis (of one session if given), as controls."""

    def __init__(
        self,
        url: str,
        session_id: str | None = None,
        workflow: str | None = None,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._kept = GraflowRedisRequests(url)  # a Redis that cannot be reached raises here, in the cell
        self.url, self.session_id, self.workflow = url, session_id, workflow
        self._calls = MainThreadCalls(kernel_loop())
        self.controls: dict[str, RequestControl] = {}  # main thread only
        self._open: set[str] = set()  # the controls not yet settled: written on the main thread, read by the poller
        self._open_lock = threading.Lock()
        self.header = widgets.HTML()
        self.requests = widgets.VBox()
        self.problem = widgets.HTML()
        self.widget = widgets.VBox([widgets.HTML(STYLESHEET), self.header, self.requests, self.problem])
        self.widget.add_class("graflow-nb-panel")
        self._stopped = threading.Event()
        self._redraw_header(0)
        self._poller = threading.Thread(
            target=self._poll, args=(poll_interval,), name="graflow-nb-graflow-panel", daemon=True
        )
        self._poller.start()

    def stop(self) -> None:
        """Stop reading Redis (the controls stay as they are)."""
        self._stopped.set()

    def display(self) -> None:
        """Show the panel in the current cell's output."""
        display(self.widget)  # type: ignore[no-untyped-call]

    def __repr__(self) -> str:
        pending = sum(1 for control in self.controls.values() if not control.answered)
        return f"<Graflow requests in {redacted_url(self.url)}: {pending} pending>"

    # -- the poller's thread ------------------------------------------------------------------

    def _poll(self, interval: float) -> None:
        while not self._stopped.is_set():
            try:
                waiting = self._kept.requests(self.session_id, workflow=self.workflow)
                with self._open_lock:
                    gone = self._open - _ids(waiting)  # shown open, no longer waiting: answered elsewhere
                answered = {feedback_id: self._kept.response(feedback_id) for feedback_id in gone}
            except GraflowRedisError as error:
                self._calls.call(functools.partial(self._say, str(error)))
            else:
                self._calls.call(functools.partial(self._update, waiting, answered))
            self._stopped.wait(interval)

    # -- the main thread ----------------------------------------------------------------------

    def _update(self, waiting: list[GraflowRequest], answered: dict[str, dict[str, Any] | None]) -> None:
        self._say("")
        for graflow in waiting:
            if graflow.request.feedback_id not in self.controls:
                self._add(graflow)
        for feedback_id, stored in answered.items():
            self._settle(feedback_id, _response_from_graflow(self.controls[feedback_id].request, stored))
        self._redraw_header(sum(1 for control in self.controls.values() if not control.answered))

    def _add(self, graflow: GraflowRequest) -> None:
        shown = graflow.request.model_copy(update={"timeout": None})  # Graflow still takes an answer after it

        def submit(feedback_id: str, **answer: Any) -> FeedbackResponse:
            response = self._kept.answer(feedback_id, via="widget", **answer)
            self._calls.call(functools.partial(self._settle, feedback_id, response))
            return response

        control = RequestControl(shown, submit, later=self._calls.call_later)
        self.controls[shown.feedback_id] = control
        with self._open_lock:
            self._open.add(shown.feedback_id)
        self.requests.children = (*self.requests.children, control.widget)

    def _settle(self, feedback_id: str, response: FeedbackResponse | None) -> None:
        control = self.controls[feedback_id]
        if control.answered:
            return
        control.settle(response)
        with self._open_lock:
            self._open.discard(feedback_id)

    def _redraw_header(self, pending: int) -> None:
        where = f"session {self.session_id}" if self.session_id else "every session"
        where += f" of workflow {self.workflow}" if self.workflow else ""
        self.header.value = (
            "<div class='gnb-header'><span class='gnb-title'>Graflow requests</span>"
            f"{muted(f'{pending} pending · {where} · {redacted_url(self.url)}')}</div>"
        )

    def _say(self, problem: str) -> None:
        self.problem.value = error_text(problem) if problem else ""


def _ids(requests: list[GraflowRequest]) -> set[str]:
    return {graflow.request.feedback_id for graflow in requests}


def _response_from_graflow(request: FeedbackRequest, stored: dict[str, Any] | None) -> FeedbackResponse | None:
    """An answer given elsewhere, as graflow_nb shows one (None: the request closed unanswered)."""
    if not stored:
        return None
    kind = request.feedback_type
    selected = stored.get("selected_multiple") if kind is FeedbackType.MULTI_SELECTION else stored.get("selected")
    return FeedbackResponse(
        feedback_id=request.feedback_id,
        feedback_type=kind,
        approved=stored.get("approved"),
        reason=stored.get("reason"),
        text=stored.get("text"),
        selected=selected,
        data=stored.get("custom_data"),
        responded_by=str(stored.get("responded_by") or "someone"),
        via="api",
    )
