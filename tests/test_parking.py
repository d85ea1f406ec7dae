"""Sync tasks that wait for a person beyond the run's thread budget are parked: no thread held while they
wait, run again once answered, each call given what it got before."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from types import FrameType

import pytest

from graflow_nb import (
    FeedbackTimeoutError,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    WorkflowCancelled,
    WorkflowPaused,
    decision_log,
    provide_feedback,
    task,
    workflow,
)
from graflow_nb._engine.parking import WAITING_THREADS_ENV, threads_for_waiting
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(120)


def review_batch(rows: int, executions: Counter[str], lock: threading.Lock) -> Workflow:
    """``rows`` parallel sync tasks ``row00``..., each counting its executions, then asking an approval."""
    with workflow("parked-batch") as wf:

        def review(index: int) -> object:
            @task(id=f"row{index:02d}", inject_context=True)
            def check(ctx: TaskExecutionContext) -> bool:
                with lock:
                    executions[ctx.task_id] += 1
                return ctx.request_feedback("approval", f"Keep row {index}?").approved

            return check

        rows_ = [review(index) for index in range(rows)]
        batch = rows_[0]
        for row in rows_[1:]:
            batch = batch | row  # type: ignore[operator]
    return wf


def threads_waiting_for_answers() -> int:
    """How many threads are inside a sync task's request_feedback now (read from their stacks)."""
    waiting = 0
    for top in sys._current_frames().values():
        frame: FrameType | None = top
        while frame is not None and frame.f_code.co_name != "_wait_in_thread":
            frame = frame.f_back
        waiting += frame is not None
    return waiting


def test_a_batch_beyond_the_budget_waits_with_that_many_threads_and_each_task_gets_its_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(WAITING_THREADS_ENV, "8")
    executions: Counter[str] = Counter()
    lock = threading.Lock()
    run = review_batch(40, executions, lock).start(presenters=[])
    wait_until(lambda: len(run.pending_requests) == 40, timeout=60)
    assert threads_waiting_for_answers() == 8
    with lock:
        assert sorted(Counter(executions.values()).items()) == [(1, 40)], "a parked task ran again before its answer"

    by_task = {request.task_id: request.feedback_id for request in run.pending_requests}
    for task_id, feedback_id in sorted(by_task.items()):
        provide_feedback(feedback_id, approved=int(task_id[3:]) % 2 == 0)
    run.wait(timeout=60)
    assert run.outcome is not None
    assert run.outcome.context is not None
    assert {t: run.outcome.context.get_result(t) for t in by_task} == {t: int(t[3:]) % 2 == 0 for t in by_task}
    with lock:  # the 8 with a thread ran once; the 32 parked ones again, once answered
        assert sorted(Counter(executions.values()).items()) == [(1, 8), (2, 32)]


def test_each_call_of_a_parked_task_gets_again_what_it_got_the_answer_an_error_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(WAITING_THREADS_ENV, "0")  # every waiting sync task is parked
    executions = []

    with workflow("parked-calls") as wf:

        @task(inject_context=True)
        def ask_three(ctx: TaskExecutionContext) -> tuple[bool, str, str]:
            executions.append(ctx.task_id)
            go = ctx.request_feedback("approval", "Go?").approved
            try:
                note = ctx.request_feedback("text", "A note?", timeout=0.2).text or ""
            except FeedbackTimeoutError:
                note = "(none in time)"
            colour = ctx.request_feedback("selection", "Colour?", options=["red", "blue"]).selected
            return go, note, str(colour)

    run = wf.start(presenters=[])
    wait_until(lambda: [r.prompt for r in run.pending_requests] == ["Go?"])
    provide_feedback(run.pending_requests[0].feedback_id, approved=True)
    # the note timed out meanwhile (its request still open until the task, catching that, completes)
    wait_until(lambda: "Colour?" in [r.prompt for r in run.pending_requests])
    (colour,) = [r for r in run.pending_requests if r.prompt == "Colour?"]
    provide_feedback(colour.feedback_id, selected="blue")
    assert run.wait(timeout=60) == (True, "(none in time)", "blue")
    assert len(executions) == 4  # parked at each of its three calls, then run to its end
    events = [(entry["event"], entry.get("prompt")) for entry in decision_log(wf.store.directory).entries]
    assert events == [  # each question asked once, however often the task ran
        ("requested", "Go?"),
        ("answered", "Go?"),
        ("requested", "A note?"),
        ("timed_out", "A note?"),
        ("requested", "Colour?"),
        ("answered", "Colour?"),
        ("closed", "A note?"),  # the task caught the timeout and completed
    ]
    (document,) = wf.runs()
    assert document.pending == []


def test_a_parked_tasks_timeout_left_uncaught_pauses_the_run_and_the_answer_given_meanwhile_resumes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(WAITING_THREADS_ENV, "0")
    with workflow("parked-pause") as wf:

        @task(inject_context=True)
        def gate(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback("approval", "Ship it?", timeout=0.2).approved

    with pytest.raises(WorkflowPaused) as paused:
        wf.execute(console=False)
    (feedback_id,) = paused.value.outcome.pending_feedback_ids
    provide_feedback(feedback_id, approved=True, checkpoint_dir=wf.store.directory)
    assert wf.resume() is True


def test_cancelling_a_run_stops_its_parked_tasks_without_running_them_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WAITING_THREADS_ENV, "2")
    executions: Counter[str] = Counter()
    lock = threading.Lock()
    run = review_batch(6, executions, lock).start(presenters=[])
    wait_until(lambda: len(run.pending_requests) == 6)
    run.cancel("enough")
    with pytest.raises(WorkflowCancelled, match="enough"):
        run.wait(timeout=60)
    assert run.status is RunStatus.CANCELLED
    with lock:
        assert set(executions.values()) == {1}


def test_a_budget_that_is_not_a_whole_number_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WAITING_THREADS_ENV, "lots")
    with pytest.raises(ValueError, match=r"\$GRAFLOW_NB_WAITING_THREADS must be a whole number >= 0, not 'lots'"):
        threads_for_waiting()
    monkeypatch.delenv(WAITING_THREADS_ENV)
    assert threads_for_waiting() == 128


def test_a_re_run_that_asks_another_question_is_asked_it_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WAITING_THREADS_ENV, "0")
    executions = []

    with workflow("parked-changed") as wf:

        @task(inject_context=True)
        def fickle(ctx: TaskExecutionContext) -> object:
            executions.append(1)
            if len(executions) == 1:
                return ctx.request_feedback("approval", "Go?").approved
            return ctx.request_feedback("selection", "Which way?", options=["left", "right"]).selected

    run = wf.start(presenters=[])
    wait_until(lambda: [r.prompt for r in run.pending_requests] == ["Go?"])
    provide_feedback(run.pending_requests[0].feedback_id, approved=True)
    wait_until(lambda: [r.prompt for r in run.pending_requests] == ["Which way?"])
    provide_feedback(run.pending_requests[0].feedback_id, selected="left")
    assert run.wait(timeout=60) == "left"
