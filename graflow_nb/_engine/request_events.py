"""What happens to a request, told to the decision log and to the people its notification_config names."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._io.decision_log import DecisionLog
from .._io.delivery import NOTIFICATIONS_ENV, Delivery, logger, notification_sender, notifications_enabled
from .._io.hints import cli_commands, cli_hint
from .._io.notebook_path import current_notebook
from .._io.store import CheckpointStore
from .._model.feedback import FeedbackRequest, FeedbackResponse
from .._model.feedback_kinds import AnswerSource
from .._model.notification_config import URL_KEYS
from .._util.background import BackgroundWrites

#: Where handlers' callbacks run: one thread, in order, apart from the decision log's writes (a slow
#: handler, e.g. one that posts to Slack, delays no log entry); a run waits for them before it returns.
handler_calls = BackgroundWrites()

if TYPE_CHECKING:
    from .._io.notification_payload import NotificationEvent


class RequestEvents:
    """Records each request's events in the decision log and sends the notifications asked for.

    ``notification`` arguments are the task's config with its URL in clear: it lives only in memory
    (the task passes it again when it asks again after a restart) and is never logged.
    """

    def __init__(self, store: CheckpointStore) -> None:
        self._store = store
        self.log = DecisionLog(store.directory)
        # Looked up here, where the run is prepared, not on the event loop when a request notifies
        # (the lookup may ask the Jupyter server, once per kernel).
        self._notebook = current_notebook()

    def requested(self, request: FeedbackRequest) -> None:
        """A new request (logged once, not again when a resumed task asks it again)."""
        self.log.requested(request)

    def waiting(self, request: FeedbackRequest, notification: dict[str, Any] | None, deadline: datetime | None) -> None:
        """A task waits for the answer: tell people, with the deadline if the request has a timeout."""
        self._notify("request_created", request, notification, deadline=deadline)

    def extended(
        self,
        request: FeedbackRequest,
        deadline: datetime,
        *,
        by: str,
        via: AnswerSource,
        notification: dict[str, Any] | None,
        filed_here: bool = True,
    ) -> None:
        """The request's deadline moved later; the process that moved it logs it (once across processes)."""
        if filed_here:
            self.log.extended(request, deadline, by=by, via=via)
        self._notify("request_extended", request, notification, deadline=deadline)

    def answered(
        self,
        request: FeedbackRequest,
        response: FeedbackResponse,
        notification: dict[str, Any] | None,
        *,
        filed_here: bool,
    ) -> None:
        """The request was answered or closed by a person; the process that filed it logs it (once
        across processes)."""
        if filed_here:
            self.log.answered(request, response)
        event: NotificationEvent = "request_closed" if response.closed else "request_answered"
        self._notify(event, request, notification, response=response)

    def timed_out(self, request: FeedbackRequest, notification: dict[str, Any] | None, why: str | None = None) -> None:
        """Nobody answered in time (or, ``why``, nobody could); the run pauses."""
        self.log.timed_out(request, why)
        self._notify("request_timed_out", request, notification)

    def closed(self, request: FeedbackRequest, reason: str | None) -> None:
        """The request closed unanswered: its run ended, or its task went on without the answer."""
        self.log.closed(request, reason)

    def tell_handler(self, handler: object | None, callback: str, *arguments: object) -> None:
        """Call the task's ``handler=`` (Graflow's FeedbackHandler), in the background, in order; a
        handler that raises, or lacks the method, never breaks the run."""
        method = getattr(handler, callback, None)
        if method is None:
            return
        handler_calls.run(functools.partial(_call_handler, method, callback, *arguments))

    def _notify(
        self,
        event: NotificationEvent,
        request: FeedbackRequest,
        notification: dict[str, Any] | None,
        **details: Any,
    ) -> None:
        if notification is None:
            return
        from .._io.notification_payload import BODY_BUILDERS, Notice  # only runs that notify need it

        kind = notification["type"]
        if not notifications_enabled():
            logger.info("%s notification %s not sent: $%s is off", kind, event, NOTIFICATIONS_ENV)
            return
        located = self._notebook
        notice = Notice(
            event=event,
            request=request,
            message=notification.get("message"),
            answer_command=cli_hint(request, self._store.directory),
            answer_commands=cli_commands(request, self._store.directory),
            notebook=str(located) if located else None,
            **details,
        )
        body = BODY_BUILDERS[kind](notice)
        label = f"{event} {request.feedback_id}"
        notification_sender().send(Delivery(url=notification[URL_KEYS[kind]], body=body, label=label))


def _call_handler(method: Callable[..., object], callback: str, *arguments: object) -> None:
    try:
        method(*arguments)
    except Exception:  # noqa: BLE001 - a handler's error is the handler's: logged, the run goes on
        logger.exception("graflow_nb: the feedback handler's %s raised; the run goes on", callback)
