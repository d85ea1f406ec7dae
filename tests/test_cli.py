"""The graflow-nb command, end to end in real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from graflow_nb import RunStatus, TaskExecutionContext, task, workflow
from tests.helpers import read_until, run_cli


def pause_three_questions(name: str = "cli") -> list[str]:
    with workflow(name) as wf:

        @task(inject_context=True)
        def approve(ctx: TaskExecutionContext) -> bool:
            return bool(ctx.request_feedback(feedback_type="approval", prompt="Ship it?", timeout=0.1).approved)

        @task(inject_context=True)
        def pick(ctx: TaskExecutionContext) -> object:
            return ctx.request_feedback(
                feedback_type="multi_selection", prompt="Which regions?", options=["eu", "us", "asia"], timeout=0.1
            ).selected

        @task(inject_context=True)
        def depth(ctx: TaskExecutionContext) -> object:
            return ctx.request_feedback(feedback_type="number", prompt="Depth?", min=1, max=10, timeout=0.1).value

        approve | pick | depth
        outcome = wf.run()
    assert outcome.status is RunStatus.PAUSED
    by_task = {}
    saved = json.loads(outcome.checkpoint_path.read_text())
    for record in saved["requests"]:
        by_task[record["request"]["task_id"]] = record["request"]["feedback_id"]
    return [by_task["approve"], by_task["pick"], by_task["depth"]]


def resume_three_questions(name: str = "cli") -> object:
    with workflow(name) as wf:

        @task(inject_context=True)
        def approve(ctx: TaskExecutionContext) -> bool:
            return bool(ctx.request_feedback(feedback_type="approval", prompt="Ship it?").approved)

        @task(inject_context=True)
        def pick(ctx: TaskExecutionContext) -> object:
            return ctx.request_feedback(
                feedback_type="multi_selection", prompt="Which regions?", options=["eu", "us", "asia"]
            ).selected

        @task(inject_context=True)
        def depth(ctx: TaskExecutionContext) -> object:
            return ctx.request_feedback(feedback_type="number", prompt="Depth?", min=1, max=10).value

        approve | pick | depth
        return wf.resume()


def test_list_show_answer_and_resume(checkpoint_dir: Path) -> None:
    approve, pick, depth = pause_three_questions()

    listing = run_cli("list", directory=checkpoint_dir)
    assert listing.returncode == 0, listing.stderr
    assert "cli-" in listing.stdout
    assert "paused" in listing.stdout
    for feedback_id in (approve, pick, depth):
        assert feedback_id in listing.stdout
    assert "Which regions?" in listing.stdout

    shown = run_cli("show", pick, directory=checkpoint_dir)
    assert shown.returncode == 0, shown.stderr
    details = json.loads(shown.stdout)
    assert details["request"]["options"] == ["eu", "us", "asia"]
    assert details["state"] == "pending"
    assert details["answer_with"].startswith(f"graflow-nb answer {pick} --select")

    answered = run_cli(
        "answer", approve, "--approve", "--reason", "looks good", "--by", "carol", directory=checkpoint_dir
    )
    assert answered.returncode == 0, answered.stderr
    assert "approved: looks good (by carol)" in answered.stdout
    assert "when resumed" in answered.stdout
    assert run_cli("answer", pick, "--select", "eu", "--select", "asia", directory=checkpoint_dir).returncode == 0
    assert run_cli("answer", depth, "--value", "7", directory=checkpoint_dir).returncode == 0

    assert "answered by carol" in run_cli("list", directory=checkpoint_dir).stdout
    assert resume_three_questions() == {"approve": True, "pick": ["eu", "asia"], "depth": 7}
    finished = run_cli("answer", approve, "--reject", directory=checkpoint_dir)
    assert finished.returncode == 1
    assert "is completed" in finished.stderr


def test_wrong_ids_and_wrong_answers_exit_non_zero_with_a_message(checkpoint_dir: Path) -> None:
    approve, pick, depth = pause_three_questions("cli-errors")
    cases = [
        (("answer", "fb-nope", "--approve"), 1, "no feedback request 'fb-nope'"),
        (("show", "fb-nope"), 1, "no feedback request 'fb-nope'"),
        (("answer", approve, "--text", "yes"), 2, "takes 'approved', not text"),
        (("answer", pick, "--select", "mars"), 2, "['mars'] not among the options"),
        (("answer", depth, "--value", "99"), 2, "above the maximum 10"),
        (("answer", depth, "--value", "2.5"), 2, "must be a whole number"),
        (("answer", depth, "--reason", "x", "--value", "3"), 2, "--reason goes with --approve or --reject"),
        (("answer", approve), 2, "one of the arguments"),
    ]
    for args, code, message in cases:
        result = run_cli(*args, directory=checkpoint_dir)
        assert (result.returncode, message in result.stderr) == (code, True), (args, result.stderr)
    assert run_cli("answer", approve, "--approve", "--by", "dana", directory=checkpoint_dir).returncode == 0
    again = run_cli("answer", approve, "--reject", directory=checkpoint_dir)
    assert again.returncode == 1
    assert "already answered by dana via cli" in again.stderr


def test_empty_directory_and_unreadable_file(checkpoint_dir: Path) -> None:
    assert "no runs in" in run_cli("list", directory=checkpoint_dir).stdout
    checkpoint_dir.mkdir(parents=True)
    (checkpoint_dir / "junk.json").write_text("{")
    listing = run_cli("list", directory=checkpoint_dir)
    assert listing.returncode == 0
    assert "junk.json: UNREADABLE" in listing.stdout


LIVE_SCRIPT = textwrap.dedent(
    """
    from graflow_nb import TaskExecutionContext, task, workflow

    with workflow("live-cli") as wf:
        @task(inject_context=True)
        def choose(ctx: TaskExecutionContext) -> str:
            return ctx.request_feedback(
                feedback_type="selection", prompt="Environment?", options=["staging", "production"]
            ).selected

        print("result=" + wf.execute(), flush=True)
    """
)


def test_cli_answers_a_script_waiting_live(checkpoint_dir: Path, tmp_path: Path) -> None:
    """With no terminal (stdin is /dev/null) the script waits, and an answer from the CLI resumes it."""
    script = tmp_path / "live.py"
    script.write_text(LIVE_SCRIPT)
    env = {**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(checkpoint_dir)}
    with subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        try:
            assert process.stderr is not None
            assert process.stdout is not None
            notice = read_until(process.stderr.fileno(), b"--dir").decode()
            feedback_id = notice.split("waiting for selection ")[1].split()[0]
            answered = run_cli("answer", feedback_id, "--select", "production", directory=checkpoint_dir)
            assert answered.returncode == 0, answered.stderr
            assert "picks it up now" in answered.stdout
            assert b"result=production" in read_until(process.stdout.fileno(), b"\n")
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()
