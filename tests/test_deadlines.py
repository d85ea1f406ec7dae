"""More time to answer: extending a waiting request's deadline from the API, another process, the CLI."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from graflow_nb import (
    DeadlineNotExtendedError,
    FeedbackNotFoundError,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    decision_log,
    extend_deadline,
    provide_feedback,
    task,
    workflow,
)
from graflow_nb._engine.deadlines import parse_duration
from graflow_nb._io.store import CheckpointStore
from graflow_nb._util.clock import utc_now
from graflow_nb.testing import RecordingPresenter
from tests.conftest import StartInBackground
from tests.helpers import run_cli, wait_until


def ship_workflow(name: str, timeout: float | None) -> Workflow:
    with workflow(name) as wf:

        @task(inject_context=True)
        def ship(ctx: TaskExecutionContext) -> str:
            answer = ctx.request_feedback(feedback_type="approval", prompt="Ship it?", timeout=timeout)
            return "shipped" if answer.approved else "held"

    return wf


def wait_past(moment: datetime) -> None:
    """Let the clock pass ``moment`` (what a deadline is measured against), 10 s at most."""
    wait_until(lambda: utc_now() > moment, timeout=10)


def saved_deadline(checkpoint_dir: Path, feedback_id: str) -> datetime | None:
    """The deadline the request's checkpoint records (None until it is saved)."""
    try:
        _, record = CheckpointStore(checkpoint_dir).find_request(feedback_id)
    except FeedbackNotFoundError:
        return None
    return record.deadline


def first_deadline(checkpoint_dir: Path, feedback_id: str) -> datetime:
    """The deadline a waiting request's checkpoint records first."""
    wait_until(lambda: saved_deadline(checkpoint_dir, feedback_id) is not None)
    first = saved_deadline(checkpoint_dir, feedback_id)
    assert first is not None
    return first


def test_an_extension_in_this_process_keeps_the_request_waiting_past_its_old_deadline(
    background: StartInBackground, checkpoint_dir: Path
) -> None:
    presenter = RecordingPresenter()
    running = background(ship_workflow("extend-api", timeout=1.0), presenters=[presenter])
    request = presenter.next_request()
    first = first_deadline(checkpoint_dir, request.feedback_id)

    moved = extend_deadline(request.feedback_id, 60, by="lee")
    assert moved >= first + timedelta(seconds=60)
    assert presenter.deadlines == [(request, moved)]
    wait_past(first + timedelta(seconds=0.5))
    assert not running.done()  # the old deadline passed: the run still waits
    wait_until(lambda: saved_deadline(checkpoint_dir, request.feedback_id) == moved)  # so the CLI shows it

    provide_feedback(request.feedback_id, approved=True)
    outcome = running.result(timeout=30)
    assert outcome.status is RunStatus.COMPLETED
    assert outcome.result == "shipped"
    extended = [e for e in decision_log(checkpoint_dir).entries if e["event"] == "extended"]
    assert len(extended) == 1
    assert (extended[0]["by"], extended[0]["via"]) == ("lee", "api")
    assert datetime.fromisoformat(extended[0]["deadline"]) == moved
    assert saved_deadline(checkpoint_dir, request.feedback_id) is None  # answered: no deadline runs


def test_the_cli_extends_a_request_a_run_in_another_process_waits_for(
    background: StartInBackground, checkpoint_dir: Path
) -> None:
    presenter = RecordingPresenter()
    running = background(ship_workflow("extend-cli", timeout=2.0), presenters=[presenter])
    request = presenter.next_request()
    first = first_deadline(checkpoint_dir, request.feedback_id)

    extended = run_cli("extend", request.feedback_id, "2h", "--by", "kim", directory=checkpoint_dir)
    assert extended.returncode == 0, extended.stderr
    assert "now waits until" in extended.stdout
    wait_until(lambda: bool(presenter.deadlines))  # the run read the filed deadline
    ((_, moved),) = presenter.deadlines
    assert timedelta(hours=2) <= moved - first < timedelta(hours=2, seconds=30)

    twice = run_cli("extend", request.feedback_id, "30m", directory=checkpoint_dir)
    assert twice.returncode == 0, twice.stderr
    wait_until(lambda: len(presenter.deadlines) == 2)
    assert presenter.deadlines[1][1] == moved + timedelta(minutes=30)  # counted from the moved deadline

    wait_past(first + timedelta(seconds=0.5))
    assert not running.done()
    listing = run_cli("list", directory=checkpoint_dir).stdout
    assert "[times out" in listing
    provide_feedback(request.feedback_id, approved=False)
    assert running.result(timeout=30).result == "held"
    entries = [e for e in decision_log(checkpoint_dir).entries if e["event"] == "extended"]
    assert [(e["by"], e["via"]) for e in entries] == [("kim", "cli"), (entries[1]["by"], "cli")]


def test_what_cannot_be_extended_says_why(background: StartInBackground, checkpoint_dir: Path) -> None:
    presenter = RecordingPresenter()
    running = background(ship_workflow("extend-never", timeout=None), presenters=[presenter])
    forever = presenter.next_request()
    with pytest.raises(DeadlineNotExtendedError, match="it has no timeout: it waits until answered"):
        extend_deadline(forever.feedback_id, 60)
    provide_feedback(forever.feedback_id, approved=True)
    running.result(timeout=30)
    with pytest.raises(DeadlineNotExtendedError, match="already answered by"):
        extend_deadline(forever.feedback_id, 60)

    outcome = ship_workflow("extend-paused", timeout=0.1).run()
    assert outcome.status is RunStatus.PAUSED
    (paused,) = outcome.pending_feedback_ids
    with pytest.raises(DeadlineNotExtendedError, match="no task waits for it now"):
        extend_deadline(paused, 60)
    refused = run_cli("extend", paused, "10m", directory=checkpoint_dir)
    assert refused.returncode == 1
    assert "its timeout starts again when the run is resumed" in refused.stderr
    assert not CheckpointStore(checkpoint_dir).deadline_path(paused).exists()

    for bad in ("0", "soon", "-5m", "400d"):
        usage = run_cli("extend", paused, bad, directory=checkpoint_dir)
        assert usage.returncode == 2, (bad, usage.stderr)
        assert "graflow-nb" in usage.stderr
    with pytest.raises(DeadlineNotExtendedError, match="extend by a number of seconds"):
        extend_deadline(paused, float("nan"))


def test_durations_read_as_people_write_them() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "10m", "10min", "1.5h", "2d")] == [
        90,
        90,
        600,
        600,
        5400,
        172800,
    ]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("an hour")


def test_a_resumed_request_waits_its_whole_timeout_again(checkpoint_dir: Path) -> None:
    """The deadline is not carried over a pause: the resumed task asks again with its full timeout."""
    outcome = ship_workflow("extend-resume", timeout=0.1).run()
    (feedback_id,) = outcome.pending_feedback_ids
    saved = json.loads(outcome.checkpoint_path.read_text())
    assert saved["requests"][0]["deadline"] is None  # paused: no deadline runs
    started = time.monotonic()
    again = ship_workflow("extend-resume", timeout=0.5).run(resume=True)
    assert again.status is RunStatus.PAUSED
    assert time.monotonic() - started >= 0.5
    assert again.pending_feedback_ids == (feedback_id,)
