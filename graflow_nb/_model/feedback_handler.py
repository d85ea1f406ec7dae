"""``FeedbackHandler``: callbacks a task hands ``request_feedback(handler=...)`` (Graflow's interface)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .feedback import FeedbackRequest, FeedbackResponse


class FeedbackHandler(Protocol):
    """Told what happens to one request: subclass it and override what you need (each does nothing by
    default), or pass any object with these methods.

    The calls run one after another in a background thread of the run, never on its event loop, and
    the run waits for them before it returns; a handler that raises is logged and never breaks the run.
    """

    def on_request_created(self, request: FeedbackRequest) -> None:
        """A task waits for the answer (again after a resume, until it is answered)."""
        return

    def on_response_received(self, request: FeedbackRequest, response: FeedbackResponse) -> None:
        """The request was answered (or closed by a person: ``response.closed``)."""
        return

    def on_request_timeout(self, request: FeedbackRequest) -> None:
        """Nobody answered in time."""
        return
