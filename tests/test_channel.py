"""The channel: get with default, set, keys, delete, and JSON-only values."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from graflow_nb import (
    Channel,
    ChannelValueError,
    RunStatus,
    TaskExecutionContext,
    provide_feedback,
    task,
    workflow,
)


class Plan(BaseModel):
    replicas: int


def test_get_set_keys_delete() -> None:
    channel = Channel({"a": 1})
    assert channel.get("missing") is None
    assert channel.get("missing", "fallback") == "fallback"
    channel.set("b", [1, "two", None, {"three": 3.0}])
    assert channel.keys() == ["a", "b"]
    assert channel.delete("a") is True
    assert channel.delete("a") is False
    assert "a" not in channel
    assert len(channel) == 1


def test_set_keeps_a_copy_that_later_changes_to_the_value_do_not_reach() -> None:
    channel = Channel()
    rows = [1, {"nested": [2]}, (3, [4])]
    plan = Plan(replicas=2)
    channel.set("rows", rows)
    channel.set("plan", plan)
    rows.append(object())
    rows[1]["nested"].append(5)  # type: ignore[index]
    rows[2][1].append(6)  # type: ignore[index]
    plan.replicas = 9
    assert channel.get("rows") == [1, {"nested": [2]}, (3, [4])]
    assert channel.get("plan") == Plan(replicas=2)


@pytest.mark.parametrize(
    ("value", "where", "type_name"),
    [
        (object(), "", "object"),
        ({1: "int key"}, "[1] (key)", "int"),
        ([1, 2, 3j], "[2]", "complex"),
        ({"frame": {"f": open}}, "['frame']['f']", "builtin_function_or_method"),
    ],
)
def test_non_json_values_are_refused_at_set_time(value: object, where: str, type_name: str) -> None:
    channel = Channel()
    with pytest.raises(ChannelValueError) as raised:
        channel.set("key", value)
    message = str(raised.value)
    assert "channel key 'key'" in message
    assert f"of type {type_name}" in message
    assert where in message
    assert channel.keys() == []


def test_pydantic_models_are_stored_and_come_back_as_dicts_after_resume() -> None:
    seen_at_start: list[object] = []
    with workflow("models") as wf:

        @task(inject_context=True)
        def store(ctx: TaskExecutionContext) -> None:
            channel = ctx.get_channel()
            seen_at_start.append(channel.get("plan"))
            if channel.get("plan") is None:
                channel.set("plan", Plan(replicas=2))
                assert channel.get("plan") == Plan(replicas=2)
            ctx.request_feedback(feedback_type="approval", prompt="ok?", timeout=0.1)

        paused = wf.run()
        provide_feedback(paused.pending_feedback_ids[0], approved=True)
        wf.resume()
    assert seen_at_start == [None, {"replicas": 2}]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("caf\udcc3.csv", "str with lone surrogates"),  # what os.listdir gives for an undecodable name
        ({"caf\udcc3": 1}, "str with lone surrogates"),
    ],
)
def test_values_a_checkpoint_cannot_hold_exactly_are_refused_at_set(value: object, problem: str) -> None:
    channel = Channel()
    with pytest.raises(ChannelValueError, match=problem):
        channel.set("k", value)
    assert "k" not in channel


def test_values_nested_too_deep_are_refused_at_set() -> None:
    deep: list = []
    innermost = deep
    for _ in range(300):
        innermost.append([])
        innermost = innermost[0]
    with pytest.raises(ChannelValueError, match="nested deeper than 100 levels"):
        Channel().set("deep", deep)


def test_a_run_whose_task_tries_such_values_fails_clearly_and_is_saved() -> None:
    with workflow("surrogates") as wf:

        @task(inject_context=True)
        def scan(ctx: TaskExecutionContext) -> None:
            ctx.get_channel().set("files", ["ok.csv", "caf\udcc3.csv"])

    outcome = wf.run()
    assert outcome.status is RunStatus.FAILED
    assert "lone surrogates" in (outcome.reason or "")
    assert json.loads(outcome.checkpoint_path.read_text())["status"] == "failed"
