"""The decision log: every request, answer, refusal, timeout and close, with who, when and how."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from pathlib import Path

import pytest

from graflow_nb import (
    FeedbackAlreadySettledError,
    InvalidAnswerError,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    decision_log,
    pending_requests,
    provide_feedback,
    task,
    workflow,
)
from graflow_nb._engine.engine import live_engines
from graflow_nb._io.decision_log import DecisionLog
from graflow_nb.testing import RecordingPresenter

from .conftest import StartInBackground
from .helpers import CLI, run_cli, wait_until


def release_workflow() -> Workflow:
    with workflow("release") as wf:

        @task(inject_context=True)
        def gate(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback("approval", "Ship <v2> to production?").approved

        @task(inject_context=True)
        def region(ctx: TaskExecutionContext) -> str:
            return str(ctx.request_feedback("selection", "Which region?", options=["eu", "us"]).selected)

    return wf


def trail(entries: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(e["event"], e["task_id"], e.get("by"), e.get("via"), e.get("value")) for e in entries]


def test_answers_refusals_and_who_from_api_and_cli(
    background: StartInBackground, checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    watcher = RecordingPresenter()
    running = background(release_workflow(), presenters=[watcher])
    asked = {request.task_id: request for request in (watcher.next_request(), watcher.next_request())}
    wait_until(lambda: len(pending_requests()) == 2)
    gate, region = asked["gate"].feedback_id, asked["region"].feedback_id

    provide_feedback(gate, approved=True, reason="checked the diff", responded_by="carol")
    with pytest.raises(FeedbackAlreadySettledError, match="already answered by carol via api"):
        provide_feedback(gate, approved=False)
    hub = {**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(checkpoint_dir), "JUPYTERHUB_USER": "hub-alice"}
    wrong = subprocess.run([*CLI, "answer", region, "--select", "mars"], env=hub, capture_output=True, check=False)
    assert wrong.returncode == 2
    right = subprocess.run([*CLI, "answer", region, "--select", "eu"], env=hub, capture_output=True, check=False)
    assert right.returncode == 0, right.stderr
    assert running.result(timeout=30).status is RunStatus.COMPLETED

    entries = decision_log().entries
    me = getpass.getuser()
    assert sorted(trail(entries), key=str) == sorted(
        [
            ("requested", "gate", None, None, None),
            ("requested", "region", None, None, None),
            ("answered", "gate", "carol", "api", True),
            ("refused", "gate", me, "api", {"approved": False}),
            ("refused", "region", "hub-alice", "cli", {"selected": "mars"}),
            ("answered", "region", "hub-alice", "cli", "eu"),
        ],
        key=str,
    )
    by_event = {(e["event"], e["task_id"]): e for e in entries}
    assert by_event["answered", "gate"]["answer"] == "approved: checked the diff"
    assert "already answered by carol via api" in str(by_event["refused", "gate"]["reason"])
    assert "'mars' is not one of the options" in str(by_event["refused", "region"]["reason"])
    assert all(e["workflow"] == "release" and str(e["at"]).endswith("+00:00") for e in entries)

    printed = run_cli("log", directory=checkpoint_dir)
    assert printed.returncode == 0
    header, *rows = printed.stdout.splitlines()
    assert header.split() == ["when", "event", "workflow", "task", "feedback", "id", "who", "via", "what"]
    assert len(rows) == 6
    assert any("hub-alice" in row and "cli" in row and row.endswith("  eu") for row in rows)
    as_json = run_cli("log", "--json", "--id", gate, directory=checkpoint_dir)
    assert [json.loads(line)["event"] for line in as_json.stdout.splitlines()] == ["requested", "answered", "refused"]
    table = decision_log(feedback_id=region)._repr_html_()
    assert table.count("<tr>") == 4  # the header and three entries
    assert "Which region?" in table
    assert "Ship &lt;v2&gt; to production?" in decision_log()._repr_html_()


def test_timeouts_and_requests_closed_by_a_cancel(background: StartInBackground) -> None:
    def waiting_workflow(timeout: float | None) -> Workflow:
        with workflow("nightly") as wf:

            @task(inject_context=True)
            def confirm(ctx: TaskExecutionContext) -> None:
                ctx.request_feedback("text", "Anything to add?", timeout=timeout)

        return wf

    paused = waiting_workflow(timeout=0.1).run(presenters=[])
    assert paused.status is RunStatus.PAUSED
    watcher = RecordingPresenter()
    running = background(waiting_workflow(timeout=None), resume=True, presenters=[watcher])
    watcher.next_request()
    (engine,) = list(live_engines)
    engine.cancel_threadsafe("stopped from the panel")
    assert running.result(timeout=30).status is RunStatus.CANCELLED
    events = [(e["event"], e.get("reason"), e.get("timeout")) for e in decision_log().entries]
    assert events == [
        ("requested", None, 0.1),
        ("timed_out", None, 0.1),
        ("closed", "stopped from the panel", None),
    ]
    assert "no answer within 0.1 s" in str(decision_log())


def test_who_answered_is_explicit_else_the_hub_user_else_the_os_user(
    background: StartInBackground, monkeypatch: pytest.MonkeyPatch
) -> None:
    with workflow("who") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> list[str]:
            return [ctx.request_feedback("text", f"Question {n}?").responded_by for n in range(3)]

    watcher = RecordingPresenter()
    running = background(wf, presenters=[watcher])
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    provide_feedback(watcher.next_request().feedback_id, text="a")
    monkeypatch.setenv("JUPYTERHUB_USER", "hub-bob")
    provide_feedback(watcher.next_request().feedback_id, text="b")
    provide_feedback(watcher.next_request().feedback_id, text="c", responded_by="release-bot")
    expected = [getpass.getuser(), "hub-bob", "release-bot"]
    assert running.result(timeout=30).result == expected
    assert [e["by"] for e in decision_log().entries if e["event"] == "answered"] == expected


def test_a_damaged_line_is_skipped_with_a_warning_and_a_cut_last_line_ignored(checkpoint_dir: Path) -> None:
    with workflow("small") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> None:
            ctx.request_feedback("approval", "Go?", timeout=0.05)

    wf.run(presenters=[])
    log = checkpoint_dir / "decisions.jsonl"
    good = log.read_text()
    log.write_text(good + "not json\n" + good + '{"event": "answ')
    with pytest.warns(UserWarning, match=r"decisions.jsonl:3 is not a decision log entry"):
        entries = decision_log(workflow="small").entries
    assert [e["event"] for e in entries] == ["requested", "timed_out"] * 2
    log.write_text(good)
    assert decision_log(workflow="other").entries == []
    assert "no decisions logged" in str(decision_log(workflow="other"))


def test_an_invalid_answer_through_the_engine_is_logged_as_rejected(background: StartInBackground) -> None:
    with workflow("numbers") as wf:

        @task(inject_context=True)
        def pick(ctx: TaskExecutionContext) -> object:
            return ctx.request_feedback("number", "Learning rate?", min=0.0, max=1.0).value

    watcher = RecordingPresenter()
    running = background(wf, presenters=[watcher])
    request = watcher.next_request()
    (engine,) = list(live_engines)
    with pytest.raises(InvalidAnswerError, match="above the maximum"):
        engine.feedback.submit_threadsafe(request.feedback_id, via="widget", responded_by="eve", value=3.0)
    engine.feedback.submit_threadsafe(request.feedback_id, via="widget", responded_by="eve", value=0.1)
    assert running.result(timeout=30).result == 0.1
    assert trail(decision_log().entries)[1:] == [
        ("refused", "pick", "eve", "widget", {"value": 3.0}),
        ("answered", "pick", "eve", "widget", 0.1),
    ]


def test_a_refused_answer_logged_as_rejected_by_an_older_version_reads_as_refused(tmp_path: Path) -> None:
    old = {"at": "2026-12-01T10:00:00+00:00", "event": "rejected", "feedback_id": "fb-0123456789abcdef"}
    (tmp_path / "decisions.jsonl").write_text(json.dumps({**old, "reason": "already answered"}) + "\n")
    assert [entry["event"] for entry in DecisionLog(tmp_path).entries()] == ["refused"]
