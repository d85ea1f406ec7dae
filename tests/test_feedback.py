"""Feedback requests and answers: number and form types, and the tables of bad requests and bad answers."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from graflow_nb import (
    FeedbackAlreadySettledError,
    FeedbackType,
    InvalidAnswerError,
    InvalidFeedbackRequestError,
    RunStatus,
    TaskExecutionContext,
    pending_requests,
    provide_feedback,
    task,
    workflow,
)
from graflow_nb.testing import RecordingPresenter, ScriptedAnswers
from tests.conftest import StartInBackground


class TrainingConfig(BaseModel):
    learning_rate: float = Field(gt=0, le=1)
    optimizer: Literal["adam", "sgd"]
    epochs: int = 10


class TestNumberAndForm:
    def test_number_returns_value_and_keeps_integers_whole(self) -> None:
        with workflow("number") as wf:

            @task(inject_context=True)
            def tune(ctx: TaskExecutionContext) -> list[Any]:
                depth = ctx.request_feedback(feedback_type="number", prompt="Tree depth", min=1, max=20, default=6)
                rate = ctx.request_feedback(
                    feedback_type=FeedbackType.NUMBER, prompt="Learning rate", min=0.0, max=1.0, step=0.01
                )
                return [depth.value, rate.value]

            outcome = wf.run(presenters=[ScriptedAnswers({"tune": [{"value": 8.0}, {"value": 0.05}]})])
        assert outcome.result == [8, 0.05]
        assert isinstance(outcome.result[0], int)

    def test_number_range_returns_low_and_high(self) -> None:
        with workflow("range") as wf:

            @task(inject_context=True)
            def window(ctx: TaskExecutionContext) -> object:
                return ctx.request_feedback(
                    feedback_type="number", prompt="Training window (days)", min=1, max=30, range=True
                ).value

            outcome = wf.run(presenters=[ScriptedAnswers({"window": [{"value": [3, 14.0]}]})])
        assert outcome.result == [3, 14]

    def test_form_returns_a_validated_model_instance_also_after_resume(self) -> None:
        with workflow("form") as wf:

            @task(inject_context=True)
            def configure(ctx: TaskExecutionContext) -> dict:
                response = ctx.request_feedback(
                    feedback_type="form", prompt="Training settings", model=TrainingConfig, timeout=0.2
                )
                assert isinstance(response.data, TrainingConfig)
                return response.data.model_dump()

            paused = wf.run()
            feedback_id = paused.pending_feedback_ids[0]
            with pytest.raises(InvalidAnswerError, match="missing required fields"):
                provide_feedback(feedback_id, data={"learning_rate": 0.1})
            provide_feedback(feedback_id, data={"learning_rate": 0.1, "optimizer": "adam"})
            assert wf.resume() == {"learning_rate": 0.1, "optimizer": "adam", "epochs": 10}

    def test_form_answer_failing_the_model_is_refused_and_can_be_given_again(
        self, background: StartInBackground
    ) -> None:
        recorder = RecordingPresenter()
        with workflow("form-live") as wf:

            @task(inject_context=True)
            def configure(ctx: TaskExecutionContext) -> float:
                response = ctx.request_feedback(feedback_type="form", prompt="Settings", model=TrainingConfig)
                return float(response.data.learning_rate)

            running = background(wf, presenters=[recorder])
            request = recorder.next_request()
            with pytest.raises(InvalidAnswerError, match=r"learning_rate: Input should be less than or equal to 1"):
                provide_feedback(request.feedback_id, data={"learning_rate": 5, "optimizer": "adam"})
            provide_feedback(request.feedback_id, data={"learning_rate": 0.5, "optimizer": "sgd"})
            assert running.result(timeout=10).result == 0.5


BAD_REQUESTS: list[tuple[dict[str, Any], str]] = [
    ({"feedback_type": "vote", "prompt": "?"}, "unknown feedback_type 'vote'"),
    ({"feedback_type": "selection", "prompt": "?"}, "'selection' needs a non-empty list of options"),
    ({"feedback_type": "multi_selection", "prompt": "?", "options": []}, "needs a non-empty list of options"),
    ({"feedback_type": "selection", "prompt": "?", "options": ["a", "b", "a"]}, r"repeated: \['a'\]"),
    ({"feedback_type": "approval", "prompt": "?", "options": ["yes"]}, "options are only for 'selection'"),
    ({"feedback_type": "text", "prompt": "?", "timeout": 0}, "timeout must be a positive"),
    ({"feedback_type": "text", "prompt": "?", "timeout": -5}, "timeout must be a positive"),
    ({"feedback_type": "text", "prompt": ""}, "prompt must be a non-empty string"),
    ({"feedback_type": "selection", "prompt": "?", "options": ["a"], "default": "b"}, "default 'b' is not among"),
    ({"feedback_type": "number", "prompt": "?", "min": 5, "max": 1}, r"min \(5\) is greater than max \(1\)"),
    ({"feedback_type": "number", "prompt": "?", "step": 0}, "step must be positive"),
    ({"feedback_type": "number", "prompt": "?", "min": 0, "max": 1, "default": 3}, r"default 3 is outside \[0, 1\]"),
    ({"feedback_type": "text", "prompt": "?", "min": 1}, "min only apply to feedback_type 'number'"),
    ({"feedback_type": "form", "prompt": "?"}, "needs model=<a pydantic BaseModel subclass>"),
    ({"feedback_type": "number", "prompt": "?", "min": 0, "range": True}, "range=True needs both min and max"),
    ({"feedback_type": "number", "prompt": "?", "min": 0, "max": 9, "range": True, "default": [5, 2]}, "not a range"),
    ({"feedback_type": "text", "prompt": "?", "range": True}, "range only apply to feedback_type 'number'"),
    ({"feedback_type": "text", "prompt": "?", "preview": print}, "preview= is for 'number', 'selection'"),
    ({"feedback_type": "text", "prompt": "?", "metadata": {"df": object()}}, r"metadata\['df'\] of type object"),
    ({"feedback_type": "approval", "prompt": "?", "notification_config": {"type": "email"}}, "type 'email' is unknown"),
    ({"feedback_type": "approval", "prompt": "?", "notification_config": {"type": "webhook"}}, "needs 'url'"),
    (
        {"feedback_type": "approval", "prompt": "?", "notification_config": {"type": "slack", "webhook_url": "hooks"}},
        "must be an http",
    ),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_REQUESTS)
def test_bad_request_fails_the_run_with_the_error_and_a_checkpoint(arguments: dict[str, Any], message: str) -> None:
    with workflow("bad-request") as wf:

        @task
        def before() -> str:
            return "kept"

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext, before: str) -> None:
            ctx.request_feedback(**arguments)

        before >> ask
        outcome = wf.run()
    assert outcome.status is RunStatus.FAILED
    assert isinstance(outcome.exception, InvalidFeedbackRequestError)
    assert isinstance(outcome.exception, ValueError)
    assert outcome.reason is not None
    assert "InvalidFeedbackRequestError" in outcome.reason
    assert re.search(message, outcome.reason), outcome.reason
    saved = json.loads(outcome.checkpoint_path.read_text())
    assert saved["completed"] == ["before"]
    assert saved["channel"]["before.__result__"] == "kept"


BAD_ANSWERS: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    ({"feedback_type": "approval"}, {"approved": "yes"}, "approved must be True or False"),
    ({"feedback_type": "approval"}, {"text": "ok"}, "takes 'approved', not text"),
    ({"feedback_type": "approval"}, {}, "needs 'approved'"),
    ({"feedback_type": "text"}, {"text": 5}, "text must be a string"),
    ({"feedback_type": "text"}, {"text": "x", "reason": "y"}, "a reason only goes with an approval"),
    ({"feedback_type": "selection", "options": ["a", "b"]}, {"selected": "c"}, r"'c' is not one of the options"),
    ({"feedback_type": "multi_selection", "options": ["a", "b"]}, {"selected": ["a", "z"]}, r"\['z'\] not among"),
    ({"feedback_type": "multi_selection", "options": ["a", "b"]}, {"selected": ["a", "a"]}, "chosen twice"),
    ({"feedback_type": "number", "min": 0, "max": 10}, {"value": 11}, "above the maximum 10"),
    ({"feedback_type": "number", "min": 0, "max": 10}, {"value": -1}, "below the minimum 0"),
    ({"feedback_type": "number", "min": 0, "max": 10}, {"value": 2.5}, "must be a whole number"),
    ({"feedback_type": "number"}, {"value": float("nan")}, "must be a finite number"),
    ({"feedback_type": "number", "min": 0, "max": 10, "range": True}, {"value": [8, 2]}, "low 8 is above high 2"),
    ({"feedback_type": "number", "min": 0, "max": 10, "range": True}, {"value": [1, 20]}, "above the maximum 10"),
    ({"feedback_type": "number", "min": 0, "max": 10, "range": True}, {"value": 5}, r"must be \[low, high\]"),
]


@pytest.mark.parametrize(("question", "answer", "message"), BAD_ANSWERS)
def test_bad_answer_is_refused_and_the_request_stays_answerable(
    background: StartInBackground, question: dict[str, Any], answer: dict[str, Any], message: str
) -> None:
    good_answers: dict[str, dict[str, Any]] = {
        "approval": {"approved": True},
        "text": {"text": "fine"},
        "selection": {"selected": "a"},
        "multi_selection": {"selected": ["b"]},
        "number": {"value": 3},
    }
    good = {"value": [2, 3]} if question.get("range") else good_answers[question["feedback_type"]]
    recorder = RecordingPresenter()
    with workflow("bad-answer") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> Any:
            response = ctx.request_feedback(prompt="?", **question)
            return response.model_dump(include={"approved", "text", "selected", "value"}, exclude_none=True)

        running = background(wf, presenters=[recorder])
        request = recorder.next_request()
        with pytest.raises(InvalidAnswerError, match=message):
            provide_feedback(request.feedback_id, **answer)
        provide_feedback(request.feedback_id, **good)
        outcome = running.result(timeout=10)
    assert outcome.status is RunStatus.COMPLETED
    assert outcome.result == good


def test_second_answer_is_refused_naming_the_first(background: StartInBackground) -> None:
    recorder = RecordingPresenter()
    with workflow("first-wins") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="?", timeout=0.2).approved

        paused = wf.run(presenters=[recorder])
        feedback_id = paused.pending_feedback_ids[0]
        provide_feedback(feedback_id, approved=True, responded_by="alice")
        with pytest.raises(FeedbackAlreadySettledError, match="already answered by alice via api"):
            provide_feedback(feedback_id, approved=False, responded_by="bob")
        assert wf.resume() is True
    with pytest.raises(FeedbackAlreadySettledError, match="already answered by alice via api at "):
        provide_feedback(feedback_id, approved=False)  # the run is over: still named who answered, and when


def test_pending_requests_lists_what_waits_and_what_was_answered_meanwhile() -> None:
    with workflow("listing") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Listed?", timeout=0.1).approved

        paused = wf.run()
    ((document, record, filed),) = pending_requests()
    assert (document.run_id, record.request.prompt, filed) == (paused.run_id, "Listed?", None)
    provide_feedback(record.feedback_id, approved=True, responded_by="zoe")
    ((_, _, filed),) = pending_requests()
    assert filed is not None
    assert filed.responded_by == "zoe"
