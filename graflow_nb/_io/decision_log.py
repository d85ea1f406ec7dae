"""The decision log: an append-only JSON Lines file of every request, answer, refusal and timeout.

It sits beside the checkpoints (``<checkpoint_dir>/decisions.jsonl``) and answers "who approved
this?" long after the run. Every entry is one line written with a single ``write`` on a file opened
for appending, so entries from several processes (a notebook, the CLI) never interleave.
"""

from __future__ import annotations

import json
import os
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from .._model.feedback import FeedbackRequest, FeedbackResponse
from .._model.feedback_kinds import MAIN_ANSWER_FIELD, AnswerSource, default_responder
from .._util.background import background_writes
from .._util.clock import utc_now
from .._util.jsonable import to_json_data

#: The file name of the log inside a checkpoint directory.
DECISION_LOG_NAME = "decisions.jsonl"

#: What an entry records (``refused``: an answer that did not fit, or came too late; logs written before
#: 2026-12-04 called it ``rejected``, read as ``refused``: it is not an approval's rejection).
DecisionEvent = Literal["requested", "answered", "refused", "extended", "timed_out", "closed"]
_OLD_NAMES = {"rejected": "refused"}


class DecisionLog:
    """Appends entries to, and reads, one checkpoint directory's decision log."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / DECISION_LOG_NAME

    def requested(self, request: FeedbackRequest) -> None:
        """A task asked a new question."""
        self._append("requested", request, options=request.options, timeout=request.timeout)

    def answered(self, request: FeedbackRequest, response: FeedbackResponse) -> None:
        """The first valid answer was filed (this happens once per request, in whichever process won);
        a closure is logged as ``closed``, with who closed it and why."""
        if response.closed:
            self._append(
                "closed",
                request,
                by=response.responded_by,
                via=response.via,
                reason=response.reason,
                at=response.responded_at.isoformat(),
            )
            return
        self._append(
            "answered",
            request,
            by=response.responded_by,
            via=response.via,
            answer=response.summary(),
            value=_answer_value(response),
            at=response.responded_at.isoformat(),
        )

    def refused(
        self,
        request: FeedbackRequest,
        reason: str,
        *,
        answer: dict[str, Any],
        via: AnswerSource,
        responded_by: str | None,
    ) -> None:
        """An answer was refused: it did not fit, or the request was already settled."""
        given = {key: value for key, value in answer.items() if value is not None}
        self._append(
            "refused",
            request,
            by=responded_by or default_responder(),
            via=via,
            value=to_json_data(given),
            reason=reason,
        )

    def extended(self, request: FeedbackRequest, deadline: datetime, *, by: str, via: AnswerSource) -> None:
        """Someone gave people more time: the request now times out at ``deadline``."""
        self._append("extended", request, by=by, via=via, deadline=deadline.isoformat())

    def timed_out(self, request: FeedbackRequest, why: str | None = None) -> None:
        """Nobody answered within the request's timeout (or ``why`` nobody could); the run pauses."""
        self._append("timed_out", request, timeout=request.timeout, reason=why)

    def closed(self, request: FeedbackRequest, reason: str | None) -> None:
        """The run ended (cancelled, failed, completed) with the request still unanswered."""
        self._append("closed", request, reason=reason)

    def _append(self, event: DecisionEvent, request: FeedbackRequest, **details: Any) -> None:
        entry = {
            "at": utc_now().isoformat(),
            "event": event,
            "feedback_id": request.feedback_id,
            "workflow": request.workflow,
            "run_id": request.run_id,
            "task_id": request.task_id,
            "feedback_type": request.feedback_type.value,
            "prompt": request.prompt,
            **{key: value for key, value in details.items() if value is not None},
        }
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode()
        background_writes.run(partial(self._write_line, line))  # never on an event loop's thread

    def _write_line(self, line: bytes) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # never through a link: a folder from elsewhere must not make us append to a file elsewhere
            descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            try:
                _append_whole_line(descriptor, line)
            finally:
                os.close(descriptor)
        except OSError as error:  # the log must never stop a run; say so instead
            warnings.warn(f"could not append to the decision log {self.path}: {error}", stacklevel=2)

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry, oldest first (this process's own appends included); a damaged line is skipped
        with a warning naming it."""
        background_writes.wait()
        try:
            handle = os.fdopen(os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK), "rb")
        except FileNotFoundError:
            return
        except OSError as error:
            warnings.warn(f"not reading the decision log {self.path}: {error.strerror}", stacklevel=2)
            return
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            handle.close()
            warnings.warn(f"not reading the decision log {self.path}: not a regular file", stacklevel=2)
            return
        with handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):  # a line still being written, or cut by a crash
                    continue
                if not raw.strip():  # a writer that saw another's line still arriving ended it for safety
                    continue
                try:
                    entry = json.loads(raw)
                except (ValueError, RecursionError):
                    entry = None
                if not isinstance(entry, dict) or "event" not in entry:
                    warnings.warn(f"{self.path}:{number} is not a decision log entry; skipped", stacklevel=2)
                    continue
                if entry["event"] in _OLD_NAMES:
                    entry["event"] = _OLD_NAMES[entry["event"]]
                yield entry


def _append_whole_line(descriptor: int, line: bytes) -> None:
    """Append ``line`` whole: a short write is completed, and a line left torn before (a full disk, a
    crash) is ended first, so that it never swallows this entry. (Racing with another process's append,
    the check may see its line still arriving and add a blank line: readers skip blank lines.)"""
    size = os.fstat(descriptor).st_size
    if size and os.pread(descriptor, 1, size - 1) != b"\n":
        line = b"\n" + line
    view = memoryview(line)
    while view:
        view = view[os.write(descriptor, view) :]


def _answer_value(response: FeedbackResponse) -> Any:
    return to_json_data(getattr(response, MAIN_ANSWER_FIELD[response.feedback_type.value]))


E = TypeVar("E", bound=Exception)


@dataclass(frozen=True)
class RefusalLog:
    """Logs an answer's refusal and hands back the error to raise: ``raise refused(error)``."""

    log: DecisionLog
    request: FeedbackRequest
    answer: dict[str, Any]
    via: AnswerSource
    responded_by: str | None

    def __call__(self, error: E) -> E:
        self.log.refused(self.request, str(error), answer=self.answer, via=self.via, responded_by=self.responded_by)
        return error
