"""graflow_nb: Graflow's human-in-the-loop workflows, in Jupyter notebooks and scripts.

Write workflows as Graflow's guide does, with only the import changed::

    from graflow_nb import TaskExecutionContext, task, workflow
"""

from ._answers_file import AnswersFileError, MissingAnswerError, RecordAnswers, ReplayAnswers
from ._api import pending_requests, provide_feedback
from ._channel import Channel
from ._checkpoint import CheckpointDocument, RequestRecord, RunStatus, TaskError
from ._context import TaskExecutionContext
from ._decision_table import DecisionTable, decision_log
from ._delivery import DeliveryPolicy, configure_notifications
from ._exceptions import (
    ChannelValueError,
    CheckpointDirectoryError,
    CheckpointError,
    CheckpointMismatchError,
    CheckpointVersionError,
    CorruptCheckpointError,
    CycleError,
    FeedbackAlreadySettledError,
    FeedbackNotFoundError,
    GraflowNbError,
    InvalidAnswerError,
    InvalidFeedbackRequestError,
    MissingInputError,
    NoResumableRunError,
    RunInUseError,
    RunNotCompletedError,
    UnknownTaskError,
    WorkflowCancelled,
    WorkflowDefinitionError,
    WorkflowFailed,
    WorkflowPaused,
)
from ._feedback import AnswerSource, FeedbackRequest, FeedbackResponse, FeedbackType
from ._graph import Flow, TaskWrapper, task
from ._notebook_path import set_notebook_path
from ._outcome import RunOutcome
from ._store import CheckpointStore
from ._workflow import Workflow, workflow

__all__ = [
    "AnswerSource",
    "AnswersFileError",
    "Channel",
    "ChannelValueError",
    "CheckpointDirectoryError",
    "CheckpointDocument",
    "CheckpointError",
    "CheckpointMismatchError",
    "CheckpointStore",
    "CheckpointVersionError",
    "CorruptCheckpointError",
    "CycleError",
    "DecisionTable",
    "DeliveryPolicy",
    "FeedbackAlreadySettledError",
    "FeedbackNotFoundError",
    "FeedbackRequest",
    "FeedbackResponse",
    "FeedbackType",
    "Flow",
    "GraflowNbError",
    "InvalidAnswerError",
    "InvalidFeedbackRequestError",
    "MissingAnswerError",
    "MissingInputError",
    "NoResumableRunError",
    "RecordAnswers",
    "ReplayAnswers",
    "RequestRecord",
    "RunInUseError",
    "RunNotCompletedError",
    "RunOutcome",
    "RunStatus",
    "TaskError",
    "TaskExecutionContext",
    "TaskWrapper",
    "UnknownTaskError",
    "Workflow",
    "WorkflowCancelled",
    "WorkflowDefinitionError",
    "WorkflowFailed",
    "WorkflowPaused",
    "configure_notifications",
    "decision_log",
    "pending_requests",
    "provide_feedback",
    "set_notebook_path",
    "task",
    "workflow",
]
