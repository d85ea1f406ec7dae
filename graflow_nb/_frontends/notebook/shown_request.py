"""A request as the run panel keeps it: its state always, its widgets only while it is on the page."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ..._model.feedback import FeedbackRequest, FeedbackResponse, LiveParts
from .controls import Extend, Later, RequestControl, Submit


class ShownRequest:
    """One request of a run panel (main thread only).

    A batch of thousands keeps one of these each, a few hundred bytes, and widgets only for the page on
    screen: :meth:`draw` builds the control in the request's present state, :meth:`undraw` closes it.
    Every change goes to the state first and to the control, if drawn. It is what ``run.pending`` lists.
    """

    __slots__ = (
        "_paused_by_timeout",
        "_retired",
        "answered",
        "answering_in_code",
        "control",
        "deadline",
        "draft",
        "error",
        "extend",
        "later",
        "live",
        "note",
        "request",
        "response",
        "submit",
    )

    def __init__(
        self,
        request: FeedbackRequest,
        submit: Submit,
        live: LiveParts,
        extend: Extend | None,
        later: Later | None = None,
    ) -> None:
        self.request = request
        self.later = later
        self.submit = submit
        self.live = live
        self.extend = extend
        self.deadline: datetime | None = None
        if request.timeout is not None:
            self.deadline = datetime.now(timezone.utc) + timedelta(seconds=request.timeout)
        self.answered = False
        self.response: FeedbackResponse | None = None
        self.note: str | None = None
        self.error: str | None = None
        self._paused_by_timeout: bool | None = None  # set once the run paused: answering resumes it
        self._retired: str | None = None
        self.answering_in_code = False  # respond() is answering it: the keyboard focus stays where it is
        self.control: RequestControl | None = None
        self.draft: tuple[Any, ...] | None = None  # what was typed or chosen, unsent, when it left the page

    @property
    def feedback_id(self) -> str:
        """The request's feedback id."""
        return self.request.feedback_id

    # -- its widgets -------------------------------------------------------------------------

    def draw(self) -> RequestControl:
        """The request's control, built now if it is not drawn, showing the request's present state."""
        if self.control is not None:
            return self.control
        control = RequestControl(
            self.request, self.submit, self.live, self.extend, deadline=self.deadline, later=self.later
        )
        if self._paused_by_timeout is not None:
            control.reopen(self.submit, timed_out=self._paused_by_timeout)
        if self._retired is not None:
            control.retire(self._retired)
        elif self.answered:
            control.settle(self.response, self.note)
        if self.error:
            control.show_error(self.error)
        if self.draft is not None and not self.answered:
            control.restore(self.draft)
        self.control = control
        control.tick(datetime.now(timezone.utc))
        return control

    def undraw(self) -> None:
        """Close the control's widgets (the request leaves the page), keeping what was put in its fields."""
        control, self.control = self.control, None
        if control is not None:
            self.draft = None if self.answered else control.draft()
            control.close()

    # -- what happens to it ---------------------------------------------------------------------

    def settle(self, response: FeedbackResponse | None, note: str | None = None) -> None:
        """It was answered (or closed unanswered)."""
        self.answered, self.response, self.note, self.error = True, response, note, None
        if self.control is not None:
            self.control.settle(response, note)

    def reopen(self, submit: Submit) -> None:
        """The run paused (or was shown again): answering it goes through ``submit`` now."""
        self.submit = submit
        self._paused_by_timeout = self.deadline is not None
        self.deadline = None
        if self.control is not None:
            self.control.reopen(submit)

    def rearm(self, submit: Submit, extend: Extend | None, deadline: datetime | None) -> None:
        """The run was resumed and asks again (no longer paused): answering goes through ``submit``."""
        if deadline is None and self.request.timeout is not None:
            deadline = datetime.now(timezone.utc) + timedelta(seconds=self.request.timeout)
        self.submit, self.extend, self.deadline = submit, extend, deadline
        self._paused_by_timeout = None
        if self.control is not None:
            self.control.rearm(submit, extend, deadline)

    def retire(self, why: str) -> None:
        """The run went on elsewhere: nothing here can answer it."""
        self.answered, self._retired = True, why
        if self.control is not None:
            self.control.retire(why)

    def deadline_moved(self, deadline: datetime) -> None:
        """Someone gave it more time."""
        if not self.answered and self.deadline is not None:
            self.deadline = max(self.deadline, deadline)
        if self.control is not None:
            self.control.deadline_moved(deadline)

    def show_error(self, message: str) -> None:
        """Say why its answer was not taken."""
        self.error = message
        if self.control is not None:
            self.control.show_error(message)

    def respond(self, **answer: Any) -> None:
        """Answer it in code: through its control, as a click would, when drawn; else straight to the run."""
        self.answering_in_code = True
        try:
            if self.control is not None:
                self.control.respond(**answer)
            else:
                self.submit(self.feedback_id, **answer)
        finally:
            self.answering_in_code = False

    def matches(self, words: str) -> bool:
        """Whether its task id, prompt or feedback id holds ``words`` (lower case)."""
        request = self.request
        return words in request.task_id.lower() or words in request.prompt.lower() or words in request.feedback_id
