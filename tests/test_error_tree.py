"""Bad input to the public API raises graflow_nb's own errors, never a library's internals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import graflow_nb as gnb
from graflow_nb import TaskExecutionContext, task, workflow


class Tuning(BaseModel):
    n: int


@pytest.fixture
def paused(checkpoint_dir: Path) -> tuple[gnb.Workflow, str]:
    with workflow("bad-input") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> int:
            return ctx.request_feedback("form", "Tune", model=Tuning, timeout=0.05).data.n

    outcome = wf.run(presenters=[])
    return wf, outcome.pending_feedback_ids[0]


def bad_calls(wf: gnb.Workflow, feedback_id: str) -> dict[str, Callable[[], Any]]:
    return {
        "an object in a form": lambda: gnb.provide_feedback(feedback_id, data={"n": object()}),
        "NaN in a form": lambda: gnb.provide_feedback(feedback_id, data={"n": float("nan")}),
        "a list for a form": lambda: gnb.provide_feedback(feedback_id, data=[1]),
        "a nested selection": lambda: gnb.provide_feedback(feedback_id, selected=[["x"]]),  # type: ignore[list-item]
        "a number as the responder": lambda: gnb.provide_feedback(feedback_id, data={"n": 1}, responded_by=3),  # type: ignore[arg-type]
        "an unknown channel": lambda: gnb.provide_feedback(feedback_id, data={"n": 1}, via="pigeon"),  # type: ignore[arg-type]
        "an unknown id": lambda: gnb.provide_feedback("fb-nope", approved=True),
        "a folder that is not there": lambda: gnb.provide_feedback(
            feedback_id, approved=True, checkpoint_dir="/no/dir"
        ),
        "a run id that climbs out": lambda: wf.resume(run_id="../../etc/passwd"),
        "a year and more of extension": lambda: gnb.extend_deadline(feedback_id, 10**10),
        "an extension as text": lambda: gnb.extend_deadline(feedback_id, "10"),  # type: ignore[arg-type]
        "a channel value JSON cannot hold": lambda: wf.run(channel={"x": object()}, presenters=[]),
        "an unknown start node": lambda: wf.run(start_node="nope", presenters=[]),
        "a missing answers file": lambda: gnb.use_answers("/no/answers.json"),
        "resume as a number": lambda: wf.run(resume=2, presenters=[]),  # type: ignore[arg-type]
        "a folder one cannot write": lambda: gnb.CheckpointStore("/proc/1/nope").check_writable(),
    }


def test_every_bad_call_raises_a_graflow_nb_error(paused: tuple[gnb.Workflow, str]) -> None:
    wf, feedback_id = paused
    leaked = {}
    for what, call in bad_calls(wf, feedback_id).items():
        try:
            call()
        except gnb.GraflowNbError:
            continue
        except TypeError as error:  # the one builtin a wrong argument type may raise as it is
            if "resume must be" in str(error):
                continue
            leaked[what] = f"{type(error).__module__}.{type(error).__name__}: {error}"
        except Exception as error:  # noqa: BLE001 - what the test looks for
            leaked[what] = f"{type(error).__module__}.{type(error).__name__}: {error}"
        else:
            leaked[what] = "no error at all"
    assert leaked == {}
    gnb.close_feedback(feedback_id)
    with pytest.raises(gnb.FeedbackAlreadySettledError):
        gnb.close_feedback(feedback_id)
