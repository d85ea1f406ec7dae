"""The engine: concurrency, async tasks, cancel/terminate, failures, pauses across parallel branches."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from graflow_nb import (
    ChannelValueError,
    RunOutcome,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    WorkflowFailed,
    provide_feedback,
    task,
    workflow,
)
from graflow_nb._engine.engine import live_engines
from graflow_nb.testing import RecordingPresenter, ScriptedAnswers
from tests.conftest import StartInBackground
from tests.helpers import read_until, saved_runs, wait_until


class TestConcurrency:
    def test_parallel_sync_tasks_run_at_the_same_time(self) -> None:
        both_running = threading.Barrier(2, timeout=10)  # breaks (and fails the test) unless both run at once
        with workflow("parallel") as wf:

            @task
            def left() -> str:
                both_running.wait()
                return "left"

            @task
            def right() -> str:
                both_running.wait()
                return "right"

            left | right
            assert wf.execute() == {"left": "left", "right": "right"}

    def test_async_tasks_run_on_the_loop_and_can_await_feedback(self) -> None:
        with workflow("async") as wf:

            @task(inject_context=True)
            async def ask(ctx: TaskExecutionContext) -> str:
                await anyio.sleep(0)
                response = await ctx.request_feedback_async(feedback_type="text", prompt="Name?")
                return response.text or ""

            @task
            async def shout(ask: str) -> str:
                return ask.upper()

            ask >> shout
            outcome = wf.run(presenters=[ScriptedAnswers({"ask": [{"text": "ada"}]})])
        assert outcome.result == "ADA"

    async def test_run_async_can_be_awaited(self) -> None:
        with workflow("awaited") as wf:

            @task
            def one() -> int:
                return 1

            outcome = await wf.run_async()
        assert outcome.result == 1

    def test_blocking_request_feedback_in_an_async_task_is_refused(self) -> None:
        with workflow("async-misuse") as wf:

            @task(inject_context=True)
            async def ask(ctx: TaskExecutionContext) -> None:
                ctx.request_feedback(feedback_type="text", prompt="Name?")

            outcome = wf.run()
        assert outcome.status is RunStatus.FAILED
        assert "await ctx.request_feedback_async" in (outcome.reason or "")

    def test_a_waiting_task_does_not_stop_other_branches(self, background: StartInBackground) -> None:
        recorder = RecordingPresenter()
        other_finished = threading.Event()
        with workflow("waiting-branch") as wf:

            @task(inject_context=True)
            def wait_for_person(ctx: TaskExecutionContext) -> bool:
                return ctx.request_feedback(feedback_type="approval", prompt="ok?").approved

            @task
            def compute() -> int:
                other_finished.set()
                return 42

            wait_for_person | compute
            running = background(wf, presenters=[recorder])
            request = recorder.next_request()
            assert other_finished.wait(10)
            provide_feedback(request.feedback_id, approved=True)
            assert running.result(timeout=10).result == {"wait_for_person": True, "compute": 42}


class TestFanOut:
    """Many sync tasks without a context, ready at once, go to the shared pool and are collected in batches."""

    def fan(self, name: str, branch: Callable[[int], int], width: int) -> Workflow:
        with workflow(name) as wf:

            @task
            def start() -> int:
                return 0

            @task(inject_context=True)
            def join(ctx: TaskExecutionContext) -> list[int]:
                return [ctx.get_channel().get(f"b{index}.__result__") for index in range(width)]

            for index in range(width):
                start >> task(id=f"b{index}")(functools.partial(branch, index)) >> join
        return wf

    def test_every_branch_runs_in_the_pool_and_the_join_sees_all_results(self) -> None:
        threads: set[str] = set()

        def branch(index: int) -> int:
            threads.add(threading.current_thread().name)
            return index * 2

        outcome = self.fan("wide", branch, width=80).run(presenters=[])
        assert outcome.result == [index * 2 for index in range(80)]
        assert threads
        assert all(name.startswith("graflow-nb") for name in threads)
        saved = json.loads(outcome.checkpoint_path.read_text())
        assert len(saved["completed"]) == 82

    def test_a_failing_branch_fails_the_run_once_the_running_branches_have_finished(self) -> None:
        all_started = threading.Barrier(4, timeout=10)
        failed = threading.Event()
        finished: list[int] = []

        def branch(index: int) -> int:
            all_started.wait()
            if index == 0:
                failed.set()
                raise ValueError("bad row")
            assert failed.wait(timeout=10)
            finished.append(index)
            return index

        outcome = self.fan("one-fails", branch, width=4).run(presenters=[])
        assert outcome.status is RunStatus.FAILED
        assert outcome.error is not None
        assert (outcome.error.task_id, outcome.error.message) == ("b0", "bad row")
        saved = json.loads(outcome.checkpoint_path.read_text())
        assert sorted(finished) == [1, 2, 3]
        assert set(saved["completed"]) == {"start", "b1", "b2", "b3"}  # their work is kept; the join never ran

    def test_an_interrupted_run_waits_for_running_branches_keeps_their_results_and_resumes(self) -> None:
        all_started = threading.Barrier(4, timeout=10)
        release = threading.Event()

        def branch(index: int) -> int:
            all_started.wait()
            assert release.wait(timeout=10)
            return index

        wf = self.fan("interrupted-fan", branch, width=3)

        async def interrupt_while_branches_run() -> None:
            async with anyio.create_task_group() as group:
                group.start_soon(functools.partial(wf.run_async, presenters=[]))
                await anyio.to_thread.run_sync(all_started.wait)
                group.cancel_scope.cancel()  # before the branches can end: they wait for `release`
                release.set()

        anyio.run(interrupt_while_branches_run)
        (document,) = wf.runs()
        assert (document.status, document.reason) == (RunStatus.PAUSED, "interrupted before it finished")
        assert set(document.completed) == {"start", "b0", "b1", "b2"}
        outcome = wf.run(resume=True, presenters=[])  # the branches are not run again (the barrier would break)
        assert outcome.result == [0, 1, 2]


class TestCancelAndTerminate:
    def test_cancel_stops_the_task_and_interrupts_a_parallel_wait(self, background: StartInBackground) -> None:
        recorder = RecordingPresenter()
        after_cancel: list[str] = []
        with workflow("cancel-parallel") as wf:

            @task(inject_context=True)
            def waits(ctx: TaskExecutionContext) -> None:
                ctx.request_feedback(feedback_type="approval", prompt="never answered")
                after_cancel.append("waits went on")

            @task(inject_context=True)
            def cancels(ctx: TaskExecutionContext) -> None:
                recorder_ready.wait(10)
                ctx.cancel_workflow("stop everything")
                after_cancel.append("cancels went on")

            @task
            def later() -> None:
                after_cancel.append("later ran")

            recorder_ready = threading.Event()
            (waits | cancels) >> later
            running = background(wf, presenters=[recorder])
            recorder.next_request()
            recorder_ready.set()
            outcome = running.result(timeout=10)
        assert outcome.status is RunStatus.CANCELLED
        assert outcome.reason == "stop everything"
        assert after_cancel == []
        saved = json.loads(outcome.checkpoint_path.read_text())
        assert [r["state"] for r in saved["requests"]] == ["closed"]

    def test_cancel_survives_a_broad_except(self) -> None:
        with workflow("broad-except") as wf:

            @task(inject_context=True)
            def stubborn(ctx: TaskExecutionContext) -> str:
                try:
                    ctx.cancel_workflow("really stop")
                except Exception:  # noqa: BLE001 - the point: user code like this must not swallow the cancel
                    return "swallowed"
                return "went on"

            assert wf.run().status is RunStatus.CANCELLED

    def test_terminate_completes_early_with_the_task_result(self) -> None:
        ran: list[str] = []
        with workflow("terminate") as wf:

            @task(inject_context=True)
            def decide(ctx: TaskExecutionContext) -> str:
                ctx.terminate_workflow("nothing left to do")
                return "early"

            @task
            def later() -> None:
                ran.append("later")

            decide >> later
            outcome = wf.run()
        assert (outcome.status, outcome.result, outcome.reason) == (RunStatus.COMPLETED, "early", "nothing left to do")
        assert ran == []


class TestFailures:
    def test_task_error_fails_the_run_and_keeps_the_work_done(self) -> None:
        with workflow("fails") as wf:

            @task
            def prepare() -> dict:
                return {"rows": 10}

            @task
            def explode(prepare: dict) -> None:
                raise KeyError("column 'price'")

            prepare >> explode
            with pytest.raises(WorkflowFailed) as raised:
                wf.execute()
        outcome = raised.value.outcome
        assert isinstance(raised.value.__cause__, KeyError)
        assert "task 'explode' raised KeyError" in str(raised.value)
        saved = json.loads(outcome.checkpoint_path.read_text())
        assert saved["status"] == "failed"
        assert saved["completed"] == ["prepare"]
        assert saved["channel"]["prepare.__result__"] == {"rows": 10}
        assert saved["error"]["error_type"] == "KeyError"

    def test_failed_run_resumes_without_redoing_completed_tasks(self) -> None:
        calls: list[str] = []
        broken = [True]
        with workflow("fix-and-resume") as wf:

            @task
            def prepare() -> int:
                calls.append("prepare")
                return 1

            @task
            def flaky(prepare: int) -> int:
                calls.append("flaky")
                if broken[0]:
                    raise RuntimeError("network down")
                return prepare + 1

            prepare >> flaky
            assert wf.run().status is RunStatus.FAILED
            broken[0] = False
            assert wf.resume() == 2
        assert calls == ["prepare", "flaky", "flaky"]

    def test_non_json_channel_value_names_key_and_type(self) -> None:
        with workflow("bad-channel") as wf:

            @task(inject_context=True)
            def store(ctx: TaskExecutionContext) -> None:
                ctx.get_channel().set("model", {"weights": [1, lambda x: x]})

            with pytest.raises(WorkflowFailed) as raised:
                wf.execute()
        error = raised.value.__cause__
        assert isinstance(error, ChannelValueError)
        assert "channel key 'model'" in str(error)
        assert "['weights'][1]" in str(error)
        assert "of type function" in str(error)


class TestPausesAcrossBranches:
    def test_two_pending_branches_answered_in_either_order(self, background: StartInBackground) -> None:
        for order in (["left", "right"], ["right", "left"]):
            recorder = RecordingPresenter()
            with workflow(f"two-pending-{order[0]}") as wf:

                @task(inject_context=True)
                def left(ctx: TaskExecutionContext) -> str:
                    return ctx.request_feedback(feedback_type="text", prompt="left?").text or ""

                @task(inject_context=True)
                def right(ctx: TaskExecutionContext) -> str:
                    return ctx.request_feedback(feedback_type="text", prompt="right?").text or ""

                left | right
                running = background(wf, presenters=[recorder])
                shown = {r.task_id: r for r in (recorder.next_request(), recorder.next_request())}
                for task_id in order:
                    provide_feedback(shown[task_id].feedback_id, text=f"{task_id} answer")
                assert running.result(timeout=10).result == {"left": "left answer", "right": "right answer"}

    def test_timeout_in_one_branch_pauses_the_whole_run(self) -> None:
        ran: list[str] = []
        with workflow("branch-timeout") as wf:

            @task(inject_context=True)
            def slow_review(ctx: TaskExecutionContext) -> bool:
                return ctx.request_feedback(feedback_type="approval", prompt="review", timeout=0.2).approved

            @task(inject_context=True)
            def other_review(ctx: TaskExecutionContext) -> bool:
                return ctx.request_feedback(feedback_type="approval", prompt="other").approved

            @task
            def after_group() -> None:
                ran.append("after_group")

            (slow_review | other_review) >> after_group
            paused = wf.run()
            assert paused.status is RunStatus.PAUSED
            assert len(paused.pending_feedback_ids) == 2
            assert ran == []
            for feedback_id in paused.pending_feedback_ids:
                provide_feedback(feedback_id, approved=True)
            wf.resume()
        assert ran == ["after_group"]

    def test_task_asking_twice_gets_each_recorded_answer_in_call_order(self) -> None:
        questions_asked: list[str] = []
        with workflow("asks-twice") as wf:

            @task(inject_context=True)
            def two_questions(ctx: TaskExecutionContext) -> tuple[str, str]:
                first = ctx.request_feedback(feedback_type="text", prompt="first?", timeout=5)
                questions_asked.append("first")
                second = ctx.request_feedback(feedback_type="text", prompt="second?", timeout=0.2)
                questions_asked.append("second")
                return (first.text or "", second.text or "")

            paused = wf.run(presenters=[ScriptedAnswers({"two_questions": [{"text": "one"}]})])
            assert paused.status is RunStatus.PAUSED
            (pending,) = paused.pending_feedback_ids
            provide_feedback(pending, text="two")
            recorder = RecordingPresenter()
            resumed = wf.run(resume=True, presenters=[recorder])
        assert resumed.result == ("one", "two")
        assert recorder.shown == []  # nobody was asked again


INTERRUPTED_SCRIPT = """
from graflow_nb import TaskExecutionContext, task, workflow

with workflow("interrupted") as wf:
    @task
    def prepare() -> int:
        return 7

    @task(inject_context=True)
    def ask(ctx: TaskExecutionContext, prepare: int) -> bool:
        return ctx.request_feedback(feedback_type="approval", prompt="Go?").approved

    prepare >> ask
    wf.execute()
"""


def test_ctrl_c_saves_the_run_as_paused_and_it_resumes(tmp_path: Path, checkpoint_dir: Path) -> None:
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED_SCRIPT)
    env = {**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(checkpoint_dir)}
    with subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    ) as process:
        assert process.stderr is not None
        read_until(process.stderr.fileno(), b"answer from elsewhere")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) != 0
        after = process.stderr.read().decode()
    # the waiting request stops at once (no "waiting for 'ask' to finish"), and the end is short
    assert "to finish" not in after, after
    (path,) = checkpoint_dir.glob("*.json")
    assert after.strip().splitlines()[-1] == (
        f"graflow_nb: run {path.stem} saved as paused; run the script again to continue it "
        f"(or wf.resume({path.stem!r}))"
    )
    assert "Traceback" not in after, "an interrupt the run saved itself from ends in its message, not a stack"
    saved = json.loads(path.read_text())
    assert (saved["status"], saved["reason"]) == ("paused", "interrupted before it finished")
    assert saved["completed"] == ["prepare"]
    provide_feedback(saved["requests"][0]["request"]["feedback_id"], approved=True)
    with workflow("interrupted") as wf:

        @task
        def prepare() -> int:
            raise AssertionError("completed tasks are not run again")

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext, prepare: int) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Go?").approved and prepare == 7

        prepare >> ask
        assert wf.resume() is True


def test_start_outside_a_notebook_runs_in_the_background_and_wait_returns_the_result() -> None:
    with workflow("background-start") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> str:
            return ctx.request_feedback(feedback_type="text", prompt="Name?").text or ""

        run = wf.start(presenters=[ScriptedAnswers({"ask": [{"text": "ada"}]})])
        assert run.wait() == "ada"
        assert run.status is RunStatus.COMPLETED


class TestTasksOnTheLoopThread:
    """A lone sync task without a context runs on the loop's thread; nothing may suffer for it."""

    def long_second_step(self, release: threading.Event, started: threading.Event) -> Workflow:
        with workflow("inline") as wf:

            @task
            def first() -> int:
                return 1

            @task
            def second(first: int) -> int:
                self.on_the_loop.append(_event_loop_running_here())
                started.set()
                assert release.wait(timeout=30), "the test never released the task"
                return first + 1

            first >> second
        return wf

    on_the_loop: list[bool]

    @pytest.fixture(autouse=True)
    def _fresh(self) -> None:
        self.on_the_loop = []

    def test_progress_is_saved_while_a_long_task_runs_there(
        self, background: StartInBackground, checkpoint_dir: Path
    ) -> None:
        release, started = threading.Event(), threading.Event()
        running = background(self.long_second_step(release, started), presenters=[])
        assert started.wait(timeout=10)

        def first_saved() -> bool:
            saved = saved_runs(checkpoint_dir, "inline-*.json")
            return bool(saved) and saved[0]["completed"] == ["first"]

        assert self.on_the_loop == [True], "`second` runs on the loop's own thread, so the loop cannot save"
        wait_until(first_saved, timeout=10)  # so the watchdog wrote it
        release.set()
        assert running.result(timeout=10).result == 2

    def test_a_cancel_from_another_thread_does_not_wait_for_the_task(self, background: StartInBackground) -> None:
        release, started = threading.Event(), threading.Event()
        running = background(self.long_second_step(release, started), presenters=[])
        assert started.wait(timeout=10)
        (engine,) = list(live_engines)
        engine.cancel_threadsafe("stop")  # returns at once (were it to wait for the task, this test would hang)
        assert not running.done(), "the task still holds the run: the cancel did not wait for it"
        release.set()
        outcome = running.result(timeout=10)
        assert outcome.status is RunStatus.CANCELLED
        assert outcome.reason == "stop"


class TestResultsACheckpointCannotHold:
    def test_the_warning_points_at_the_users_task_and_says_what_to_do(self) -> None:
        from graflow_nb import UnsavedResultWarning

        class Model:  # stands in for a fitted estimator
            pass

        with workflow("unsaved") as wf:

            @task
            def fit() -> dict:
                return {"model": Model(), "score": 0.9}

        with pytest.warns(UnsavedResultWarning) as caught:
            result = wf.execute()
        assert isinstance(result["model"], Model)
        warning = caught[0]
        assert warning.filename == __file__  # the user's code, not a line inside graflow_nb
        assert warning.lineno == fit.func.__code__.co_firstlineno
        message = str(warning.message)
        assert "task 'fit' returned a Model (at result['model'])" in message
        assert "runs again" in message
        assert "return data (JSON, dates, Decimals, NumPy arrays, pandas frames)" in message


class TestATaskThatSwallowsTheStop:
    def test_its_fallback_is_not_kept_and_the_answer_given_later_is_used_on_resume(self) -> None:
        from graflow_nb import SwallowedStopWarning

        with workflow("swallower") as wf:

            @task(inject_context=True)
            def ask(ctx: TaskExecutionContext) -> str:
                try:
                    return ctx.request_feedback(feedback_type="text", prompt="Name?").text or ""
                except BaseException:  # noqa: BLE001 - the mistake under test
                    return "fallback"

            @task(inject_context=True)
            def gate(ctx: TaskExecutionContext) -> bool:  # its timeout, uncaught, pauses the run
                return ctx.request_feedback(feedback_type="approval", prompt="Go?", timeout=0.05).approved

            wf.add(ask, gate)

        with pytest.warns(SwallowedStopWarning, match="task 'ask' caught graflow_nb's stop") as caught:
            outcome = wf.run()
        assert caught[0].filename == __file__
        assert outcome.status is RunStatus.PAUSED
        assert len(outcome.pending_feedback_ids) == 2, "both requests stay open"
        assert "ask.__result__" not in outcome_channel(outcome)
        requests = json.loads(outcome.checkpoint_path.read_text())["requests"]
        by_task = {r["request"]["task_id"]: r["request"]["feedback_id"] for r in requests}
        provide_feedback(by_task["ask"], text="ada")
        provide_feedback(by_task["gate"], approved=True)
        assert wf.resume() == {"ask": "ada", "gate": True}


def outcome_channel(outcome: RunOutcome) -> dict:
    return json.loads(outcome.checkpoint_path.read_text())["channel"]


def _event_loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_a_blocking_request_from_an_async_task_fails_the_run_naming_the_async_call() -> None:
    from graflow_nb import BlockingCallError

    with workflow("async-asks-blocking") as wf:

        @task(inject_context=True)
        async def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Go?").approved

    outcome = wf.run(presenters=[])
    assert outcome.status is RunStatus.FAILED
    assert isinstance(outcome.exception, BlockingCallError)
    assert isinstance(outcome.exception, RuntimeError)
    assert "use `await ctx.request_feedback_async(...)`" in str(outcome.exception)


PAUSING_SCRIPT = """
import sys
from graflow_nb import TaskExecutionContext, task, workflow

with workflow("pausing") as wf:
    @task(inject_context=True)
    def ask(ctx: TaskExecutionContext) -> bool:
        return ctx.request_feedback(feedback_type="approval", prompt="Go?", timeout=0.2).approved

if sys.argv[1:] == ["other"]:
    wf.run(resume=False)  # a run first (so graflow_nb's way of ending is in place), then another error
    int("not a number")
wf.execute()
"""


def test_a_script_whose_run_pauses_ends_with_what_to_do_not_a_traceback(tmp_path: Path, checkpoint_dir: Path) -> None:
    script = tmp_path / "pausing.py"
    script.write_text(PAUSING_SCRIPT)
    env = {**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(checkpoint_dir)}
    paused = subprocess.run(
        [sys.executable, str(script)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert paused.returncode == 1
    assert "Traceback" not in paused.stderr, paused.stderr
    (path,) = checkpoint_dir.glob("pausing-*.json")
    ending = paused.stderr.strip().splitlines()[-4:]
    feedback_id = ending[1].split()[-1]
    assert ending[0] == f"workflow 'pausing' run {path.stem} paused: no answer to {feedback_id} (ask) within 0.2 s"
    assert ending[2].endswith(
        "then resume the run: run the script, the workflow's cell or the notebook again (or wf.resume())"
    )
    assert ending[3] == f"checkpoint: {path}"
    other = subprocess.run(
        [sys.executable, str(script), "other"],
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "Traceback" in other.stderr, "any other error is shown as Python shows it"
    assert other.stderr.strip().splitlines()[-1] == "ValueError: invalid literal for int() with base 10: 'not a number'"
