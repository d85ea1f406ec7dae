"""The kinds of feedback and the names around them, without the request and response models (which
need pydantic): for the code that only names them (hints, the console, the checkpoint's writer)."""

from __future__ import annotations

import enum
import getpass
import os
from typing import Literal


class FeedbackType(str, enum.Enum):
    """The kinds of question a task can ask, and the response field that carries each answer."""

    APPROVAL = "approval"  #: ``response.approved: bool`` (and ``response.reason``)
    TEXT = "text"  #: ``response.text: str``
    SELECTION = "selection"  #: ``response.selected: str``
    MULTI_SELECTION = "multi_selection"  #: ``response.selected: list[str]``
    NUMBER = "number"  #: ``response.value: int | float``
    FORM = "form"  #: ``response.data``: an instance of the pydantic model asked for
    CUSTOM = "custom"  #: ``response.custom_data``: a JSON object (Graflow's type; a JSON editor in notebooks)


#: Where an answer came from.
AnswerSource = Literal["widget", "api", "cli", "console", "replay", "timeout", "web"]

#: What happens when a request's timeout passes unanswered: the guide's pause (the default), the
#: request's default answer (recorded as given by "timeout"), or the run ends cancelled or failed.
OnTimeout = Literal["pause", "default", "cancel", "fail"]
ON_TIMEOUT_CHOICES: tuple[OnTimeout, ...] = ("pause", "default", "cancel", "fail")

#: The field that holds a response's answer, by feedback type (the decision log's value; what a
#: request's default fills when on_timeout="default").
MAIN_ANSWER_FIELD = {
    "approval": "approved",
    "text": "text",
    "selection": "selected",
    "multi_selection": "selected",
    "number": "value",
    "form": "data",
    "custom": "data",
}

OPTION_TYPES = (FeedbackType.SELECTION, FeedbackType.MULTI_SELECTION)
#: The fields of a response that carry the answer itself.
ANSWER_FIELDS = ("approved", "reason", "text", "selected", "value", "data")


def default_responder() -> str:
    """Who is answering: the JupyterHub user, else the OS user."""
    hub_user = os.environ.get("JUPYTERHUB_USER")
    if hub_user:
        return hub_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "unknown"
