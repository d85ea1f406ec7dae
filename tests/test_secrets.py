"""Notification URLs are secrets: after real runs, no checkpoint, log, output or widget holds one."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from graflow_nb import (
    InvalidFeedbackRequestError,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    WorkflowFailed,
    configure_notifications,
    provide_feedback,
    task,
    workflow,
)
from graflow_nb._io.delivery import notification_sender
from graflow_nb.testing import WebhookReceiver

from .helpers import run_cli


@pytest.fixture
def token() -> str:
    return "xoxbSECRET" + secrets.token_hex(8)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    monkeypatch.delenv("GRAFLOW_NB_NOTIFICATIONS")
    before = notification_sender().policy
    configure_notifications(attempts=2, first_backoff=0.05, timeout=2.0)
    with WebhookReceiver(replies=[404]) as server:  # the first POST fails: its failure is logged
        yield server
        assert notification_sender().flush(timeout=30)
    notification_sender().policy = before


def everything_under(folder: Path) -> str:
    return "\n".join(path.read_bytes().decode(errors="replace") for path in folder.rglob("*") if path.is_file())


def test_a_script_run_keeps_the_slack_token_out_of_files_logs_and_output(
    receiver: WebhookReceiver,
    token: str,
    checkpoint_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    slack_url = f"{receiver.url}/services/T000/B000/{token}"

    def release(timeout: float | None) -> Workflow:
        with workflow("release") as wf:

            @task(inject_context=True)
            def gate(ctx: TaskExecutionContext) -> bool:
                config = {"type": "slack", "webhook_url": slack_url, "message": "Release waiting"}
                return bool(ctx.request_feedback("approval", "Ship it?", timeout=timeout, notification_config=config))

            @task
            def publish(gate: bool) -> None:
                raise RuntimeError(f"could not post the release note to {slack_url}")

            gate >> publish

        return wf

    paused = release(timeout=0.2).run()
    assert paused.status is RunStatus.PAUSED
    shown = [run_cli(*command, directory=checkpoint_dir) for command in (["list"], ["log"])]
    shown.append(run_cli("show", paused.pending_feedback_ids[0], directory=checkpoint_dir))
    provide_feedback(paused.pending_feedback_ids[0], approved=True)
    failed = release(timeout=None).run(resume=True)
    assert failed.status is RunStatus.FAILED  # publish raised, quoting the URL
    with workflow("bad") as bad:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> None:
            config = {"type": "slack", "webhook_url": f"ftp://x/{token}"}
            ctx.request_feedback("approval", "?", notification_config=config)

    with pytest.raises(WorkflowFailed) as refused:
        bad.execute()
    assert isinstance(refused.value.__cause__, InvalidFeedbackRequestError)
    assert notification_sender().flush(timeout=30)

    posts = receiver.wait_for(3)
    assert (
        sum(post.path.endswith(token) for post in posts) == 3
    )  # created, timed out, answered: the secret was used, where it belongs
    assert any("not delivered after 1 attempt: HTTP 404" in record.getMessage() for record in caplog.records)
    captured = capsys.readouterr()
    places = {
        "checkpoint folder": everything_under(checkpoint_dir),
        "logs": caplog.text,
        "stdout": captured.out,
        "stderr": captured.err,
        "CLI output": "\n".join(result.stdout + result.stderr for result in shown),
        "run reason": str(failed.reason),
        "validation error": f"{refused.value} {refused.value.__cause__}",
    }
    assert "Ship it?" in places["checkpoint folder"]  # the scan reads real content
    assert "decisions.jsonl" in {path.name for path in checkpoint_dir.iterdir()}
    assert "…(redacted)" in places["checkpoint folder"]
    leaks = [place for place, text in places.items() if token in text]
    assert leaks == []


NOTEBOOK_CELLS = [
    """
import os
from graflow_nb import TaskExecutionContext, decision_log, task, workflow
from graflow_nb.testing import WebhookReceiver

receiver = WebhookReceiver()
slack = {"type": "slack", "webhook_url": receiver.url + "/services/T0/B0/" + os.environ["TOKEN"], "message": "Hi"}
""",
    """
with workflow("deploy") as wf:

    @task(inject_context=True)
    def gate(ctx: TaskExecutionContext) -> bool:
        response = ctx.request_feedback("approval", "Deploy?", timeout=60, notification_config=slack)
        print("notification config in the task:", response.feedback_id, ctx.run_id)
        return response.approved

print("result:", wf.execute())
""",
    "decision_log()",
    """
posts = receiver.wait_for(1)  # answered at once by replay: only request_answered is sent
print("posts carrying the token:", sum(post.path.endswith(os.environ["TOKEN"]) for post in posts))
""",
]


def test_a_notebook_run_keeps_the_slack_token_out_of_outputs_and_widget_state(
    receiver: WebhookReceiver, token: str, checkpoint_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(
        json.dumps({"version": 1, "answers": [{"task": "gate", "call": 0, "answer": {"approved": True}}]})
    )
    notebook_path = tmp_path / "deploy.ipynb"
    monkeypatch.setenv("TOKEN", token)
    monkeypatch.setenv("GRAFLOW_NB_ANSWERS", str(answers))
    monkeypatch.setenv("GRAFLOW_NB_NOTEBOOK", str(notebook_path))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source.strip()) for source in NOTEBOOK_CELLS])
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    nbformat.write(notebook, notebook_path)

    outputs = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    widget_state = json.dumps(notebook.metadata.get("widgets", {}))
    assert "result: True" in outputs
    assert "posts carrying the token: 1" in outputs
    assert "Deploy?" in outputs  # the decision log table
    assert "Deploy?" in widget_state  # the stored widget views show the request
    for place, text in {
        "outputs": outputs,
        "widget state": widget_state,
        "checkpoint folder": everything_under(checkpoint_dir),
    }.items():
        assert token not in text, place
