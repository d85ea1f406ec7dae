"""Answers given ahead of time (replay) and saved from a live session (record)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graflow_nb import (
    AnswersFileError,
    MissingAnswerError,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    WorkflowFailed,
    provide_feedback,
    task,
    use_answers,
    workflow,
)
from graflow_nb.testing import RecordingPresenter
from tests.conftest import StartInBackground


def review_workflow(name: str = "review") -> Workflow:
    with workflow(name) as wf:

        @task(inject_context=True)
        def review(ctx: TaskExecutionContext) -> list[object]:
            ok = ctx.request_feedback(feedback_type="approval", prompt="Data looks right?")
            env = ctx.request_feedback(feedback_type="selection", prompt="Where?", options=["dev", "prod"])
            window = ctx.request_feedback(
                feedback_type="number", prompt="Days?", min=1, max=30, range=True, key="window"
            )
            return [ok.approved, env.selected, window.value, env.via]

    return wf


def write_answers(path: Path, *answers: dict[str, object]) -> Path:
    path.write_text(json.dumps({"version": 1, "answers": list(answers)}))
    return path


def test_replay_answers_by_task_call_order_and_key(tmp_path: Path) -> None:
    answers = write_answers(
        tmp_path / "answers.json",
        {"task": "review", "call": 0, "answer": {"approved": True}},
        {"workflow": "review", "task": "review", "call": 1, "answer": {"selected": "prod"}},
        {"key": "window", "answer": {"value": [3, 9]}},
    )
    wf = review_workflow()
    assert wf.execute(answers=answers) == [True, "prod", [3, 9], "replay"]


def test_replay_named_by_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = write_answers(
        tmp_path / "answers.json",
        {"task": "review", "call": 0, "answer": {"approved": False}},
        {"task": "review", "call": 1, "answer": {"selected": "dev"}},
        {"key": "window", "answer": {"value": [1, 2]}},
    )
    monkeypatch.setenv("GRAFLOW_NB_ANSWERS", str(answers))
    assert review_workflow().execute() == [False, "dev", [1, 2], "replay"]


def test_a_missing_answer_fails_fast_naming_the_request(tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "answers.json", {"task": "review", "call": 0, "answer": {"approved": True}})
    with pytest.raises(WorkflowFailed) as raised:
        review_workflow().execute(answers=answers)
    error = raised.value.__cause__
    assert isinstance(error, MissingAnswerError)
    assert "has no answer for selection request 1 of task 'review' in workflow 'review' ('Where?')" in str(error)
    assert str(answers.absolute()) in str(error)
    suggested = '{"workflow": "review", "task": "review", "call": 1, "answer": {"selected": "dev"}}'
    assert f"add {suggested} to its answers" in str(
        error
    )  # an entry to paste (an answer it takes), naming the workflow
    assert "GRAFLOW_NB_ANSWERS_MODE=record" in str(error)  # a script's user can record answers


def test_a_misspelt_task_is_named_and_the_suggested_entry_is_one_the_request_takes(tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "answers.json", {"task": "reveiw", "call": 0, "answer": {"approved": True}})
    with pytest.raises(WorkflowFailed) as raised:
        review_workflow().execute(answers=answers)
    error = str(raised.value.__cause__)
    assert "the file answers task 'reveiw': a typo for 'review'?" in error
    suggested = json.loads(error.split("; add ", 1)[1].split(" to its answers", 1)[0])
    fixed = write_answers(
        tmp_path / "fixed.json",
        suggested,
        {"task": "review", "call": 1, "answer": {"selected": "dev"}},
        {"key": "window", "answer": {"value": [1, 2]}},
    )
    assert review_workflow().execute(answers=fixed) == [True, "dev", [1, 2], "replay"], "the entry given is accepted"


def test_an_answer_that_does_not_fit_fails_clearly(tmp_path: Path) -> None:
    answers = write_answers(
        tmp_path / "answers.json",
        {"task": "review", "call": 0, "answer": {"approved": True}},
        {"task": "review", "call": 1, "answer": {"selected": "staging"}},
    )
    outcome = review_workflow().run(answers=answers)
    assert outcome.status is RunStatus.FAILED
    assert "'staging' is not one of the options ['dev', 'prod']" in (outcome.reason or "")


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "is not usable"), ('{"version": 2, "answers": []}', "version"), ('{"answers": [{}]}', "answer")],
)
def test_damaged_answers_file_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "answers.json"
    path.write_text(content)
    with pytest.raises(AnswersFileError, match=message) as raised:
        review_workflow().execute(answers=path)
    assert str(path) in str(raised.value)


def test_missing_answers_file_says_where_it_was_looked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AnswersFileError) as raised:
        review_workflow().execute(answers="nope.json")
    said = str(raised.value)
    assert f"answers file {tmp_path / 'nope.json'} does not exist" in said
    assert f"relative paths start at the working directory, {tmp_path}" in said
    assert "GRAFLOW_NB_ANSWERS_MODE=record" in said


def test_use_answers_answers_every_workflow_of_the_process(tmp_path: Path) -> None:
    answers = write_answers(
        tmp_path / "answers.json",
        {"workflow": "first", "task": "review", "call": 0, "answer": {"approved": True}},
        {"workflow": "first", "task": "review", "call": 1, "answer": {"selected": "dev"}},
        {"workflow": "second", "task": "review", "call": 0, "answer": {"approved": False}},
        {"workflow": "second", "task": "review", "call": 1, "answer": {"selected": "prod"}},
        {"key": "window", "answer": {"value": [1, 2]}},
    )
    with pytest.raises(AnswersFileError, match="does not exist"):
        use_answers(tmp_path / "typo.json")  # refused in the cell that names it
    use_answers(answers)
    try:
        assert review_workflow("first").execute()[:2] == [True, "dev"]
        assert review_workflow("second").execute()[:2] == [False, "prod"]
    finally:
        use_answers(None)


def test_record_then_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, background: StartInBackground) -> None:
    path = tmp_path / "recorded.json"
    monkeypatch.setenv("GRAFLOW_NB_ANSWERS", str(path))
    monkeypatch.setenv("GRAFLOW_NB_ANSWERS_MODE", "record")
    recorder = RecordingPresenter()
    running = background(review_workflow(), presenters=[recorder])
    provide_feedback(recorder.next_request().feedback_id, approved=True, responded_by="ana")
    provide_feedback(recorder.next_request().feedback_id, selected="prod")
    provide_feedback(recorder.next_request().feedback_id, value=[4, 6])
    assert running.result(timeout=10).result[:3] == [True, "prod", [4, 6]]
    saved = json.loads(path.read_text())
    assert saved["answers"][0] == {
        "workflow": "review",
        "task": "review",
        "call": 0,
        "answer": {"approved": True},
        "responded_by": "ana",
    }
    assert saved["answers"][2]["key"] == "window"

    monkeypatch.setenv("GRAFLOW_NB_ANSWERS_MODE", "replay")
    assert review_workflow().execute() == [True, "prod", [4, 6], "replay"]


def test_let_time_out_pauses_the_run_and_a_later_answer_resumes_it(tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "answers.json", {"task": "slow", "call": 0, "let_time_out": True})
    with workflow("timing-out") as wf:

        @task(inject_context=True)
        def slow(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Later?", timeout=0.1).approved

        paused = wf.run(answers=answers)
        assert paused.status is RunStatus.PAUSED
        provide_feedback(paused.pending_feedback_ids[0], approved=True, via="cli")
        assert wf.resume() is True


def test_let_time_out_without_a_timeout_fails_instead_of_hanging(tmp_path: Path) -> None:
    answers = write_answers(tmp_path / "answers.json", {"task": "forever", "call": 0, "let_time_out": True})
    with workflow("no-timeout") as wf:

        @task(inject_context=True)
        def forever(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Ever?").approved

        outcome = wf.run(answers=answers)
    assert outcome.status is RunStatus.FAILED
    assert "would wait forever" in (outcome.reason or "")


class TestAnswersFileMistakes:
    """Each mistake in an answers file is an AnswersFileError naming the file (absolute) and the entry."""

    @pytest.mark.parametrize(
        ("entry", "problem"),
        [
            ({"task": "review", "call": 0, "answer": {"aproved": True}}, "unknown answer fields ['aproved']"),
            ({"task": "review", "call": 0, "answer": {"approved": True, "via": "cli"}}, "'via' is always 'replay'"),
        ],
    )
    def test_a_bad_entry_names_the_file_and_the_entry(self, tmp_path: Path, entry: dict, problem: str) -> None:
        path = write_answers(tmp_path / "answers.json", {"task": "other", "call": 0, "answer": {"text": "x"}}, entry)
        with pytest.raises(AnswersFileError) as raised:
            review_workflow().execute(answers=path)
        message = str(raised.value)
        assert str(path.absolute()) in message
        assert "entry 2 (answers[1]" in message
        assert problem in message

    def test_a_folder_given_as_the_answers_file_is_a_clear_error(self, tmp_path: Path) -> None:
        with pytest.raises(AnswersFileError, match="cannot be read: is not a regular file"):
            review_workflow().execute(answers=tmp_path)

    def test_record_mode_to_a_place_that_cannot_be_written_fails_before_any_task(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("GRAFLOW_NB_ANSWERS_MODE", "record")
        ran: list[int] = []
        with workflow("record-nowhere") as wf:

            @task
            def only() -> None:
                ran.append(1)

        with pytest.raises(AnswersFileError, match="cannot be written \\(record mode\\)"):
            wf.execute(answers=tmp_path / "no-such-folder" / "deeper" / "answers.json")
        assert ran == []
