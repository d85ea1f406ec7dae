"""Answers given ahead of time, for runs with no person (nbval, papermill, CI), and recording them.

An answers file is JSON::

    {"version": 1, "answers": [
        {"task": "approve", "call": 0, "answer": {"approved": true}},
        {"key": "deploy-window", "answer": {"value": [2, 5]}},
        {"workflow": "review", "task": "choose", "call": 1, "answer": {"selected": "staging"}},
        {"task": "approve_later", "call": 0, "let_time_out": true}
    ]}

A request matches an entry by its ``key`` (``request_feedback(..., key="deploy-window")``), else by
task id and call order within the task (and the workflow's name, when the entry gives one). In a loop,
``"visit": N`` names the task's N-th run after its first (0, the default, is the first).

* replay (``GRAFLOW_NB_ANSWERS=answers.json``): each request is answered from the file at once,
  ``via="replay"``; a request the file does not answer fails its task at once with
  :class:`MissingAnswerError` naming it — a replay never hangs.
  ``let_time_out`` gives no answer, so that a request with a ``timeout`` pauses the run (an answer
  can then come from the CLI or the API, and the run be resumed, as in a live session).
* record (``GRAFLOW_NB_ANSWERS_MODE=record``): the answers people give are added to the file.
"""

from __future__ import annotations

import difflib
import json
import os
import threading
import warnings
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .._model.errors import AnswersFileError, InvalidAnswerError, MissingAnswerError
from .._model.feedback import FeedbackRequest, FeedbackResponse, given_fields
from .._model.feedback_kinds import ANSWER_FIELDS, MAIN_ANSWER_FIELD, FeedbackType
from .._util.atomic import read_regular_file, write_atomically
from .._util.background import background_writes
from .._util.environment import ANSWERS_ENV, ANSWERS_MODE_ENV
from .._util.jsonable import to_json_data

if TYPE_CHECKING:
    from .._engine.presenting import FeedbackPresenter, RunView, TaskState


#: The largest answers file read (a few thousand answers are a few MB).
ANSWERS_FILE_LIMIT = 256 * 2**20


class RecordedAnswer(BaseModel):
    """One answer in an answers file."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    workflow: str | None = None
    task: str | None = None
    call: int | None = Field(default=None, ge=0)
    visit: int | None = Field(default=None, ge=0, description="Which run of the task, in a loop (default: the first).")
    key: str | None = None
    answer: dict[str, Any] = Field(default_factory=dict)
    let_time_out: bool | None = Field(
        default=None, description="Give no answer, so that the request's timeout pauses the run."
    )
    responded_by: str | None = None

    @model_validator(mode="after")
    def _answers_or_lets_time_out(self) -> RecordedAnswer:
        known = [*ANSWER_FIELDS, "closed"]
        unknown = sorted(set(self.answer) - set(known))
        if unknown:
            hint = " ('via' is always 'replay'; name the person with 'responded_by')" if "via" in unknown else ""
            raise ValueError(f"unknown answer fields {unknown}; use {known}{hint}")
        if not self.answer and not self.let_time_out:
            raise ValueError("an entry needs an 'answer' (or 'let_time_out': true)")
        if self.key is None and (self.task is None or self.call is None):
            raise ValueError("an entry needs a 'key', or a 'task' and a 'call'")
        return self

    def matches(self, request: FeedbackRequest) -> bool:
        """Whether this entry answers ``request``."""
        if self.key is not None:
            return self.key == request.key and self.visit in (None, request.visit)
        return (
            self.task == request.task_id
            and self.call == request.call_index
            and (self.visit or 0) == request.visit
            and self.workflow in (None, request.workflow)
        )


class AnswersDocument(BaseModel):
    """A whole answers file."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    version: Literal[1] = 1
    answers: list[RecordedAnswer] = Field(default_factory=list)


def load_answers(path: Path) -> AnswersDocument:
    """Read an answers file; a missing file is empty; a damaged one raises AnswersFileError naming it."""
    try:
        raw = read_regular_file(path, ANSWERS_FILE_LIMIT)
    except FileNotFoundError:
        return AnswersDocument()
    except OSError as error:
        raise AnswersFileError(f"answers file {path.absolute()} cannot be read: {error.strerror}") from None
    try:
        return AnswersDocument.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise AnswersFileError(
            f"answers file {path.absolute()} is not usable: {_entry_name(first['loc'])}: {first['msg']}"
        ) from None


def _entry_name(location: tuple[int | str, ...]) -> str:
    """``entry 3 (answers[2])``, or the field's path outside the entries."""
    if len(location) >= 2 and location[0] == "answers" and isinstance(location[1], int):
        rest = ".".join(str(part) for part in location[2:])
        return f"entry {location[1] + 1} (answers[{location[1]}]{'.' + rest if rest else ''})"
    return ".".join(str(part) for part in location) or "(file)"


class ReplayAnswers:
    """A presenter that answers every request from an answers file, or fails the task at once."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise AnswersFileError(
                f"answers file {self.path.absolute()} does not exist (relative paths start at the working "
                f"directory, {Path.cwd()}); record one with {ANSWERS_MODE_ENV}=record where people can answer"
            )
        self.document = load_answers(self.path)

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        """Answer the request from the file, or make its task fail with MissingAnswerError."""
        entry = next((e for e in self.document.answers if e.matches(request)), None)
        if entry is None:
            named = [e.task for e in self.document.answers if e.task is not None]
            missing = _missing_answer(request, self.path, can_record=run.unattended is None, tasks_named=named)
            run.refuse(request.feedback_id, missing)
            return
        if entry.let_time_out:
            if request.timeout is None:
                run.refuse(
                    request.feedback_id,
                    AnswersFileError(f"{self.path}: let_time_out for a request with no timeout would wait forever"),
                )
            run.let_time_out(request.feedback_id)
            return
        try:
            run.answer(request.feedback_id, via="replay", responded_by=entry.responded_by or "replay", **entry.answer)
        except InvalidAnswerError as error:
            run.refuse(request.feedback_id, InvalidAnswerError(request.feedback_id, f"{self.path}: {error}"))

    def task_changed(self, run: RunView, task_id: str, state: TaskState) -> None:
        """Nothing to do."""

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """Nothing to do."""

    def run_ended(self, run: RunView) -> None:
        """Nothing to do."""


class RecordAnswers:
    """A presenter that adds every answer people give to an answers file, for later replays."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        folder = self.path.parent if self.path.parent != Path() else Path.cwd()
        if self.path.is_dir() or not os.access(folder if folder.exists() else folder.parent, os.W_OK):
            raise AnswersFileError(
                f"answers file {self.path.absolute()} cannot be written (record mode): choose a file in a "
                "folder you can write to"
            )

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """Save the answer (replacing an earlier one for the same request)."""
        if response is None or response.via == "replay":
            return
        given = given_fields(response)
        entry = RecordedAnswer(
            workflow=request.workflow,
            task=None if request.key else request.task_id,
            call=None if request.key else request.call_index,
            visit=request.visit or None,
            key=request.key,
            answer=to_json_data(given),
            responded_by=response.responded_by,
        )
        background_writes.run(partial(self._record, request, entry))  # never on an event loop's thread

    def _record(self, request: FeedbackRequest, entry: RecordedAnswer) -> None:
        with self._lock:
            try:
                document = load_answers(self.path)
                kept = [e for e in document.answers if not e.matches(request)]
                updated = AnswersDocument(answers=[*kept, entry])
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(self.path, updated.model_dump_json(indent=2, exclude_none=True).encode())
            except (OSError, AnswersFileError) as error:  # the answer was used; only recording it failed
                warnings.warn(
                    f"the answer to {request.feedback_id} was used but not recorded in {self.path.absolute()}: "
                    f"{getattr(error, 'strerror', None) or error}",
                    stacklevel=2,
                )

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        """Nothing to do: people answer."""

    def task_changed(self, run: RunView, task_id: str, state: TaskState) -> None:
        """Nothing to do."""

    def run_ended(self, run: RunView) -> None:
        """Nothing to do."""


_chosen: tuple[Path, str] | None = None  # use_answers()'s file and mode, for every workflow of this process


def use_answers(path: str | os.PathLike[str] | None, *, mode: Literal["replay", "record"] = "replay") -> None:
    """Answer every workflow run from now on in this process (a notebook's kernel) from an answers file.

    ``mode="record"`` adds the answers people give to it instead. ``None`` stops. A run's own
    ``answers=`` still comes first; ``$GRAFLOW_NB_ANSWERS`` comes after. For papermill, pass the file
    as a parameter and call this in the notebook's first cell.
    """
    global _chosen  # noqa: PLW0603 - one choice per process, as the environment variable is
    if mode not in ("replay", "record"):
        raise ValueError(f"mode must be 'replay' or 'record', not {mode!r}")
    if path is None:
        _chosen = None
        return
    chosen = Path(path).absolute()
    if mode == "replay":
        ReplayAnswers(chosen)  # a missing or damaged file is an error now, in the cell that named it
    _chosen = (chosen, mode)


def answer_presenters(answers: str | os.PathLike[str] | None = None) -> list[FeedbackPresenter]:
    """The presenters an answers file calls for: the ``answers`` argument, else :func:`use_answers`'s
    file, else ``$GRAFLOW_NB_ANSWERS``."""
    if answers is None and _chosen is not None:
        chosen, chosen_mode = _chosen
        return [RecordAnswers(chosen)] if chosen_mode == "record" else [ReplayAnswers(chosen)]
    path = answers if answers is not None else os.environ.get(ANSWERS_ENV)
    if not path:
        return []
    mode = os.environ.get(ANSWERS_MODE_ENV, "replay")
    if mode == "record":
        return [RecordAnswers(path)]
    if mode != "replay":
        raise AnswersFileError(f"{ANSWERS_MODE_ENV} must be 'replay' or 'record', not {mode!r}")
    return [ReplayAnswers(path)]


def _missing_answer(
    request: FeedbackRequest, path: Path, *, can_record: bool, tasks_named: Sequence[str] = ()
) -> MissingAnswerError:
    """The error for a request the file has no answer for, with the entry that would answer it (an
    answer of the right shape to edit) and, for a task name the file misspells, the name it has."""
    where: dict[str, Any] = {"workflow": request.workflow, "task": request.task_id, "call": request.call_index}
    if request.visit:
        where["visit"] = request.visit
    entry = json.dumps({**where, "answer": {MAIN_ANSWER_FIELD[request.feedback_type.value]: _an_answer(request)}})
    round_of = f" (run {request.visit + 1} of the task, in a loop)" if request.visit else ""
    described = (
        f"{request.feedback_type.value} request {request.call_index} of task {request.task_id!r}{round_of} "
        f"in workflow {request.workflow!r} ({request.prompt!r})"
    )
    close = difflib.get_close_matches(request.task_id, [t for t in tasks_named if t != request.task_id], n=1)
    if close:
        described += f"; the file answers task {close[0]!r}: a typo for {request.task_id!r}?"
    return MissingAnswerError(path, described, entry, can_record=can_record)


def _an_answer(request: FeedbackRequest) -> Any:
    """An answer of the request's kind to start from (its default, else the first option, else a blank)."""
    if request.default is not None:
        return request.default
    kind = request.feedback_type
    options = request.options or []
    if kind is FeedbackType.APPROVAL:
        return True
    if kind is FeedbackType.SELECTION and options:
        return options[0]
    if kind is FeedbackType.MULTI_SELECTION:
        return options[:1]
    if kind is FeedbackType.NUMBER:
        low = request.min if request.min is not None else 0
        return [low, low] if request.value_range else low
    if kind in (FeedbackType.FORM, FeedbackType.CUSTOM):
        return {}
    return "..."
