"""on_timeout=: what happens when a request's timeout passes unanswered (pause is the guide's default)."""

from __future__ import annotations

import pytest

from graflow_nb import (
    InvalidFeedbackRequestError,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    WorkflowFailed,
    decision_log,
    task,
    workflow,
)


def asking(name: str, **question: object) -> Workflow:
    with workflow(name) as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> object:
            response = ctx.request_feedback(prompt="Go on?", **question)  # type: ignore[call-overload]
            return {"approved": response.approved, "by": response.responded_by, "via": response.via}

        @task
        def after(ask: object) -> object:
            return ask

        ask >> after
    return wf


def test_default_answers_with_the_default_recorded_as_given_by_the_timeout() -> None:
    wf = asking("use-default", feedback_type="approval", timeout=0.05, default=False, on_timeout="default")
    outcome = wf.run(presenters=[])
    assert outcome.status is RunStatus.COMPLETED
    assert outcome.result == {"approved": False, "by": "timeout", "via": "timeout"}
    events = [(e["event"], e.get("by"), e.get("via")) for e in decision_log(wf.store.directory).entries]
    assert events == [("requested", None, None), ("timed_out", None, None), ("answered", "timeout", "timeout")]


def test_cancel_ends_the_run_cancelled_and_fail_ends_it_failed() -> None:
    cancelled = asking("cancel-on-timeout", feedback_type="approval", timeout=0.05, on_timeout="cancel").run(
        presenters=[]
    )
    assert cancelled.status is RunStatus.CANCELLED
    assert cancelled.reason is not None
    assert cancelled.reason.startswith("no answer to fb-")
    assert cancelled.pending_feedback_ids == ()  # closed: nothing resumes a cancelled run
    failing = asking("fail-on-timeout", feedback_type="approval", timeout=0.05, on_timeout="fail")
    with pytest.raises(WorkflowFailed, match=r"within 0\.05 s"):
        failing.execute(resume=False, console=False)


def test_pause_stays_the_default() -> None:
    outcome = asking("pause-on-timeout", feedback_type="approval", timeout=0.05).run(presenters=[])
    assert outcome.status is RunStatus.PAUSED
    assert len(outcome.pending_feedback_ids) == 1


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ({"timeout": 1, "on_timeout": "later"}, "on_timeout must be one of 'pause', 'default', 'cancel', 'fail'"),
        ({"timeout": 1, "on_timeout": "default"}, "on_timeout='default' needs a default= answer"),
        ({"on_timeout": "cancel"}, "on_timeout='cancel' needs a timeout="),
    ],
)
def test_settings_that_cannot_work_are_refused_when_the_task_asks(question: dict[str, object], message: str) -> None:
    outcome = asking("bad-on-timeout", feedback_type="approval", **question).run(presenters=[])
    assert outcome.status is RunStatus.FAILED
    assert isinstance(outcome.exception, InvalidFeedbackRequestError)
    assert message in str(outcome.exception)
