"""The same request answered at once from several processes is settled exactly once, every time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from graflow_nb import (
    CheckpointStore,
    FeedbackAlreadySettledError,
    FeedbackResponse,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    decision_log,
    pending_requests,
    task,
    workflow,
)
from graflow_nb._engine.engine import live_engines
from graflow_nb.testing import RecordingPresenter

from .conftest import StartInBackground
from .helpers import wait_until

ROUNDS = 60

#: Answers each feedback id read from stdin with its own name; prints "won" or "lost <reason>".
WORKER = textwrap.dedent(
    """
    import sys
    from graflow_nb import GraflowNbError, provide_feedback

    name, directory = sys.argv[1], sys.argv[2]
    print("ready", flush=True)
    for line in sys.stdin:
        feedback_id = line.strip()
        try:
            provide_feedback(feedback_id, text=name, responded_by=name, via="cli", checkpoint_dir=directory)
        except GraflowNbError as error:
            print("lost", type(error).__name__, error, flush=True)
        else:
            print("won", flush=True)
    """
)


class Racers:
    """Worker processes that answer the same request when told, all at once."""

    def __init__(self, names: list[str], directory: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.names = names
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, name, str(directory)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for name in names
        ]
        for process in self.processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"

    def start(self, feedback_id: str) -> None:
        """Tell every worker to answer, back to back."""
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(feedback_id + "\n")
            process.stdin.flush()

    def results(self) -> dict[str, str]:
        """Each worker's report for the last request."""
        reports = {}
        for name, process in zip(self.names, self.processes, strict=True):
            assert process.stdout is not None
            reports[name] = process.stdout.readline().strip()
        return reports

    def close(self) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=30)
            assert process.stdout is not None
            process.stdout.close()


@pytest.fixture
def racers(checkpoint_dir: Path) -> Iterator[Racers]:
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    team = Racers(["ana", "ben"], checkpoint_dir)
    yield team
    team.close()


def many_questions(count: int, timeout: float | None) -> Workflow:
    """``count`` parallel tasks, each asking one text question and returning the answer."""
    with workflow("race") as wf:
        for index in range(count):

            @task(id=f"ask{index:03d}", inject_context=True)
            def ask(ctx: TaskExecutionContext) -> str:
                return str(ctx.request_feedback("text", "Who answers first?", timeout=timeout).text)

    return wf


def test_two_processes_answering_a_paused_run_one_wins_every_round(racers: Racers) -> None:
    paused = many_questions(ROUNDS, timeout=3).run(presenters=[])
    assert paused.status is RunStatus.PAUSED
    feedback_ids = list(paused.pending_feedback_ids)
    assert len(feedback_ids) == ROUNDS
    winners = {}
    for feedback_id in feedback_ids:
        racers.start(feedback_id)
        reports = racers.results()
        won = [name for name, report in reports.items() if report == "won"]
        assert len(won) == 1, reports
        (loser,) = set(reports) - set(won)
        assert f"already answered by {won[0]} via cli" in reports[loser]
        winners[feedback_id] = won[0]
    answers = [entry for entry in decision_log().entries if entry["event"] == "answered"]
    assert sorted(entry["feedback_id"] for entry in answers) == sorted(feedback_ids)
    assert {entry["feedback_id"]: entry["by"] for entry in answers} == winners
    refused = [entry for entry in decision_log().entries if entry["event"] == "refused"]
    assert len(refused) == ROUNDS
    assert all(entry["by"] != winners[entry["feedback_id"]] for entry in refused)

    resumed = many_questions(ROUNDS, timeout=None).run(resume=True, presenters=[])
    assert resumed.status is RunStatus.COMPLETED
    document = CheckpointStore(resumed.checkpoint_path.parent).load(resumed.checkpoint_path)
    assert resumed.result == {record.request.task_id: winners[record.feedback_id] for record in document.requests}


def test_widget_and_two_processes_answering_a_live_run_one_wins_every_round(
    racers: Racers, background: StartInBackground
) -> None:
    count = ROUNDS // 2
    watcher = RecordingPresenter()
    wf = many_questions(count, timeout=None)
    running = background(wf, presenters=[watcher])
    requests = [watcher.next_request() for _ in range(count)]
    wait_until(lambda: len(pending_requests()) == count)  # on disk, where the other processes look
    (engine,) = list(live_engines)
    winners = {}
    for request in requests:
        racers.start(request.feedback_id)
        try:  # what a click on the widget does, in the same instant
            engine.feedback.submit_threadsafe(request.feedback_id, via="widget", responded_by="widget", text="widget")
            widget = "won"
        except FeedbackAlreadySettledError as error:
            widget = f"lost {error}"
        reports = {**racers.results(), "widget": widget}
        won = [name for name, report in reports.items() if report == "won"]
        assert len(won) == 1, reports
        for name, report in reports.items():
            if name != won[0]:
                assert f"already answered by {won[0]} via" in report, reports
        winners[request.feedback_id] = won[0]
    outcome = running.result(timeout=30)
    assert outcome.status is RunStatus.COMPLETED
    assert outcome.result == {request.task_id: winners[request.feedback_id] for request in requests}
    settled = {request.feedback_id: response.responded_by for request, response in watcher.settled if response}
    assert settled == winners  # every presenter (the widget too) shows the winner
    answers = [entry for entry in decision_log().entries if entry["event"] == "answered"]
    assert {entry["feedback_id"]: entry["by"] for entry in answers} == winners
    assert len(answers) == count


class AnswersKeptElsewhere(CheckpointStore):
    """A folder whose run's answers are also kept elsewhere (as Redis keeps a worker run's): a paused
    run's answer given there is filed here when the run adopts it. Filing takes a while here, long
    enough for the run's poll of the answers folder (every 0.1 s) to see the file before adopting ends."""

    given_elsewhere: ClassVar[dict[str, bool]] = {}

    def adopt_answer(self, feedback_id: str) -> FeedbackResponse | None:
        approved = self.given_elsewhere.pop(feedback_id, None)
        if approved is None:
            return None
        response = FeedbackResponse(
            feedback_id=feedback_id, feedback_type="approval", approved=approved, responded_by="pm"
        )
        filed = self.file_answer(response)
        threading.Event().wait(0.5)  # the window in which the poll finds the file (it runs every 0.1 s)
        return response if filed else None


def test_an_answer_adopted_from_elsewhere_on_resume_is_logged_once_as_answered(
    checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Workflow, "store", property(lambda wf: AnswersKeptElsewhere(wf.checkpoint_dir)))
    with workflow("adopted") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Ship?", timeout=0.05).approved

    paused = wf.run(presenters=[])
    (feedback_id,) = paused.pending_feedback_ids
    AnswersKeptElsewhere.given_elsewhere[feedback_id] = True
    resumed = wf.run(presenters=[], resume="auto")
    assert (resumed.status, resumed.result) == (RunStatus.COMPLETED, True)
    answered = [entry for entry in decision_log(checkpoint_dir).entries if entry["event"] == "answered"]
    assert [(entry["feedback_id"], entry["by"]) for entry in answered] == [(feedback_id, "pm")]
