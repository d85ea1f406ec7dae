"""``graflow-nb answer`` hands the answer to the live run that waits for it (``_io/answer_handoff.py``):
the run checks it, files it and replies, so the command loads neither pydantic nor the checkpoints.
Whatever the run refuses is refused as the command always did; a stranger's datagram is ignored."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from graflow_nb import FeedbackRequest, RunHandle, RunStatus, TaskExecutionContext, Workflow, task, workflow
from graflow_nb._io.wake_signal import read_listener, wake_directory
from graflow_nb.testing import RecordingPresenter
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(90)

#: The command as a person runs it, reporting whether it loaded pydantic.
COMMAND = """
import sys
from graflow_nb._cli.main import main
code = main(sys.argv[1:])
print("pydantic loaded" if "pydantic" in sys.modules else "pydantic not loaded")
sys.exit(code)
"""


def graflow_nb_answer(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", COMMAND, "answer", *arguments, "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def choosing(folder: Path, name: str, *, asks: int = 1, timeout: float | None = None) -> Workflow:
    """A workflow whose one task asks ``asks`` selections of "a" or "b" in turn."""
    with workflow(name, checkpoint_dir=folder) as wf:

        @task(inject_context=True)
        def choose(ctx: TaskExecutionContext) -> list[str]:
            return [
                str(ctx.request_feedback("selection", f"Which, {n}?", options=["a", "b"], timeout=timeout).selected)
                for n in range(asks)
            ]

    return wf


def asking_run(folder: Path) -> tuple[RunHandle, FeedbackRequest]:
    """A run waiting live for one selection, listening on its wake port."""
    presenter = RecordingPresenter()
    run = choosing(folder, "handed").start(presenters=[presenter])
    request = presenter.next_request(10)
    wait_until((wake_directory(folder) / str(run.run_id)).exists, timeout=10)  # the run listens
    return run, request


def test_the_live_run_takes_the_answer_and_the_command_loads_no_pydantic(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    run, request = asking_run(folder)
    answered = graflow_nb_answer(folder, request.feedback_id, "--select", "b", "--by", "ana")
    assert answered.returncode == 0, answered.stderr
    first, loaded = answered.stdout.splitlines()
    assert first == f"{request.feedback_id}: b (by ana); run {run.run_id} of 'handed' picks it up now"
    assert loaded == "pydantic not loaded"
    assert run.wait(15) == ["b"]
    log = [json.loads(line) for line in (folder / "decisions.jsonl").read_text().splitlines()]
    answers = [entry for entry in log if entry["event"] == "answered"]
    assert [(entry["via"], entry["by"]) for entry in answers] == [("cli", "ana")]


def test_what_the_run_refuses_is_refused_as_before_and_the_request_still_waits(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    run, request = asking_run(folder)
    not_an_option = graflow_nb_answer(folder, request.feedback_id, "--select", "c")
    assert not_an_option.returncode == 2
    assert "'c'" in not_an_option.stderr
    assert "pydantic not loaded" in not_an_option.stdout
    wrong_kind = graflow_nb_answer(folder, request.feedback_id, "--approve")
    assert wrong_kind.returncode == 2
    assert "is a selection request: answer it with --select OPTION, once" in wrong_kind.stderr
    assert run.status is RunStatus.RUNNING
    assert graflow_nb_answer(folder, request.feedback_id, "--select", "a").returncode == 0
    assert run.wait(15) == ["a"]


def test_a_second_answer_is_refused_naming_the_first(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    presenter = RecordingPresenter()
    run = choosing(folder, "twice", asks=2).start(presenters=[presenter])
    first = presenter.next_request(10)
    assert graflow_nb_answer(folder, first.feedback_id, "--select", "a").returncode == 0
    second = presenter.next_request(10)  # the run waits for the next one: it still listens
    again = graflow_nb_answer(folder, first.feedback_id, "--select", "b")
    assert again.returncode == 1
    assert "already answered" in again.stderr
    assert graflow_nb_answer(folder, second.feedback_id, "--select", "b").returncode == 0
    assert run.wait(15) == ["a", "b"]


def test_a_message_without_the_runs_token_is_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    run, request = asking_run(folder)
    listener = read_listener(wake_directory(folder) / str(run.run_id))
    assert listener is not None
    assert len(listener.token) == 32
    assert (wake_directory(folder) / str(run.run_id)).stat().st_mode & 0o077 == 0, "only its owner reads the token"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.settimeout(1.0)  # bounded: the run replies within a loop turn, if at all
        for token in ("", "0" * 32, listener.token[:-1] + "x"):
            forged = {"ask": "answer", "feedback_id": request.feedback_id, "answer": {"selected": "a"}, "token": token}
            stranger.sendto(json.dumps(forged).encode(), ("127.0.0.1", listener.port))
        with pytest.raises(TimeoutError):
            stranger.recvfrom(65_000)
    assert run.status is RunStatus.RUNNING
    assert not (folder / "answers" / f"{request.feedback_id}.json").exists()
    assert graflow_nb_answer(folder, request.feedback_id, "--select", "b").returncode == 0
    assert run.wait(15) == ["b"]


def test_a_paused_run_is_answered_on_disk_as_before(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    paused = choosing(folder, "paused", timeout=0.05).run(presenters=[])
    assert paused.status is RunStatus.PAUSED
    (feedback_id,) = paused.pending_feedback_ids
    answered = graflow_nb_answer(folder, feedback_id, "--select", "a", "--by", "ana")
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.splitlines() == [
        f"{feedback_id}: a (by ana); run {paused.run_id} of 'paused' picks it up when resumed",
        "pydantic loaded",
    ]
