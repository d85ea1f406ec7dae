"""Checkpoints beside the notebook, across kernel restarts and crashes, in kernels started by jupyter_server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.helpers import saved_runs, wait_until
from tests.kernel_harness import JupyterServer, Kernel

DEPLOY_CELL = """
from pathlib import Path
from graflow_nb import TaskExecutionContext, task, workflow

log = Path("side_effects.log")

with workflow("restartable") as wf:
    @task
    def prepare() -> dict:
        with log.open("a") as f:
            f.write("prepare\\n")
        return {"version": 3}

    @task(inject_context=True)
    def deploy(ctx: TaskExecutionContext, prepare: dict) -> str:
        channel = ctx.get_channel()
        if not channel.get("approved"):
            response = ctx.request_feedback(feedback_type="approval", prompt="Deploy?")
            if not response.approved:
                ctx.cancel_workflow("rejected")
            channel.set("approved", True)
        if not channel.get("deployed"):
            with log.open("a") as f:
                f.write("deploy\\n")
            channel.set("deployed", True)
        return f"deployed {prepare['version']}"

    prepare >> deploy
run = wf.start()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = tmp_path_factory.mktemp("server")
    (root / "notebooks").mkdir()
    for name in ("analysis.ipynb", "other.ipynb", "crash.ipynb", "cli.ipynb", "loop.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), root / "notebooks" / name)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRAFLOW_NB_")}
    running = JupyterServer(root, {**env, "GRAFLOW_NB_CHECKPOINT_DIR": ""})
    try:
        yield running
    finally:
        running.stop()


def connect(server: JupyterServer, kernel_id: str) -> Kernel:
    kernel = server.connect(kernel_id)
    kernel.run("import os; os.environ.pop('GRAFLOW_NB_CHECKPOINT_DIR', None)")
    return kernel


def test_restart_rerun_resumes_with_pending_controls_and_side_effects_once(server: JupyterServer) -> None:
    folder = server.root / "notebooks"
    kernel_id = server.open_notebook("notebooks/analysis.ipynb")
    kernel = connect(server, kernel_id)
    try:
        assert kernel.run("import os; print(os.environ['JPY_SESSION_NAME'])").strip() == str(folder / "analysis.ipynb")
        kernel.run(DEPLOY_CELL)
        kernel.find_widget("ButtonModel", description="Approve")
        saved = saved_with_request(folder / "analysis.graflow_nb")
        assert saved["completed"] == ["prepare"]
        assert saved["requests"][0]["state"] == "pending"
    finally:
        kernel.shutdown()

    server.restart(kernel_id)
    kernel = connect(server, kernel_id)
    try:
        msg_id = kernel.submit(DEPLOY_CELL)
        assert kernel.reply(msg_id)["content"]["status"] == "ok"
        assert f"resuming run {saved['run_id']}" in kernel.printed(msg_id)
        kernel.click(kernel.find_widget("ButtonModel", description="Approve"))
        assert kernel.run("print(await run)").strip() == "deployed 3"
    finally:
        kernel.shutdown()
    assert (folder / "side_effects.log").read_text() == "prepare\ndeploy\n"


def test_two_notebooks_in_one_folder_keep_their_own_checkpoints(server: JupyterServer) -> None:
    kernel = connect(server, server.open_notebook("notebooks/other.ipynb"))
    try:
        kernel.run(
            "from graflow_nb import task, workflow\n"
            "with workflow('restartable') as wf:\n"
            "    @task\n"
            "    def only() -> int:\n"
            "        return 1\n"
            "print(len(wf.runs()), wf.store.directory.name)\n"
        )
        text = kernel.run("print(wf.execute(), len(wf.runs()), wf.store.directory.name)")
    finally:
        kernel.shutdown()
    assert text.strip().splitlines()[-1] == "1 1 other.graflow_nb"


CRASH_CELL = """
import time
from pathlib import Path
from graflow_nb import task, workflow

log = Path("crash.log")

with workflow("crashy") as wf:
    @task
    def first() -> int:
        with log.open("a") as f:
            f.write("first\\n")
        return 1

    @task
    def second(first: int) -> int:
        with log.open("a") as f:
            f.write("second started\\n")
        deadline = time.monotonic() + 60
        while not Path("release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return first + 1

    first >> second
print("result", wf.execute())
"""


def test_kernel_killed_mid_task_resumes_keeping_finished_tasks(server: JupyterServer) -> None:
    folder = server.root / "notebooks"
    kernel_id = server.open_notebook("notebooks/crash.ipynb")
    kernel = connect(server, kernel_id)
    kernel.submit(CRASH_CELL)
    log = folder / "crash.log"
    checkpoints = folder / "crash.graflow_nb"
    wait_until(lambda: log.exists() and "second started" in log.read_text())
    wait_until(lambda: any(saved["completed"] == ["first"] for saved in saved_runs(checkpoints)))
    os.kill(server.kernel_pid(kernel_id), signal.SIGKILL)
    kernel.shutdown()
    server.restart(kernel_id)
    (folder / "release").write_text("go")
    kernel = connect(server, kernel_id)
    try:
        msg_id = kernel.submit(CRASH_CELL)
        assert kernel.reply(msg_id)["content"]["status"] == "ok"
        assert "result 2" in kernel.printed(msg_id)
        assert "resuming run" in kernel.printed(msg_id)
    finally:
        kernel.shutdown()
    assert log.read_text() == "first\nsecond started\nsecond started\n"


LOOP_CELL = """
from pathlib import Path
from graflow_nb import TaskExecutionContext, task, workflow

drafts = Path("drafts.log")

with workflow("review-loop") as wf:
    @task(inject_context=True)
    def writer(ctx: TaskExecutionContext) -> str:
        notes = ctx.get_channel().get("notes", [])
        draft = f"draft {ctx.visit + 1}" + "".join(f" +{note}" for note in notes)
        with drafts.open("a") as f:
            f.write(draft + "\\n")
        return draft

    @task(inject_context=True)
    def reviewer(ctx: TaskExecutionContext, writer: str) -> str:
        response = ctx.request_feedback(feedback_type="approval", prompt=f"Publish {writer}?")
        if not response.approved:
            channel = ctx.get_channel()
            channel.set("notes", [*channel.get("notes", []), response.reason])
            ctx.next_task("writer", goto=True)
        return writer

    writer >> reviewer
run = wf.start()
"""


def test_a_review_loop_rejected_in_the_panel_resumes_in_its_round_after_a_restart(server: JupyterServer) -> None:
    folder = server.root / "notebooks"
    kernel_id = server.open_notebook("notebooks/loop.ipynb")
    kernel = connect(server, kernel_id)
    try:
        kernel.run(LOOP_CELL)
        first_round = kernel.mark()
        reason = kernel.find_widget("TextModel", placeholder="optional")
        kernel.set_value(reason, value="shorter")
        second_round = kernel.mark()
        kernel.click(kernel.find_widget("ButtonModel", description="Reject"))
        kernel.find_widget("HTMLModel", after=second_round, value=_containing("round 2"))  # the new round's control
        assert first_round < second_round
        kernel.find_widget("ButtonModel", after=second_round, description="Approve")

        def round_two_saved() -> bool:
            saved = saved_runs(folder / "loop.graflow_nb")
            return len(saved) == 1 and [r["request"]["visit"] for r in saved[0]["requests"]] == [0, 1]

        wait_until(round_two_saved)
    finally:
        kernel.shutdown()
    assert (folder / "drafts.log").read_text() == "draft 1\ndraft 2 +shorter\n"

    server.restart(kernel_id)  # round 2 is pending: the restarted kernel's run resumes in round 2
    kernel = connect(server, kernel_id)
    try:
        msg_id = kernel.submit(LOOP_CELL)
        assert kernel.reply(msg_id)["content"]["status"] == "ok"
        assert "resuming run" in kernel.printed(msg_id)
        kernel.find_widget("HTMLModel", value=_containing("round 2"))
        kernel.click(kernel.find_widget("ButtonModel", description="Approve", disabled=False))
        assert kernel.run("print(await run)").strip() == "draft 2 +shorter"
    finally:
        kernel.shutdown()
    assert (folder / "drafts.log").read_text() == "draft 1\ndraft 2 +shorter\n", "the writer did not run again"


class _containing(str):  # noqa: N801 - reads as a matcher in find_widget(value=_containing(...))
    """Equal to any string that contains it (for matching a widget's HTML)."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and str(self) in other


def saved_with_request(checkpoints: Path) -> dict[str, Any]:
    """The run's checkpoint once it lists its request (written just after the control appears)."""
    found: list[dict[str, Any]] = []

    def listed() -> bool:
        found[:] = saved_runs(checkpoints)
        return len(found) == 1 and bool(found[0]["requests"])

    wait_until(listed)
    return found[0]


def test_cli_answer_while_the_kernel_waits_shows_in_the_control(server: JupyterServer) -> None:
    folder = server.root / "notebooks"
    kernel = connect(server, server.open_notebook("notebooks/cli.ipynb"))
    try:
        kernel.run(DEPLOY_CELL.replace("restartable", "cli-answered").replace("side_effects", "cli_effects"))
        approve = kernel.find_widget("ButtonModel", description="Approve")
        feedback_id = saved_with_request(folder / "cli.graflow_nb")["requests"][0]["request"]["feedback_id"]
        answered = subprocess.run(
            [
                sys.executable,
                "-m",
                "graflow_nb",
                "answer",
                feedback_id,
                "--approve",
                "--by",
                "oncall",
                "--dir",
                str(folder / "cli.graflow_nb"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert answered.returncode == 0, answered.stderr
        kernel.wait_for(
            lambda: any("by oncall via cli" in str(state.get("value", "")) for state in kernel.widget_states.values()),
            timeout=5,
            what="the control showing the CLI answer",
        )
        kernel.click(approve)  # a late click, e.g. from a second tab whose view is not disabled yet
        kernel.wait_for(
            lambda: any(
                "already answered by oncall via cli" in str(state.get("value", ""))
                for state in kernel.widget_states.values()
            ),
            timeout=5,
            what="the control refusing the late click, naming who answered first",
        )
        assert kernel.run("print(await run)").strip() == "deployed 3"
    finally:
        kernel.shutdown()


def test_the_local_server_is_asked_which_notebook_owns_the_kernel(server: JupyterServer) -> None:
    """The fallback ipynbname uses: without JPY_SESSION_NAME, the server's sessions name the notebook."""
    kernel = connect(server, server.open_notebook("notebooks/other.ipynb"))
    try:
        found = kernel.run("from graflow_nb._io.notebook_path import _from_servers\nprint(_from_servers())")
    finally:
        kernel.shutdown()
    assert found.strip() == str(server.root / "notebooks" / "other.ipynb")
