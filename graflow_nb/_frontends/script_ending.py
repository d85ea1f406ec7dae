"""How a script ends when its run paused, was cancelled or was interrupted: with graflow_nb's message
(what happened, what is pending, how to go on), not a traceback through the engine. These ends are
outcomes a person expects, not crashes; any other exception is shown as Python shows it."""

from __future__ import annotations

import sys
import threading
from types import TracebackType

_installing = threading.Lock()


class SavedRunInterrupt(KeyboardInterrupt):
    """Ctrl-C in a script: the run saved itself as paused (the message says how to continue it)."""


def end_scripts_in_one_message() -> None:
    """Make an uncaught WorkflowPaused, WorkflowCancelled or SavedRunInterrupt end a script with its
    message alone (once per process; Python's own hook, or the one set before, shows the rest)."""
    with _installing:
        shown_before = sys.excepthook
        if getattr(shown_before, "ends_scripts_in_one_message", False):
            return

        def show(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
            from .._model.outcome import WorkflowCancelled, WorkflowPaused

            if isinstance(error, (WorkflowPaused, WorkflowCancelled, SavedRunInterrupt)):
                sys.stderr.write(f"{error}\n")
                sys.stderr.flush()
                return
            shown_before(kind, error, trace)

        show.ends_scripts_in_one_message = True  # type: ignore[attr-defined]
        sys.excepthook = show
