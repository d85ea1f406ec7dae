"""The keywords every way of running a workflow takes, stated once (PEP 692)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from typing_extensions import TypedDict

from .._model.status import Resume

if TYPE_CHECKING:
    from .presenting import FeedbackPresenter


class RunOptions(TypedDict, total=False):
    """How to run: the public front doors spell these out (so a notebook's tooltip shows them), and
    pass them on as ``**options: Unpack[RunOptions]``."""

    #: Values the channel starts with.
    channel: Mapping[str, Any] | None
    #: The task to start from (its predecessors are taken as done).
    start_node: str | None
    #: Continue the newest unfinished run (True), it if this definition can ("auto"), or not (False).
    resume: Resume
    #: The run to continue.
    run_id: str | None
    #: Who shows pending requests to people; None: the console (and, in a notebook, the panel).
    presenters: Sequence[FeedbackPresenter] | None
    #: Ask at the terminal's prompt (default: when stdin is a terminal outside Jupyter).
    console: bool | None
    #: An answers file to replay (default: ``$GRAFLOW_NB_ANSWERS``).
    answers: str | os.PathLike[str] | None
    #: The most task executions the run may complete (a guard for loops); None: no limit.
    max_steps: int | None
    #: The Redis whose Graflow workers run the tasks (default: ``$GRAFLOW_NB_REDIS``); None: this process.
    redis: str | None
