"""graflow_nb: Graflow's human-in-the-loop workflows, in Jupyter notebooks and scripts.

Write workflows as Graflow's guide does, with only the import changed::

    from graflow_nb import TaskExecutionContext, task, workflow

Each name loads on first use: the guide's import line loads only what defining a workflow needs, the
first run the engine, and pydantic with the checkpoint's models only once a run asks a person or
reads a checkpoint.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._model.errors import (
    AnswersFileError,
    BlockingCallError,
    ChannelValueError,
    CheckpointDirectoryError,
    CheckpointError,
    CheckpointMismatchError,
    CheckpointSaveError,
    CheckpointVersionError,
    CorruptCheckpointError,
    CycleError,
    CycleLimitExceededError,
    DeadlineNotExtendedError,
    FeedbackClosedError,
    FeedbackNotFoundError,
    FeedbackTimeoutError,
    GraflowNbError,
    GraflowRedisError,
    InvalidAnswerError,
    InvalidFeedbackRequestError,
    LoopConflictError,
    LoopRunsWouldFreezeError,
    MaxStepsExceededError,
    MissingAnswerError,
    MissingInputError,
    NestedRunError,
    NoResumableRunError,
    NotebookOnlyError,
    RunInUseError,
    RunNotFinishedError,
    RunNotFoundError,
    RunStateError,
    SwallowedStopWarning,
    TaskFailedOnWorkerError,
    UnknownTaskError,
    UnsavedResultWarning,
    WorkflowDefinitionError,
)

if TYPE_CHECKING:
    from ._api.graflow import watch_graflow
    from ._api.workflow import Workflow, workflow
    from ._definition.graph import Flow, TaskWrapper, task
    from ._engine.answering import close_feedback, pending_requests, provide_feedback
    from ._engine.channel import Channel
    from ._engine.context import TaskExecutionContext
    from ._engine.execution_context import ExecutionContext, FeedbackManager
    from ._engine.extending import extend_deadline
    from ._engine.presenting import FeedbackPresenter, RunView, TaskState
    from ._engine.run_handle import PendingRequest, RunHandle
    from ._frontends.answers_file import RecordAnswers, ReplayAnswers, use_answers
    from ._io.decision_table import DecisionTable, decision_log
    from ._io.delivery import DeliveryPolicy, configure_notifications
    from ._io.notebook_path import set_notebook_path
    from ._io.store import CheckpointStore
    from ._model.checkpoint import CheckpointDocument, RequestRecord, TaskError
    from ._model.feedback import (
        ApprovalResponse,
        CustomResponse,
        FeedbackAlreadySettledError,
        FeedbackRequest,
        FeedbackResponse,
        FormResponse,
        MultiSelectionResponse,
        NumberResponse,
        SelectionResponse,
        TextResponse,
    )
    from ._model.feedback_handler import FeedbackHandler
    from ._model.feedback_kinds import AnswerSource, FeedbackType
    from ._model.outcome import (
        GraflowWorkflowCanceledError,
        RunNotCompletedError,
        RunOutcome,
        WorkflowCancelled,
        WorkflowFailed,
        WorkflowPaused,
    )
    from ._model.status import RunStatus

#: Names loaded on first use, by module.
_LAZY = {
    # the guide's import line: what defining a workflow needs (the graflow-nb command needs none of it)
    "._api.workflow": ("Workflow", "workflow"),
    "._definition.graph": ("Flow", "TaskWrapper", "task"),
    "._engine.channel": ("Channel",),
    "._engine.context": ("TaskExecutionContext",),
    "._frontends.answers_file": ("RecordAnswers", "ReplayAnswers", "use_answers"),
    "._engine.answering": ("close_feedback", "pending_requests", "provide_feedback"),
    "._model.checkpoint": ("CheckpointDocument", "RequestRecord", "TaskError"),
    "._model.status": ("RunStatus",),
    "._api.graflow": ("watch_graflow",),
    "._engine.execution_context": ("ExecutionContext", "FeedbackManager"),
    "._engine.extending": ("extend_deadline",),
    "._engine.presenting": ("FeedbackPresenter", "RunView", "TaskState"),
    "._engine.run_handle": ("PendingRequest", "RunHandle"),
    "._io.decision_table": ("DecisionTable", "decision_log"),
    "._io.delivery": ("DeliveryPolicy", "configure_notifications"),
    "._model.feedback_kinds": ("AnswerSource", "FeedbackType"),
    "._model.feedback": (
        "ApprovalResponse",
        "CustomResponse",
        "FormResponse",
        "MultiSelectionResponse",
        "NumberResponse",
        "SelectionResponse",
        "TextResponse",
        "FeedbackAlreadySettledError",
        "FeedbackRequest",
        "FeedbackResponse",
    ),
    "._io.notebook_path": ("set_notebook_path",),
    "._model.feedback_handler": ("FeedbackHandler",),
    "._model.outcome": (
        "GraflowWorkflowCanceledError",
        "RunNotCompletedError",
        "RunOutcome",
        "WorkflowCancelled",
        "WorkflowFailed",
        "WorkflowPaused",
    ),
    "._io.store": ("CheckpointStore",),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read from the installed package's metadata, on first use
        from importlib.metadata import version

        return version("graflow-nb")
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'graflow_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The jupyter_server extension graflow_nb ships: the approvers' pages (``_frontends/web``)."""
    return [{"module": "graflow_nb._frontends.web"}]


__all__ = [
    "AnswerSource",
    "AnswersFileError",
    "ApprovalResponse",
    "BlockingCallError",
    "Channel",
    "ChannelValueError",
    "CheckpointDirectoryError",
    "CheckpointDocument",
    "CheckpointError",
    "CheckpointMismatchError",
    "CheckpointSaveError",
    "CheckpointStore",
    "CheckpointVersionError",
    "CorruptCheckpointError",
    "CustomResponse",
    "CycleError",
    "CycleLimitExceededError",
    "DeadlineNotExtendedError",
    "DecisionTable",
    "DeliveryPolicy",
    "ExecutionContext",
    "FeedbackAlreadySettledError",
    "FeedbackClosedError",
    "FeedbackHandler",
    "FeedbackManager",
    "FeedbackNotFoundError",
    "FeedbackPresenter",
    "FeedbackRequest",
    "FeedbackResponse",
    "FeedbackTimeoutError",
    "FeedbackType",
    "Flow",
    "FormResponse",
    "GraflowNbError",
    "GraflowRedisError",
    "GraflowWorkflowCanceledError",
    "InvalidAnswerError",
    "InvalidFeedbackRequestError",
    "LoopConflictError",
    "LoopRunsWouldFreezeError",
    "MaxStepsExceededError",
    "MissingAnswerError",
    "MissingInputError",
    "MultiSelectionResponse",
    "NestedRunError",
    "NoResumableRunError",
    "NotebookOnlyError",
    "NumberResponse",
    "PendingRequest",
    "RecordAnswers",
    "ReplayAnswers",
    "RequestRecord",
    "RunHandle",
    "RunInUseError",
    "RunNotCompletedError",
    "RunNotFinishedError",
    "RunNotFoundError",
    "RunOutcome",
    "RunStateError",
    "RunStatus",
    "RunView",
    "SelectionResponse",
    "SwallowedStopWarning",
    "TaskError",
    "TaskExecutionContext",
    "TaskFailedOnWorkerError",
    "TaskState",
    "TaskWrapper",
    "TextResponse",
    "UnknownTaskError",
    "UnsavedResultWarning",
    "Workflow",
    "WorkflowCancelled",
    "WorkflowDefinitionError",
    "WorkflowFailed",
    "WorkflowPaused",
    "close_feedback",
    "configure_notifications",
    "decision_log",
    "extend_deadline",
    "pending_requests",
    "provide_feedback",
    "set_notebook_path",
    "task",
    "use_answers",
    "watch_graflow",
    "workflow",
]
