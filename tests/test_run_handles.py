"""The handle wf.start() returns, outside a kernel: it knows its run at once and never loses the run's error."""

from __future__ import annotations

import sys

import pytest

from graflow_nb import (
    MissingInputError,
    NoResumableRunError,
    RunNotFinishedError,
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
from graflow_nb._engine.presenting import RunView
from tests.helpers import wait_until


def gate() -> Workflow:
    with workflow("handle") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Go?").approved

    return wf


def test_preparation_errors_are_raised_by_start_itself() -> None:
    with workflow("needs-input") as wf:

        @task
        def uses(missing_value: int) -> int:
            return missing_value

    with pytest.raises(MissingInputError):
        wf.start(presenters=[])


def test_a_misspelled_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="presenter"):
        gate().start(presenter=[])  # type: ignore[call-arg]


def test_the_handle_knows_its_run_its_pending_requests_and_can_cancel() -> None:
    run = gate().start(presenters=[])
    assert run.run_id is not None
    assert run.run_id.startswith("handle-")

    wait_until(lambda: bool(run.pending_requests), timeout=30)
    (request,) = run.pending_requests
    assert request.prompt == "Go?"
    with pytest.raises(RunNotFinishedError, match=f"waiting for {request.feedback_id}") as still_going:
        run.result()
    assert isinstance(still_going.value, RuntimeError)  # what it was before it had a name of its own
    with pytest.raises(RunNotFinishedError, match=rf"{run.run_id} is still going .* after 0.05 s"):
        run.wait(timeout=0.05)
    run.cancel("changed my mind")
    with pytest.raises(WorkflowCancelled, match="changed my mind"):
        run.wait()
    assert run.status is RunStatus.CANCELLED


def test_an_answer_completes_the_run_and_wait_returns_its_result() -> None:
    run = gate().start(presenters=[])
    wait_until(lambda: bool(run.pending_requests), timeout=30)
    provide_feedback(run.pending_requests[0].feedback_id, approved=True)
    assert run.wait(timeout=30) is True


def test_run_state_errors_have_a_branch_of_their_own() -> None:
    from graflow_nb import CheckpointError, RunInUseError, RunStateError

    for error in (RunNotFinishedError, NoResumableRunError, RunInUseError):
        assert issubclass(error, RunStateError)
        assert not issubclass(error, CheckpointError)
    with pytest.raises(NoResumableRunError):
        gate().resume()


def test_an_error_that_ends_the_engine_is_re_raised_by_wait_and_result() -> None:
    with workflow("exits") as wf:

        @task
        def leave() -> None:
            sys.exit(3)

    run = wf.start(presenters=[])
    with pytest.raises(SystemExit) as raised:
        run.wait()
    assert raised.value.code == 3
    with pytest.raises(SystemExit):
        run.result()


def test_a_click_on_a_stale_control_after_the_run_ended_says_so() -> None:
    """A widget in a second tab calls the run's thread-safe answer() after the run's loop has ended."""
    from concurrent.futures import ThreadPoolExecutor

    from graflow_nb import FeedbackAlreadySettledError
    from graflow_nb.testing import RecordingPresenter

    class Keeper(RecordingPresenter):
        run: RunView | None = None

        def run_ended(self, run: RunView) -> None:
            Keeper.run = run
            super().run_ended(run)

    keeper = Keeper()
    run = gate().start(presenters=[keeper])
    request = keeper.next_request()
    provide_feedback(request.feedback_id, approved=True)
    assert run.wait() is True
    assert Keeper.run is not None
    with ThreadPoolExecutor(1) as other_thread:  # not the loop's thread, as a widget callback is not
        late = other_thread.submit(Keeper.run.answer, request.feedback_id, approved=False)
        with pytest.raises(FeedbackAlreadySettledError):  # a documented error, never anyio's RunFinishedError
            late.result(timeout=10)


def paused_gate() -> Workflow:
    with workflow("paused-handle") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Go?", timeout=0.05).approved

    return wf


def test_a_paused_runs_handle_cancels_it_for_good() -> None:
    wf = paused_gate()
    run = wf.start(presenters=[])
    with pytest.raises(WorkflowPaused):
        run.wait()
    assert run.outcome is not None
    (feedback_id,) = run.outcome.pending_feedback_ids
    run.cancel("superseded")
    with pytest.raises(WorkflowCancelled, match="superseded"):
        run.wait()
    (document,) = wf.runs()
    assert (document.status, document.reason, document.pending) == (RunStatus.CANCELLED, "superseded", [])
    assert [e["event"] for e in decision_log(wf.store.directory, feedback_id=feedback_id).entries][-1] == "closed"
    with pytest.raises(NoResumableRunError):
        wf.resume()


def test_cancel_run_ends_a_paused_run_without_running_a_task() -> None:
    wf = paused_gate()
    paused = wf.run(presenters=[])
    assert paused.status is RunStatus.PAUSED
    provide_feedback(paused.pending_feedback_ids[0], approved=True, checkpoint_dir=wf.store.directory)
    outcome = wf.cancel_run(reason="no longer needed")
    assert (outcome.run_id, outcome.status, outcome.reason) == (paused.run_id, RunStatus.CANCELLED, "no longer needed")
    assert "ask" not in wf.runs()[-1].completed, "the answer given meanwhile did not run the task"
    with pytest.raises(NoResumableRunError):
        wf.cancel_run(paused.run_id)


def test_re_running_a_paused_script_continues_its_run_and_says_which(capsys: pytest.CaptureFixture[str]) -> None:
    wf = paused_gate()
    with pytest.raises(WorkflowPaused) as paused:
        wf.execute(console=False)
    run_id = paused.value.outcome.run_id
    provide_feedback(paused.value.outcome.pending_feedback_ids[0], approved=True, checkpoint_dir=wf.store.directory)
    capsys.readouterr()
    assert paused_gate().execute(console=False) is True  # the script run again: the same run goes on
    assert f"graflow_nb: resuming run {run_id} of 'paused-handle' (paused" in capsys.readouterr().out
    assert [document.run_id for document in wf.runs()] == [run_id]


def test_resume_says_which_run_it_continues(capsys: pytest.CaptureFixture[str]) -> None:
    wf = paused_gate()
    first = wf.run(presenters=[])
    provide_feedback(first.pending_feedback_ids[0], approved=False, checkpoint_dir=wf.store.directory)
    capsys.readouterr()
    assert wf.resume() is False
    said = capsys.readouterr().out
    assert f"graflow_nb: resuming run {first.run_id} of 'paused-handle' (paused" in said
    assert "1 answered meanwhile" in said
    assert "The newest unfinished run; name another with run_id=RUN_ID." in said


def test_run_id_names_the_run_to_continue_and_resume_takes_only_its_three_choices() -> None:
    wf = paused_gate()
    older = wf.run(presenters=[])
    newer = wf.run(presenters=[])
    provide_feedback(older.pending_feedback_ids[0], approved=True, checkpoint_dir=wf.store.directory)
    continued = wf.run(run_id=older.run_id, presenters=[])  # not the newest: the one named
    assert (continued.run_id, continued.status, continued.result) == (older.run_id, RunStatus.COMPLETED, True)
    with pytest.raises(TypeError, match="resume must be False, True or 'auto', not 1"):
        wf.run(resume=1, presenters=[])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="channel cannot be given with run_id"):
        wf.run(run_id=newer.run_id, channel={"x": 1}, presenters=[])
    provide_feedback(newer.pending_feedback_ids[0], approved=False, checkpoint_dir=wf.store.directory)
    with pytest.warns(DeprecationWarning, match="run_id="):  # a run id as resume= still works, as it did
        legacy = wf.run(resume=newer.run_id, presenters=[])  # type: ignore[arg-type]
    assert (legacy.run_id, legacy.result) == (newer.run_id, False)


def test_in_a_script_pending_lists_the_waiting_requests_and_each_can_be_answered() -> None:
    from graflow_nb import InvalidAnswerError, RunHandle

    run = gate().start(presenters=[])
    assert isinstance(run, RunHandle)
    wait_until(lambda: bool(run.pending), timeout=30)
    (waiting,) = run.pending
    assert (waiting.feedback_id, waiting.request.prompt) == (run.pending_requests[0].feedback_id, "Go?")
    with pytest.raises(InvalidAnswerError):
        waiting.respond(text="an approval takes approved=")
    waiting.respond(approved=True)
    assert run.wait(timeout=30) is True
    assert run.pending == []


def test_async_code_that_calls_a_blocking_run_is_told_the_call_to_await() -> None:
    import asyncio

    from graflow_nb import BlockingCallError

    wf = paused_gate()

    async def main() -> list[str]:
        told = []
        for call in (lambda: wf.execute(console=False), lambda: wf.run(presenters=[]), wf.resume, wf.cancel_run):
            with pytest.raises(BlockingCallError) as refused:
                call()
            told.append(str(refused.value).rsplit("use ", 1)[1])
        paused = await wf.run_async(presenters=[])  # the async twins work
        provide_feedback(paused.pending_feedback_ids[0], approved=True, checkpoint_dir=wf.store.directory)
        told.append(repr(await wf.resume_async(console=False)))
        return told

    told = asyncio.run(main())
    assert told == [
        "`await wf.execute_async(...)`",
        "`await wf.run_async(...)`",
        "`await wf.resume_async(...)`",
        "`await asyncio.to_thread(wf.cancel_run, None, 'cancelled')`",
        "True",
    ]
    assert wf.runs()[-1].status is RunStatus.COMPLETED
