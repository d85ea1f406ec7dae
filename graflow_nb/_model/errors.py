"""Errors raised by graflow_nb.

Every error derives from :class:`GraflowNbError` and also from the builtin that fits it. The errors that
carry a model are defined beside it (the module in brackets), so that this module imports none::

    GraflowNbError
    ├── WorkflowDefinitionError (ValueError)      the graph cannot run as written
    │   ├── CycleError
    │   ├── UnknownTaskError (LookupError)
    │   └── MissingInputError
    ├── ChannelValueError (TypeError)             a channel value cannot be saved as data
    ├── InvalidFeedbackRequestError (ValueError)  request_feedback() called with bad arguments
    ├── InvalidAnswerError (ValueError)           an answer does not fit its request
    ├── AnswersFileError (ValueError)             an answers file cannot be read or used
    ├── MissingAnswerError (LookupError)          a replayed answers file has no answer for a request
    ├── FeedbackNotFoundError (LookupError)       no request has that feedback id
    ├── FeedbackAlreadySettledError (ValueError)  the request was answered or closed before [feedback.py]
    ├── FeedbackClosedError (LookupError)         request_feedback(): a person closed it unanswered
    ├── FeedbackTimeoutError (TimeoutError)       request_feedback(): no answer in time (uncaught: the run pauses)
    ├── DeadlineNotExtendedError (ValueError)     the request has no deadline running to extend
    ├── GraflowRedisError (ConnectionError)       the Redis of Graflow's requests or workers cannot be reached
    ├── TaskFailedOnWorkerError (RuntimeError)    a task run by a Graflow worker raised
    ├── NotebookOnlyError (RuntimeError)          a call that draws widgets, made outside a notebook
    ├── NestedRunError (RuntimeError)             a notebook ran a workflow from inside a task
    ├── CycleLimitExceededError (RuntimeError)    next_iteration() once too often (Graflow's error)
    ├── MaxStepsExceededError (RuntimeError)      the run reached execute(max_steps=...): it fails
    ├── LoopConflictError (RuntimeError)          next_task() back to a task whose later tasks still run
    ├── BlockingCallError (RuntimeError)          a call that waits, made where it would freeze an event loop
    │   └── LoopRunsWouldFreezeError              a blocking cell would freeze wf.start() runs
    ├── CheckpointError                           a checkpoint cannot be used
    │   ├── CorruptCheckpointError (ValueError)
    │   ├── CheckpointVersionError (ValueError)
    │   ├── CheckpointMismatchError (ValueError)
    │   ├── CheckpointSaveError (OSError)        a checkpoint could not be written
    │   └── CheckpointDirectoryError (PermissionError)
    ├── RunStateError                             the run is not where the call needs it to be
    │   ├── NoResumableRunError (LookupError)     no unfinished run to resume
    │   ├── RunNotFoundError (LookupError)        no run with that id in the folder
    │   ├── RunInUseError (RuntimeError)          another engine or process runs it now
    │   └── RunNotFinishedError (RuntimeError)    it still goes on (run.result(), run.wait(timeout=...))
    └── RunNotCompletedError (RuntimeError)       execute()/resume() did not complete [outcome.py]
        ├── WorkflowPaused
        ├── WorkflowCancelled
        └── WorkflowFailed
"""

from __future__ import annotations

from pathlib import Path

from .checkpoint_format import checkpoint_folders_beside


class GraflowNbError(Exception):
    """Base class of every error graflow_nb raises."""


class WorkflowDefinitionError(GraflowNbError, ValueError):
    """Raised when a workflow's graph cannot run as written; nothing has run yet."""


class CycleError(WorkflowDefinitionError):
    """Raised when the task graph contains a cycle."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(f"the workflow has a cycle: {' >> '.join(cycle)}")


class UnknownTaskError(WorkflowDefinitionError, LookupError):
    """Raised when a task id is named that the workflow does not contain."""

    def __init__(self, task_id: str, known: list[str]) -> None:
        self.task_id = task_id
        super().__init__(f"unknown task {task_id!r}; the workflow's tasks are {known}")


class MissingInputError(WorkflowDefinitionError):
    """Raised when a task parameter is provided by no upstream task, channel key or default."""

    def __init__(self, task_id: str, parameter: str, detail: str) -> None:
        self.task_id = task_id
        self.parameter = parameter
        super().__init__(f"task {task_id!r} needs parameter {parameter!r}, but {detail}")


class ChannelValueError(GraflowNbError, TypeError):
    """Raised when a channel value cannot be saved as data (see ``_util/typed_values.py`` for what can)."""

    def __init__(self, key: str, path: str, type_name: str) -> None:
        self.key = key
        where = f" at {path[:60]}{'...' if len(path) > 60 else ''}" if path else ""
        super().__init__(
            f"channel key {key!r}: value{where} of type {type_name} cannot be saved as data in a checkpoint "
            "(graflow_nb never pickles); store JSON data (str keys), tuples, sets, dates and times, Decimal, "
            "UUID, bytes, NumPy arrays and scalars (not of dtype object), pandas Series, DataFrames and Index, "
            "or pydantic models"
        )


class InvalidFeedbackRequestError(GraflowNbError, ValueError):
    """Raised inside a task when request_feedback() gets arguments that cannot make a request."""


class InvalidAnswerError(GraflowNbError, ValueError):
    """Raised when an answer does not fit its request; the request stays pending."""

    def __init__(self, feedback_id: str, message: str) -> None:
        self.feedback_id = feedback_id
        super().__init__(f"answer to {feedback_id} refused: {message}")


class FeedbackNotFoundError(GraflowNbError, LookupError):
    """Raised when no checkpoint under the directory holds a request with that feedback id."""

    def __init__(self, feedback_id: str, directory: Path | None = None, *, redis_url: str | None = None) -> None:
        self.feedback_id = feedback_id
        if redis_url is not None:  # a Graflow run's requests, kept in Redis
            super().__init__(
                f"Redis at {redis_url} has no Graflow request {feedback_id!r}; "
                f"`graflow-nb list --redis {redis_url}` shows the pending ones there"
            )
            return
        folder = (directory or Path()).absolute()
        if not folder.is_dir():
            where = (
                f"the checkpoint folder {folder} does not exist (a typo in its name, or no run has started there yet)"
            )
        else:
            where = f"no run in {folder} has a request {feedback_id!r}"
        beside = checkpoint_folders_beside(folder)
        super().__init__(f"{where}; `graflow-nb list --dir {folder}` shows the pending requests there{beside}")


class FeedbackClosedError(GraflowNbError, LookupError):
    """Raised by ``ctx.request_feedback`` in the task when a person closed the request without an answer.

    Catch it to go on without the answer; uncaught, it fails the run like any error of the task. The
    request stays closed: a resumed run's task gets this error again from the same call.
    """

    def __init__(self, feedback_id: str, closed_by: str, via: str, reason: str | None) -> None:
        self.feedback_id = feedback_id
        self.closed_by = closed_by
        self.via = via
        self.reason = reason
        why = f": {reason}" if reason else ""
        super().__init__(f"feedback request {feedback_id} was closed without an answer by {closed_by} via {via}{why}")


class FeedbackTimeoutError(GraflowNbError, TimeoutError):
    """Raised by ``ctx.request_feedback`` in the task when its timeout passes unanswered (Graflow's error).

    Uncaught, it pauses the run with a checkpoint, as the guide says: the request stays pending, and on
    resume the task runs again and gets the answer given meanwhile. A task that catches it goes on
    without the answer, and its request is closed as timed out.
    """

    def __init__(self, feedback_id: str, timeout: float, detail: str | None = None) -> None:
        self.feedback_id = feedback_id
        self.timeout = timeout
        #: Why the run pauses if the task lets this error through (the run's reason).
        self.detail = detail or f"no answer to {feedback_id} within {timeout:g} s"
        super().__init__(f"feedback request {feedback_id} timed out after {timeout:g} seconds")

    def __reduce__(self) -> tuple[type[FeedbackTimeoutError], tuple[str, float, str]]:
        return (type(self), (self.feedback_id, self.timeout, self.detail))


class GraflowRedisError(GraflowNbError, ConnectionError):
    """Raised when the Redis that keeps a Graflow run's requests cannot be reached or used."""


class TaskFailedOnWorkerError(GraflowNbError, RuntimeError):
    """A task run by one of Graflow's workers raised: its error's type and message, and (as a note) where."""

    def __init__(self, task_id: str, worker: str, error_type: str, message: str, remote_traceback: str) -> None:
        self.task_id = task_id
        self.worker = worker
        self.error_type = error_type
        self.remote_traceback = remote_traceback
        super().__init__(f"{error_type}: {message} (on Graflow worker {worker})")
        self.__notes__ = [f"The task's traceback on the worker:\n{remote_traceback.rstrip()}"]


class NotebookOnlyError(GraflowNbError, RuntimeError):
    """Raised by a call that draws widgets (a panel) where there is no notebook to draw them in."""


class DeadlineNotExtendedError(GraflowNbError, ValueError):
    """A deadline could not be extended: the request has no timeout, is settled, or is not waiting now."""

    def __init__(self, feedback_id: str, detail: str) -> None:
        self.feedback_id = feedback_id
        super().__init__(f"the deadline of {feedback_id} cannot be extended: {detail}")


class AnswersFileError(GraflowNbError, ValueError):
    """Raised when an answers file cannot be read or used."""


class MissingAnswerError(GraflowNbError, LookupError):
    """Raised in a task when a replayed answers file has no answer for its request."""

    def __init__(self, path: Path, request: str, entry: str, *, can_record: bool = True) -> None:
        """``request`` describes the request; ``entry`` is the JSON entry that would answer it."""
        record = ", or record the answers once with GRAFLOW_NB_ANSWERS_MODE=record" if can_record else ""
        super().__init__(f"{path.absolute()} has no answer for {request}; add {entry} to its answers{record}")


class NestedRunError(GraflowNbError, RuntimeError):
    """Raised when a notebook runs a workflow from inside another workflow's task, where its requests
    could be shown nowhere."""

    def __init__(self, workflow: str, task_id: str) -> None:
        super().__init__(
            f"workflow {workflow!r} was run from inside task {task_id!r}: in a notebook a workflow runs from "
            "a cell, where its panel is drawn; from inside a task its requests could be shown nowhere. Run it "
            "from a cell, or make its tasks part of the outer workflow"
        )


class CycleLimitExceededError(GraflowNbError, RuntimeError):
    """Raised by ``ctx.next_iteration()`` when the task has iterated as often as a run allows."""

    def __init__(self, task_id: str, cycle_count: int, max_cycles: int) -> None:
        self.task_id = task_id
        self.cycle_count = cycle_count
        self.max_cycles = max_cycles
        super().__init__(f"task {task_id!r} has iterated {cycle_count} times, the most a run allows ({max_cycles})")


class MaxStepsExceededError(GraflowNbError, RuntimeError):
    """The run has completed ``max_steps`` task executions and would start another: it fails (a loop
    that never ends is stopped here)."""

    def __init__(self, max_steps: int, task_id: str) -> None:
        self.max_steps = max_steps
        self.task_id = task_id
        super().__init__(
            f"the run reached max_steps={max_steps} task executions before running {task_id!r} again; "
            "a loop that should end did not (raise max_steps if it is meant to run longer)"
        )


class LoopConflictError(GraflowNbError, RuntimeError):
    """A task sent the run back to a task (``next_task``) while tasks after that one still run: the
    run fails rather than run them twice at once."""

    def __init__(self, task_id: str, target: str, running: list[str]) -> None:
        self.task_id = task_id
        self.target = target
        self.running = running
        super().__init__(
            f"task {task_id!r} sent the run back to {target!r}, but {', '.join(map(repr, running))} after it "
            "still run; go back only from a branch that nothing else runs beside"
        )


class BlockingCallError(GraflowNbError, RuntimeError):
    """Raised when a call that waits is made on an event loop it would freeze: a blocking
    ``ctx.request_feedback`` from an ``async def`` task, ``run.wait()`` in a notebook cell."""


class LoopRunsWouldFreezeError(BlockingCallError):
    """Raised when a cell would block (``wf.execute()``) while runs started with ``wf.start()`` go on in the
    kernel's event loop, which a blocking cell would freeze."""

    def __init__(self, running: list[str]) -> None:
        super().__init__(
            f"runs started with wf.start() are still going in this kernel ({', '.join(running)}); a blocking "
            "wf.execute() would freeze them until it ends. `await` those runs first, or use "
            "`run = wf.start()` and `await run` here too"
        )


class CheckpointError(GraflowNbError):
    """Base class of errors about checkpoint files."""


class CorruptCheckpointError(CheckpointError, ValueError):
    """Raised when a checkpoint file is unreadable, not graflow_nb's, or tampered with."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        super().__init__(f"checkpoint {path} cannot be loaded: {detail}")


class CheckpointVersionError(CheckpointError, ValueError):
    """Raised when a checkpoint was written by a newer schema version than this graflow_nb reads."""

    def __init__(self, path: Path, found: int, supported: int) -> None:
        self.path = path
        super().__init__(
            f"checkpoint {path} has schema version {found}; this graflow_nb reads up to "
            f"version {supported}. Upgrade graflow_nb to resume it."
        )


class CheckpointSaveError(CheckpointError, OSError):
    """Raised (as the cause of a failed run) when a checkpoint could not be written: a full disk, a folder
    that became unwritable, or a value that cannot be encoded. The last good checkpoint is kept."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        super().__init__(
            f"could not save the checkpoint {path}: {detail}; the last good checkpoint is kept, so the run "
            "can be resumed from it once that is fixed"
        )


class CheckpointMismatchError(CheckpointError, ValueError):
    """Raised when a checkpoint was written by a different definition of the workflow."""


class CheckpointDirectoryError(CheckpointError, PermissionError):
    """Raised before a run starts when its checkpoint directory cannot be written."""

    def __init__(self, directory: Path, detail: str) -> None:
        self.directory = directory
        super().__init__(
            f"cannot write checkpoints to {directory} ({detail}); choose a writable folder with "
            "workflow(..., checkpoint_dir=...) or the GRAFLOW_NB_CHECKPOINT_DIR environment variable"
        )


class RunStateError(GraflowNbError):
    """Base class of errors about where a run stands: nothing to resume, in use, not finished yet."""


class NoResumableRunError(RunStateError, LookupError):
    """Raised by resume() when no unfinished run of the workflow exists."""


class RunNotFoundError(RunStateError, LookupError):
    """Raised when the checkpoint folder holds no run with that run id."""

    def __init__(self, run_id: str, directory: Path) -> None:
        self.run_id = run_id
        folder = directory.absolute()
        if not folder.is_dir():
            where = f"the checkpoint folder {folder} does not exist (a typo in the folder, or no run has started there)"
        else:
            where = f"no run {run_id!r} in {folder}"
        super().__init__(
            f"{where}; `graflow-nb list --dir {folder}` shows the runs there{checkpoint_folders_beside(folder)}"
        )


class RunInUseError(RunStateError, RuntimeError):
    """Raised when resuming a run that a live process is still executing."""


class RunNotFinishedError(RunStateError, RuntimeError):
    """Raised when a run's result is asked for while it still goes on, or ``run.wait(timeout=...)`` ran out."""


class UnsavedResultWarning(UserWarning):
    """A task returned a value a JSON checkpoint cannot hold: it is kept in memory only, and the task
    runs again if the run is resumed from its checkpoint."""


class SwallowedStopWarning(UserWarning):
    """A task caught the stop graflow_nb raised into it (pause, cancel) and returned anyway: its result is
    not kept and it runs again on resume."""
