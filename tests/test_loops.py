"""Loops: a reviewer rejects, the run goes back to the writer, and the reviewer is asked again.

Graflow's ``ctx.next_task(task, goto=True)`` and ``ctx.next_iteration(data)``, with checkpoints: a run
paused in its third round resumes in its third round, and each round's requests are its own.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from graflow_nb import (
    CycleLimitExceededError,
    LoopConflictError,
    MaxStepsExceededError,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    WorkflowFailed,
    WorkflowPaused,
    provide_feedback,
    task,
    workflow,
)
from graflow_nb.testing import ScriptedAnswers


def review_loop(name: str = "review-loop", timeout: float | None = None) -> tuple[Workflow, list[str]]:
    """writer >> reviewer >> publish; a rejection sends the run back to the writer with the reason."""
    written: list[str] = []

    with workflow(name) as wf:

        @task(inject_context=True)
        def writer(ctx: TaskExecutionContext) -> str:
            notes = ctx.get_channel().get("notes", [])
            draft = f"draft {ctx.visit + 1}" + (f" (fixed: {notes[-1]})" if notes else "")
            written.append(draft)
            return draft

        @task(inject_context=True)
        def reviewer(ctx: TaskExecutionContext, writer: str) -> str:
            response = ctx.request_feedback(feedback_type="approval", prompt=f"Publish {writer!r}?", timeout=timeout)
            if not response.approved:
                channel = ctx.get_channel()
                channel.set("notes", [*channel.get("notes", []), response.reason or "no reason"])
                ctx.next_task("writer", goto=True)  # its id: the parameter `writer` holds the draft
            return writer

        @task
        def publish(reviewer: str) -> str:
            return f"published {reviewer}"

        writer >> reviewer >> publish
    return wf, written


def requests_of(outcome_path: Any) -> list[dict[str, Any]]:
    return json.loads(outcome_path.read_text())["requests"]


def test_reject_revise_approve_runs_the_writer_again_and_asks_again() -> None:
    wf, written = review_loop()
    answers = ScriptedAnswers(
        {
            "reviewer": [
                {"approved": False, "reason": "too long"},
                {"approved": False, "reason": "typo"},
                {"approved": True},
            ]
        }
    )
    outcome = wf.run(presenters=[answers])
    assert outcome.status is RunStatus.COMPLETED
    assert outcome.result == "published draft 3 (fixed: typo)"
    assert written == ["draft 1", "draft 2 (fixed: too long)", "draft 3 (fixed: typo)"]
    saved = json.loads(outcome.checkpoint_path.read_text())
    assert saved["visits"] == {"writer": 3, "reviewer": 3, "publish": 1}
    assert saved["steps"] == 7
    rounds = [(r["request"]["visit"], r["response"]["approved"]) for r in saved["requests"]]
    assert rounds == [(0, False), (1, False), (2, True)], "each round asks anew; no answer is reused"


def test_a_run_paused_in_its_third_round_resumes_in_its_third_round() -> None:
    wf, written = review_loop("loop-pause", timeout=0.1)
    answers = ScriptedAnswers({"reviewer": [{"approved": False, "reason": "a"}, {"approved": False, "reason": "b"}]})
    with pytest.raises(WorkflowPaused) as paused:
        wf.run(presenters=[answers]).raise_for_status()
    outcome = paused.value.outcome
    (pending,) = outcome.pending_feedback_ids
    record = next(r for r in requests_of(outcome.checkpoint_path) if r["request"]["feedback_id"] == pending)
    assert record["request"]["visit"] == 2
    assert written == ["draft 1", "draft 2 (fixed: a)", "draft 3 (fixed: b)"]

    provide_feedback(pending, approved=True, checkpoint_dir=wf.store.directory)
    assert wf.resume() == "published draft 3 (fixed: b)"
    assert written[-1] == "draft 3 (fixed: b)", "the writer did not run again: only the asking reviewer did"
    (run,) = wf.runs()
    assert run.visits == {"writer": 3, "reviewer": 3, "publish": 1}
    assert [(r.request.visit, r.state) for r in run.requests] == [(0, "answered"), (1, "answered"), (2, "answered")]


def test_next_iteration_reruns_the_task_with_its_data_until_it_stops_asking() -> None:
    seen: list[Any] = []

    with workflow("tune") as wf:

        @task(inject_context=True)
        def tune(ctx: TaskExecutionContext, data: dict[str, Any] | None = None) -> float:
            learning_rate = (data or {}).get("lr", 0.1)
            seen.append((ctx.cycle_count, learning_rate))
            if learning_rate > 0.02:
                ctx.next_iteration({"lr": round(learning_rate / 2, 4)})
            return learning_rate

        @task
        def report(tune: float) -> str:
            return f"settled on {tune}"

        tune >> report
        assert wf.execute() == "settled on 0.0125"
    assert seen == [(0, 0.1), (1, 0.05), (2, 0.025), (3, 0.0125)]


def test_iterations_are_bounded() -> None:
    with workflow("forever") as wf:

        @task(inject_context=True)
        def again(ctx: TaskExecutionContext) -> None:
            ctx.next_iteration()

        with pytest.raises(WorkflowFailed) as failed:
            wf.execute()
    assert isinstance(failed.value.__cause__, CycleLimitExceededError)
    assert "iterated 10 times" in str(failed.value.__cause__)


def test_max_steps_stops_a_loop_that_does_not_end_with_a_clear_failure() -> None:
    wf, written = review_loop("max-steps")
    never = ScriptedAnswers({"reviewer": [{"approved": False, "reason": str(n)} for n in range(50)]})
    outcome = wf.run(presenters=[never], max_steps=5)
    assert outcome.status is RunStatus.FAILED
    assert isinstance(outcome.exception, MaxStepsExceededError)
    assert "max_steps=5" in (outcome.reason or "")
    assert len(written) == 3  # writer, reviewer, writer, reviewer, writer: five steps


def test_a_forward_goto_skips_the_tasks_it_passes_over() -> None:
    with workflow("escalation") as wf:

        @task(inject_context=True)
        def triage(ctx: TaskExecutionContext) -> str:
            ctx.next_task(escalate, goto=True)
            return "urgent"

        @task
        def routine(triage: str) -> str:
            return "filed"

        @task
        def archive(routine: str) -> str:
            return "archived"

        @task
        def escalate() -> str:
            return "paged the on-call"

        triage >> routine >> archive
        triage >> escalate
        outcome = wf.run()
    assert outcome.status is RunStatus.COMPLETED
    assert outcome.result == "paged the on-call", "the skipped branch's last task is no result of the run"
    saved = json.loads(outcome.checkpoint_path.read_text())
    assert sorted(saved["skipped"]) == ["archive", "routine"]
    assert saved["completed"] == ["triage", "escalate"]


def test_going_back_while_a_later_task_still_runs_fails_clearly() -> None:
    with workflow("two-reviewers") as wf:

        @task
        def draft() -> str:
            return "text"

        @task(inject_context=True)
        def quick_review(ctx: TaskExecutionContext, draft: str) -> str:
            ctx.next_task(draft_task, goto=True)
            return "no"

        @task(inject_context=True)
        def slow_review(ctx: TaskExecutionContext, draft: str) -> bool | None:
            return ctx.request_feedback(feedback_type="approval", prompt="Fine?").approved

        draft_task = draft
        draft >> (quick_review | slow_review)
        outcome = wf.run(presenters=[])
    assert outcome.status is RunStatus.FAILED
    assert isinstance(outcome.exception, LoopConflictError)
    assert "'slow_review'" in str(outcome.exception)


def test_next_task_refuses_what_is_not_a_task_of_the_workflow() -> None:
    with workflow("strays") as wf:

        @task(inject_context=True)
        def jump(ctx: TaskExecutionContext) -> None:
            ctx.next_task(len)  # type: ignore[arg-type]

        @task(inject_context=True)
        def unknown(ctx: TaskExecutionContext) -> None:
            ctx.next_task("nowhere")

        failed = [wf.run(start_node=name) for name in ("jump", "unknown")]
    assert [outcome.status for outcome in failed] == [RunStatus.FAILED, RunStatus.FAILED]
    assert "takes a task" in str(failed[0].exception)
    assert "'nowhere'" in str(failed[1].exception)


def test_an_answers_file_answers_each_round_by_its_visit(tmp_path: Any) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(
        json.dumps(
            {
                "version": 1,
                "answers": [
                    {"task": "reviewer", "call": 0, "answer": {"approved": False, "reason": "shorter"}},
                    {"task": "reviewer", "call": 0, "visit": 1, "answer": {"approved": True}},
                ],
            }
        )
    )
    wf, written = review_loop("replayed-loop")
    assert wf.execute(answers=answers) == "published draft 2 (fixed: shorter)"
    assert written == ["draft 1", "draft 2 (fixed: shorter)"]

    from graflow_nb import MissingAnswerError

    answers.write_text(json.dumps({"version": 1, "answers": json.loads(answers.read_text())["answers"][:1]}))
    wf, _ = review_loop("replayed-loop-short")
    outcome = wf.run(answers=answers)
    assert isinstance(outcome.exception, MissingAnswerError)
    assert '"visit": 1' in str(outcome.exception), "the entry it suggests names the round"


@task(inject_context=True)
def escalate_to_oncall(ctx: TaskExecutionContext) -> str:
    """A task no workflow lists: a run adds it with ctx.next_task (defined at the top level, so that a
    resumed run finds it again)."""
    response = ctx.request_feedback(feedback_type="text", prompt="Who takes it?", timeout=ctx.get_channel().get("wait"))
    return f"escalated to {response.text}"


def triage_workflow(name: str, goto: bool) -> Workflow:
    with workflow(name) as wf:

        @task(inject_context=True)
        def triage(ctx: TaskExecutionContext) -> str:
            ctx.next_task(escalate_to_oncall, goto=goto)
            return "urgent"

        @task
        def routine(triage: str) -> str:
            return f"filed as {triage}"

        triage >> routine
    return wf


def test_a_task_the_workflow_lacks_is_added_to_the_run_beside_or_instead_of_the_successors() -> None:
    answers = ScriptedAnswers({"escalate_to_oncall": [{"text": "dana"}]})
    beside = triage_workflow("add-beside", goto=False).run(presenters=[answers], channel={"wait": None})
    assert beside.result == {"routine": "filed as urgent", "escalate_to_oncall": "escalated to dana"}
    instead = triage_workflow("add-instead", goto=True)
    answers = ScriptedAnswers({"escalate_to_oncall": [{"text": "eve"}]})
    outcome = instead.run(presenters=[answers], channel={"wait": None})
    assert outcome.result == "escalated to eve"
    saved = json.loads(outcome.checkpoint_path.read_text())
    assert saved["added"] == [["escalate_to_oncall", "triage"]]
    assert saved["skipped"] == ["routine"]
    assert "escalate_to_oncall" not in instead.graph.tasks, "the definition is unchanged: the run had its own graph"


def test_a_run_paused_in_an_added_task_resumes_in_it() -> None:
    wf = triage_workflow("add-pause", goto=True)
    with pytest.raises(WorkflowPaused) as paused:
        wf.run(presenters=[], channel={"wait": 0.05}).raise_for_status()
    provide_feedback(paused.value.outcome.pending_feedback_ids[0], text="fay", checkpoint_dir=wf.store.directory)
    assert wf.resume() == "escalated to fay"


LOST_TASK_SCRIPT = """
import sys
from graflow_nb import CheckpointMismatchError, TaskExecutionContext, task, workflow

with workflow("add-lost") as wf:
    @task(inject_context=True)
    def triage(ctx: TaskExecutionContext) -> None:
        ctx.next_task(made_inside, goto=True)

if sys.argv[1] == "first":
    @task(id="made_inside", inject_context=True)
    def made_inside(ctx: TaskExecutionContext) -> None:
        ctx.request_feedback(feedback_type="approval", prompt="ok?", timeout=0.05)

    print(wf.run(presenters=[]).status.value)
else:  # a new process, in which nothing defines the task the first run added
    try:
        wf.resume()
    except CheckpointMismatchError as error:
        print(error)
"""


def test_resuming_a_run_whose_added_task_is_not_defined_says_what_to_do(tmp_path: Any) -> None:
    import subprocess
    import sys

    script = tmp_path / "lost.py"
    script.write_text(LOST_TASK_SCRIPT)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRAFLOW_NB_")}

    def run(step: str) -> str:
        command = [sys.executable, str(script), step]
        done = subprocess.run(command, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert run("first").strip() == "paused"
    said = run("again")
    assert "added task 'made_inside' while it ran (ctx.next_task)" in said
    assert "run the cell (or import the module) that defines it, then resume" in said
