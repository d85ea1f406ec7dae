"""Each feedback type gives its own response class, so type checkers know what the answer is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api as mypy_api
from pydantic import BaseModel

from graflow_nb import (
    ApprovalResponse,
    FeedbackResponse,
    FormResponse,
    MultiSelectionResponse,
    NumberResponse,
    TaskExecutionContext,
    task,
    workflow,
)
from graflow_nb.testing import ScriptedAnswers

CHECKED = """
from pydantic import BaseModel
from graflow_nb import FeedbackType, TaskExecutionContext

class Params(BaseModel):
    lr: float

def asks(ctx: TaskExecutionContext, kind: str) -> None:
    reveal_type(ctx.request_feedback(feedback_type="approval", prompt="?").approved)
    reveal_type(ctx.request_feedback(FeedbackType.TEXT, "?").text)
    reveal_type(ctx.request_feedback("multi_selection", "?", options=["a"]).selected)
    reveal_type(ctx.request_feedback("form", "?", model=Params).data)
    reveal_type(ctx.request_feedback("form", "?").data)
    reveal_type(ctx.request_feedback(kind, "?").approved)
    reveal_type(ctx.request_feedback("custom", "?", channel_key="settings").data)
    reveal_type(ctx.request_approval("?"))

async def asks_async(ctx: TaskExecutionContext) -> None:
    reveal_type((await ctx.request_feedback_async("selection", "?", options=["a"])).selected)
"""


@pytest.mark.timeout(180)
def test_a_type_checker_sees_the_answer_field_of_each_feedback_type(tmp_path: Path) -> None:
    source = tmp_path / "asks.py"
    source.write_text(CHECKED)
    out, err, _ = mypy_api.run([str(source), "--no-incremental", "--cache-dir", str(tmp_path / "cache")])
    revealed = [found.replace("builtins.", "") for found in re.findall(r'Revealed type is "([^"]+)"', out)]
    assert revealed == [
        "bool",
        "str",
        "list[str]",
        "asks.Params",
        "dict[str, Any]",
        "bool | None",  # a type known only at run time: the flat response
        "dict[str, Any]",
        "bool",
        "str",
    ], out + err


class Params(BaseModel):
    lr: float


def test_the_task_gets_the_typed_response_which_is_still_a_feedback_response() -> None:
    with workflow("typed-responses") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> list[str]:
            answers = [
                ctx.request_feedback(feedback_type="approval", prompt="Go?"),
                ctx.request_feedback(feedback_type="multi_selection", prompt="Which?", options=["a", "b"]),
                ctx.request_feedback(feedback_type="number", prompt="How many?", min=0, max=9),
                ctx.request_feedback(feedback_type="form", prompt="Tune", model=Params),
            ]
            assert all(isinstance(answer, FeedbackResponse) for answer in answers)
            assert isinstance(answers[3], FormResponse)
            assert isinstance(answers[3].data, Params)
            return [type(answer).__name__ for answer in answers]

    scripted = ScriptedAnswers({"ask": [{"approved": True}, {"selected": ["b"]}, {"value": 3}, {"data": {"lr": 0.1}}]})
    names = wf.run(presenters=[scripted]).raise_for_status()
    assert names == [
        ApprovalResponse.__name__,
        MultiSelectionResponse.__name__,
        NumberResponse.__name__,
        "FormResponse",
    ]
