"""Kernels nobody watches: papermill, nbconvert and nbclient run a notebook with no one to click.

They run each cell with ``allow_stdin`` false, as no frontend a person uses does (Voilà does too,
but shows the controls, so it is told apart). There, a request that waits says so on stderr — in the
cell's output and on the terminal that runs the client — with the commands that answer it, and
``$GRAFLOW_NB_UNATTENDED`` decides whether it waits:

* ``auto`` (the default): it waits when its notification went out (someone was told and can answer
  from elsewhere); otherwise nobody can know of it, and it times out at once (its ``on_timeout``
  applies: the run pauses, by default, and the notebook's execution stops with WorkflowPaused);
* ``wait``: it always waits (for an answer from the CLI or the API);
* ``timeout``: it never waits.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from ..._io.delivery import notifications_enabled
from ..._io.hints import cli_hint, plain_prompt
from ..._model.feedback import FeedbackRequest
from ..._util.environment import in_voila, running_kernel

UNATTENDED_ENV = "GRAFLOW_NB_UNATTENDED"
Policy = Literal["auto", "wait", "timeout"]
_POLICIES: tuple[Policy, ...] = ("auto", "wait", "timeout")


class UnattendedKernel:
    """The engine's :class:`~graflow_nb._engine.presenting.NobodyWatching` for a kernel nobody watches."""

    def waits(self, request: FeedbackRequest, notification: dict[str, Any] | None, directory: Path) -> bool:
        """Whether a request nobody can see here waits; says so, and how to answer it, either way."""
        waits = waits_unattended(notification)
        tell_unattended(request, directory, waits)
        return waits


def nobody_watching() -> UnattendedKernel | None:
    """The policy for a run started now: set in a kernel nobody watches (see :func:`nobody_at_frontend`)."""
    return UnattendedKernel() if nobody_at_frontend() else None


def nobody_at_frontend() -> bool:
    """Whether the cell running now came from a client with nobody to click (papermill, nbconvert,
    nbclient, nbval): inside a kernel, its execute request did not allow stdin, and it is not Voilà."""
    kernel = running_kernel()
    if kernel is None or in_voila():
        return False
    get_parent = getattr(kernel, "get_parent", None)
    try:
        parent = get_parent("shell") if get_parent is not None else getattr(kernel, "_parent_header", {})
    except TypeError:  # an ipykernel whose get_parent takes no channel
        parent = get_parent() if get_parent is not None else {}
    content = parent.get("content") if isinstance(parent, dict) else None
    return isinstance(content, dict) and content.get("allow_stdin") is False


def policy() -> Policy:
    """``$GRAFLOW_NB_UNATTENDED``, checked (ValueError naming the choices)."""
    value = os.environ.get(UNATTENDED_ENV, "auto").strip().lower() or "auto"
    chosen = next((choice for choice in _POLICIES if choice == value), None)
    if chosen is None:
        raise ValueError(f"{UNATTENDED_ENV} must be one of {', '.join(_POLICIES)}, not {value!r}")
    return chosen


def waits_unattended(notification: dict[str, Any] | None) -> bool:
    """Whether a request nobody can see here should wait (see the module's docstring)."""
    chosen = policy()
    if chosen == "auto":
        return notification is not None and notifications_enabled()
    return chosen == "wait"


def tell_unattended(request: FeedbackRequest, directory: str | os.PathLike[str], waits: bool) -> None:
    """Say what waits and how to answer it, in the cell's stderr and on the client's terminal."""
    told = request.notification
    if waits:
        then = (
            f"waiting for an answer (people were told by {told['type']})"
            if told and notifications_enabled()
            else f"waiting for an answer ({UNATTENDED_ENV}=wait)"
        )
    else:
        then = (
            "not waiting: nobody was told of it, so it times out now (the run pauses, to be resumed once "
            f"it is answered; {UNATTENDED_ENV}=wait waits instead, or replay an answers file)"
        )
    commands = cli_hint(request, directory).replace("\n", "\n    ")
    text = (
        f"graflow_nb: nobody can click in this notebook's run (papermill, nbconvert or nbclient), so: "
        f"{request.feedback_type.value} {request.feedback_id} ({request.workflow} / {request.task_id}): "
        f"{plain_prompt(request.prompt)}\n  answer it from a terminal:\n    {commands}\n  {then}\n"
    )
    # ipykernel copies what reaches the process's stderr into the cell as well: write there once
    captured = getattr(sys.stderr, "_should_watch", False)
    streams = [sys.__stderr__] if captured else [sys.stderr, sys.__stderr__]
    for stream in {id(s): s for s in streams if s is not None}.values():
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # a closed terminal must not stop the run
            continue
