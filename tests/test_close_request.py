"""Closing one request without an answer: from the API, the CLI and the control; what its task gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graflow_nb import (
    FeedbackAlreadySettledError,
    FeedbackClosedError,
    InvalidAnswerError,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    WorkflowFailed,
    close_feedback,
    decision_log,
    provide_feedback,
    task,
    workflow,
)
from graflow_nb._engine.engine import live_engines
from tests.conftest import StartInBackground
from tests.helpers import run_cli, wait_until


def review_workflow(name: str, *, timeout: float | None) -> Workflow:
    """Two questions in parallel; ``review`` goes on without its answer when it is closed."""
    with workflow(name) as wf:

        @task(inject_context=True)
        def review(ctx: TaskExecutionContext) -> str:
            try:
                answer = ctx.request_feedback(
                    feedback_type="approval", prompt="Publish **the report**?", timeout=timeout
                )
            except FeedbackClosedError as closed:
                return f"skipped ({closed.closed_by}: {closed.reason})"
            return "published" if answer.approved else "held back"

        @task(inject_context=True)
        def pick(ctx: TaskExecutionContext) -> object:  # never catches: a closure fails the run
            return ctx.request_feedback(
                feedback_type="selection", prompt="Which region?", options=["eu", "us"], timeout=timeout
            ).selected

        review | pick
    return wf


def request_ids(checkpoint_path: Path) -> dict[str, str]:
    saved = json.loads(checkpoint_path.read_text())
    return {record["request"]["task_id"]: record["request"]["feedback_id"] for record in saved["requests"]}


def test_a_paused_request_closed_from_the_cli_raises_in_its_task_on_resume(checkpoint_dir: Path) -> None:
    outcome = review_workflow("close-cli", timeout=0.1).run()
    assert outcome.status is RunStatus.PAUSED
    ids = request_ids(outcome.checkpoint_path)

    closed = run_cli("close", ids["review"], "--reason", "report withdrawn", "--by", "erin", directory=checkpoint_dir)
    assert closed.returncode == 0, closed.stderr
    assert "closed without an answer: report withdrawn (by erin)" in closed.stdout
    assert "FeedbackClosedError when its run is resumed (uncaught there, it fails the run)" in closed.stdout

    listing = run_cli("list", directory=checkpoint_dir).stdout
    assert "[closed by erin: report withdrawn, applied on resume]" in listing
    assert "review: Publish the report?" in listing  # the prompt as plain text
    shown = json.loads(run_cli("show", ids["review"], directory=checkpoint_dir).stdout)
    assert shown["state"] == "closed"
    assert shown["response"]["closed"] is True

    again = run_cli("answer", ids["review"], "--approve", directory=checkpoint_dir)
    assert again.returncode == 1
    assert "already closed without an answer by erin via cli" in again.stderr

    provide_feedback(ids["pick"], selected="eu")
    wf = review_workflow("close-cli", timeout=None)
    result = wf.resume()
    assert result == {"review": "skipped (erin: report withdrawn)", "pick": "eu"}

    entries = [e for e in decision_log(checkpoint_dir).entries if e["feedback_id"] == ids["review"]]
    closing = [e for e in entries if e["event"] == "closed"]
    assert len(closing) == 1
    assert (closing[0]["by"], closing[0]["via"], closing[0]["reason"]) == ("erin", "cli", "report withdrawn")
    assert next(e for e in entries if e["event"] == "refused")["via"] == "cli"  # the late --approve


def test_closing_a_request_a_task_waits_for_wakes_it_and_uncaught_fails_the_run(
    background: StartInBackground, checkpoint_dir: Path
) -> None:
    wf = review_workflow("close-live", timeout=None)
    running = background(wf)

    def waiting_ids() -> dict[str, str]:
        for engine in list(live_engines):
            if engine.workflow_name == "close-live":
                return {r.request.task_id: fid for fid, r in engine.state.records.items() if r.state == "pending"}
        return {}

    wait_until(lambda: len(waiting_ids()) == 2)
    ids = waiting_ids()
    provide_feedback(ids["review"], approved=True)
    closure = close_feedback(ids["pick"], reason="not needed this week", closed_by="sam")
    assert closure.closed
    assert closure.responded_by == "sam"
    assert closure.via == "api"

    outcome = running.result(timeout=60)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert (outcome.error.task_id, outcome.error.error_type) == ("pick", "FeedbackClosedError")
    assert f"{ids['pick']} was closed without an answer by sam via api: not needed this week" in outcome.error.message
    saved = json.loads(outcome.checkpoint_path.read_text())
    assert saved["completed"] == ["review"]  # the other branch's work is kept

    # The request stays closed: resuming gives the task the same error (the task is fixed, or it is final).
    with pytest.raises(WorkflowFailed) as failed:
        review_workflow("close-live", timeout=None).resume()
    assert isinstance(failed.value.__cause__, FeedbackClosedError)
    assert "resuming the run fails it the same way (the request stays closed): catch FeedbackClosedError" in str(
        failed.value
    )
    assert f"`graflow-nb cancel {outcome.run_id}` and start afresh" in str(failed.value)


def test_first_of_an_answer_and_a_closure_wins(checkpoint_dir: Path) -> None:
    outcome = review_workflow("close-race", timeout=0.1).run()
    ids = request_ids(outcome.checkpoint_path)
    provide_feedback(ids["review"], approved=False, reason="numbers wrong", responded_by="ana")
    with pytest.raises(FeedbackAlreadySettledError, match="already answered by ana via api") as late:
        close_feedback(ids["review"], reason="late")
    assert late.value.winner is not None
    assert (late.value.winner.approved, late.value.winner.reason) == (False, "numbers wrong")  # what won
    close_feedback(ids["pick"], closed_by="ana")
    with pytest.raises(FeedbackAlreadySettledError, match="already closed without an answer by ana"):
        provide_feedback(ids["pick"], selected="us")


def test_a_closure_carries_no_answer(checkpoint_dir: Path) -> None:
    outcome = review_workflow("close-bad", timeout=0.1).run()
    ids = request_ids(outcome.checkpoint_path)
    from graflow_nb._io.store import CheckpointStore
    from graflow_nb._model.answer_checks import make_response

    _, record = CheckpointStore(checkpoint_dir).find_request(ids["review"])
    with pytest.raises(InvalidAnswerError, match="closing a request takes no answer"):
        make_response(record.request, closed=True, approved=True)
    with pytest.raises(InvalidAnswerError, match="closed must be True or False"):
        make_response(record.request, closed="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidAnswerError, match="a reason must be text"):
        close_feedback(ids["review"], reason=3)  # type: ignore[arg-type]
