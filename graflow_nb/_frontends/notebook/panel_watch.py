"""Keeps a paused run's panel true after its cell has ended.

While a run is live, its engine tells the panel everything. Once it has paused, nobody does: the
request may be answered from the CLI or another notebook, and the run resumed in another cell or
process. This watch looks at the checkpoint folder twice a second from the kernel's event loop (the
file reads in a worker thread) and brings the panel up to date: an answer given elsewhere is shown,
and a run that went on elsewhere has its controls disabled with a word on where it went.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..._model.errors import CheckpointError
from ..._model.feedback import FeedbackResponse
from ..._model.status import RunStatus

if TYPE_CHECKING:
    from ..._io.store import CheckpointStore

WATCH_SECONDS = 0.5


@dataclass(frozen=True)
class PausedRunNews:
    """What changed on disk since the panel last looked."""

    answers: dict[str, FeedbackResponse]
    moved_on: str | None  # where the run went, when it is no longer paused


def read_news(store: CheckpointStore, run_id: str, open_ids: list[str]) -> PausedRunNews:
    """Answers filed for the open requests, and where the run went if it is no longer paused (any thread)."""
    answers = {feedback_id: answer for feedback_id in open_ids if (answer := store.read_answer(feedback_id))}
    try:
        document = store.load_run(run_id)
    except (CheckpointError, OSError):
        return PausedRunNews(answers, None)
    if document.status is RunStatus.PAUSED:
        return PausedRunNews(answers, None)
    if document.status is RunStatus.RUNNING:
        where = "in another cell of this notebook" if document.owner_pid == os.getpid() else "by another process"
        return PausedRunNews(answers, f"resumed {where}: answer there")
    reason = f": {document.reason}" if document.reason else ""
    return PausedRunNews(answers, f"{document.status.value} elsewhere{reason}")


class WatchedPanel(Protocol):
    """What the watch tells (the run's panel)."""

    def open_request_ids(self) -> list[str]:
        """The requests still waiting for an answer there."""

    def answered_elsewhere(self, feedback_id: str, response: FeedbackResponse) -> None:
        """A paused request was answered from outside the panel."""

    def moved_on(self, where: str) -> None:
        """The paused run went on without the panel."""


class PausedRunWatch:
    """Runs on the kernel's event loop from when the run pauses until it goes on (here or elsewhere)."""

    def __init__(self, panel: WatchedPanel, store: CheckpointStore, run_id: str) -> None:
        self._panel = panel
        self._store = store
        self._run_id = run_id
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching (on the kernel's event loop thread)."""
        self._task = asyncio.get_running_loop().create_task(self._watch())

    def stop(self) -> None:
        """Stop watching (on the kernel's event loop thread)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            open_ids = self._panel.open_request_ids()
            news = await asyncio.to_thread(read_news, self._store, self._run_id, open_ids)
            for feedback_id, answer in news.answers.items():
                self._panel.answered_elsewhere(feedback_id, answer)
            if news.moved_on is not None:
                self._panel.moved_on(news.moved_on)
                return
