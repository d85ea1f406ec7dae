"""An answer filed by another process wakes the run that waits for it at once, not at its next poll
(``_io/wake_signal``): the poll is set to a minute here, so only the nudge can resume the task in time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from graflow_nb import FeedbackRequest, RunStatus, TaskExecutionContext, task, workflow
from graflow_nb._engine.engine import live_engines
from graflow_nb._engine.presenting import RunView
from graflow_nb._io.wake_signal import nudge_waiting_runs, wake_directory
from graflow_nb.testing import RecordingPresenter
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(60)

SLOW_POLL = 60.0


class SlowPollPresenter(RecordingPresenter):
    """Records requests and makes the run's folder poll so slow that it cannot be what wakes it."""

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        next(engine for engine in live_engines if engine.run_id == run.run_id).feedback.poll_interval = SLOW_POLL
        super().show(run, request)


def _answer_from_another_process(folder: Path, feedback_id: str, *command: str) -> None:
    answering = [sys.executable, "-m", "graflow_nb", "answer", feedback_id, "--dir", str(folder), *command]
    finished = subprocess.run(answering, capture_output=True, text=True, timeout=30, check=False)
    assert finished.returncode == 0, finished.stderr


def test_an_answer_from_the_cli_resumes_a_waiting_run_without_waiting_for_the_poll(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    with workflow("woken", checkpoint_dir=folder) as wf:

        @task(inject_context=True)
        def asker(ctx: TaskExecutionContext) -> list[bool | None]:
            return [ctx.request_feedback(feedback_type="approval", prompt=f"step {n}?").approved for n in range(2)]

    presenter = SlowPollPresenter()
    run = wf.start(presenters=[presenter])
    listener_file = wake_directory(folder) / str(run.run_id)
    for command in (["--approve"], ["--reject", "--reason", "not yet"]):
        request = presenter.next_request(10)
        wait_until(listener_file.exists, timeout=10)  # the run listens once a request waits
        _answer_from_another_process(folder, request.feedback_id, *command)
    assert run.wait(15) == [True, False]  # far less than the minute the poll would take
    assert run.status is RunStatus.COMPLETED
    assert not listener_file.exists()  # the run's port is not named once it has ended


def test_nudges_skip_listeners_that_are_gone_or_not_ours(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    wake = wake_directory(folder)
    assert nudge_waiting_runs(folder) == 0  # no folder yet: nothing to tell, no error
    wake.mkdir(parents=True)
    printing_its_pid = [sys.executable, "-c", "import os; print(os.getpid())"]
    dead = subprocess.run(printing_its_pid, capture_output=True, text=True, check=True)
    (wake / "run-of-a-dead-process").write_text(f"40000 {int(dead.stdout)}")
    (wake / "garbage").write_bytes(b"\x00not a port")
    (wake / "oversized").write_text("1 " + "1" * 200)
    assert nudge_waiting_runs(folder) == 0
    (wake / "alive").write_text(f"40000 {os.getpid()}")
    assert nudge_waiting_runs(folder) == 1  # a closed port: the datagram is simply lost
