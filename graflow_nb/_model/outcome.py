"""What a run ended as: :class:`RunOutcome`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import FeedbackClosedError, GraflowNbError
from .status import RunStatus

if TYPE_CHECKING:  # the checkpoint models (pydantic) load with the first run, not with WorkflowPaused
    from .checkpoint import TaskError


class RunResults(Protocol):
    """What a run's tasks returned, by task id (Graflow's ``ExecutionContext.get_result``)."""

    def get_result(self, task_id: str, default: Any = None) -> Any: ...


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: its status, why, its result, what it waits for, and where it is saved."""

    workflow: str
    run_id: str
    status: RunStatus
    checkpoint_path: Path
    reason: str | None = None
    result: Any = None
    pending_feedback_ids: tuple[str, ...] = ()
    error: TaskError | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    #: The run's execution context (each task's result, the channel): ``execute(ret_context=True)``'s.
    context: RunResults | None = field(default=None, compare=False, repr=False)

    @property
    def completed(self) -> bool:
        """Whether the run completed (including an early terminate_workflow)."""
        return self.status is RunStatus.COMPLETED

    def describe(self) -> str:
        """One paragraph for people: what happened and what to do next."""
        head = f"workflow {self.workflow!r} run {self.run_id} {self.status.value}"
        if self.reason:
            head += f": {self.reason}"
        lines = [head]
        if self.pending_feedback_ids:
            lines.append(f"pending feedback: {', '.join(self.pending_feedback_ids)}")
            lines.append(
                "answer with graflow_nb.provide_feedback(...) or "
                f"`graflow-nb answer <feedback_id> --dir {self.checkpoint_path.parent.absolute()}`, "
                "then resume the run: run the script, the workflow's cell or the notebook again (or wf.resume())"
            )
        if self.status is RunStatus.FAILED and isinstance(self.exception, FeedbackClosedError):
            lines.append(
                "resuming the run fails it the same way (the request stays closed): catch FeedbackClosedError in "
                f"the task to go on without the answer, or end the run with `graflow-nb cancel {self.run_id}` "
                "and start afresh (resume=False)"
            )
        lines.append(f"checkpoint: {self.checkpoint_path}")
        return "\n".join(lines)

    def raise_for_status(self) -> Any:
        """Return the result if the run completed; raise WorkflowPaused/Cancelled/Failed otherwise."""
        if self.status is RunStatus.PAUSED:
            raise WorkflowPaused(self)
        if self.status is RunStatus.CANCELLED:
            raise WorkflowCancelled(self)
        if self.status is RunStatus.FAILED:
            raise WorkflowFailed(self) from self.exception
        return self.result


class RunNotCompletedError(GraflowNbError, RuntimeError):
    """Raised by execute() and resume() when the run ends other than completed.

    ``outcome`` holds the run's status, reason, pending feedback ids and checkpoint path.
    """

    def __init__(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        super().__init__(outcome.describe())


class WorkflowPaused(RunNotCompletedError):  # noqa: N818 - named after the run state
    """Raised when the run paused waiting for feedback; answer it, then call resume()."""


class WorkflowCancelled(RunNotCompletedError):  # noqa: N818 - named after the run state
    """Raised when a task called ctx.cancel_workflow(reason)."""


#: Graflow's name for it (``from graflow.exceptions import GraflowWorkflowCanceledError``).
GraflowWorkflowCanceledError = WorkflowCancelled


class WorkflowFailed(RunNotCompletedError):  # noqa: N818 - named after the run state
    """Raised when a task raised an error; the work done before it is checkpointed."""
