"""What a notification says: the JSON body of a ``webhook``, the message of a ``slack`` incoming webhook."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .._model.feedback import FeedbackRequest, FeedbackResponse
from .._model.feedback_kinds import ANSWER_FIELDS
from .._util.clock import utc_now

#: The moments people are told about.
NotificationEvent = Literal[
    "request_created", "request_answered", "request_closed", "request_extended", "request_timed_out"
]

_HEADLINES = {
    "request_created": "Decision needed",
    "request_answered": "Answered",
    "request_closed": "Closed",
    "request_extended": "More time to decide",
    "request_timed_out": "No answer in time; the run paused (answer it, then resume the run)",
}
#: The Jupyter server's address as approvers reach it (its base URL included): notifications then link
#: to the request's page there (served by graflow_nb's server extension).
PUBLIC_URL_ENV = "GRAFLOW_NB_PUBLIC_URL"
#: Events after which the request cannot be answered any more (no answer commands are sent).
_SETTLED = ("request_answered", "request_closed")


@dataclass(frozen=True)
class Notice:
    """One event about one request, with what people need to act on it."""

    event: NotificationEvent
    request: FeedbackRequest
    message: str | None  #: the config's ``message``
    answer_command: str  #: the CLI commands that answer the request, one per line (see cli_hint)
    answer_commands: list[str]  #: the same commands, one per choice (see cli_commands)
    notebook: str | None
    deadline: datetime | None = None  #: when the request times out, if it has a timeout
    response: FeedbackResponse | None = None


def webhook_body(notice: Notice) -> dict[str, Any]:
    """The JSON a ``webhook`` notification POSTs."""
    event, request, deadline = notice.event, notice.request, notice.deadline
    return {
        "event": event,
        "message": notice.message,
        "feedback_id": request.feedback_id,
        "feedback_type": request.feedback_type.value,
        "prompt": request.prompt,
        "options": request.options,
        "workflow": request.workflow,
        "run_id": request.run_id,
        "task_id": request.task_id,
        "created_at": request.created_at.isoformat(),
        "deadline": deadline.isoformat() if deadline else None,
        "notebook": notice.notebook,
        "answer_command": notice.answer_command if event not in _SETTLED else None,
        "answer_commands": notice.answer_commands if event not in _SETTLED else None,
        "link": request_link(request.feedback_id),
        "response": _response_fields(notice.response),
        "sent_at": utc_now().isoformat(),
    }


def slack_body(notice: Notice) -> dict[str, Any]:
    """A Slack incoming-webhook payload: ``text`` (shown in notifications) and ``blocks``."""
    event, request, deadline, response = notice.event, notice.request, notice.deadline, notice.response
    message, notebook = notice.message, notice.notebook
    headline = _HEADLINES[event]
    if response is not None:  # the answer and the name come from people: escaped, like everything shown
        headline = f"{headline} by {_escape(response.responded_by)} via {response.via}: {_escape(response.summary())}"
    lines = [f"*{_escape(message)}*" if message else None, f"{headline}", f"> {_escape(request.prompt)}"]
    if request.options:
        lines.append("Options: " + ", ".join(f"`{_escape(option)}`" for option in request.options))
    where = f"Workflow `{_escape(request.workflow)}`, task `{_escape(request.task_id)}`, run `{request.run_id}`"
    if notebook:
        where += f", notebook `{_escape(notebook)}`"
    lines.append(where)
    if deadline is not None and event in ("request_created", "request_extended"):
        lines.append(f"Waits until {deadline:%Y-%m-%d %H:%M:%S %Z}")
    link = request_link(request.feedback_id)
    if event not in _SETTLED and link:
        lines.append(f"<{link}|Answer in the browser>")
    if event not in _SETTLED:
        lines.append(f"Answer from a terminal:\n```{notice.answer_command}```")
    text = "\n".join(line for line in lines if line)
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def request_link(feedback_id: str) -> str | None:
    """The request's page on the Jupyter server (``$GRAFLOW_NB_PUBLIC_URL``), or None if it is not known."""
    public = os.environ.get(PUBLIC_URL_ENV, "").strip()
    if not public:
        return None
    return f"{public.rstrip('/')}/graflow-nb/requests/{feedback_id}"


def _response_fields(response: FeedbackResponse | None) -> dict[str, Any] | None:
    if response is None:
        return None
    return {
        "summary": response.summary(),
        "responded_by": response.responded_by,
        "via": response.via,
        "responded_at": response.responded_at.isoformat(),
        **response.model_dump(mode="json", include={*ANSWER_FIELDS, "closed"}),
    }


def _escape(text: str) -> str:
    """Slack's mrkdwn needs &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


#: The body builder of each notification type.
BODY_BUILDERS = {"webhook": webhook_body, "slack": slack_body}
