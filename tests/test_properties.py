"""Property-based attacks: any checkpoint file and any answer give a clear error, never a crash."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graflow_nb import CheckpointError, CheckpointStore, FeedbackResponse, InvalidAnswerError
from graflow_nb._model.answer_checks import make_response
from graflow_nb._model.request_building import build_request

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)

#: In CI the examples are the same on every run (derandomize): a failure there is one anyone can replay.
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=bool(os.environ.get("CI")),
    database=None,
)


def a_valid_document(tmp_path: Path) -> bytes:
    from graflow_nb import task, workflow

    with workflow("prop", checkpoint_dir=tmp_path / "seed") as wf:

        @task
        def only() -> dict[str, int]:
            return {"n": 1}

    outcome = wf.run(presenters=[])
    document = json.loads(outcome.checkpoint_path.read_bytes())
    document["run_id"] = RUN_ID  # one name for the attacked file, whichever run made it
    return json.dumps(document).encode()


#: The run id of every attacked document, and so its file name (a run id must be its file's name).
RUN_ID = "prop-20260101T000000000-abcdef"


def stored_path(tmp_path: Path) -> Path:
    """Where the attacked document lies: a file named after the valid document's run id."""
    return tmp_path / "attacked" / f"{RUN_ID}.json"


def load_or_explain(tmp_path: Path, raw: bytes) -> None:
    store = CheckpointStore(tmp_path / "attacked")
    store.directory.mkdir(parents=True, exist_ok=True)
    path = stored_path(tmp_path)
    path.write_bytes(raw)
    try:
        store.load(path)
    except CheckpointError as error:
        refusal = str(error)
        assert str(path) in refusal  # the message names the file


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_random_bytes_are_refused_clearly(tmp_path: Path, raw: bytes) -> None:
    load_or_explain(tmp_path, raw)


@SETTINGS
@given(value=json_values)
def test_json_of_the_wrong_shape_is_refused_clearly(tmp_path: Path, value: Any) -> None:
    load_or_explain(tmp_path, json.dumps(value).encode())


@SETTINGS
@given(cut=st.floats(min_value=0.0, max_value=1.0), field=st.sampled_from(["channel", "requests", "status"]))
def test_truncated_or_edited_documents_are_refused_clearly(tmp_path: Path, cut: float, field: str) -> None:
    valid = a_valid_document(tmp_path)
    load_or_explain(tmp_path, valid[: int(len(valid) * cut)])
    edited = json.loads(valid)
    edited[field] = 12345
    load_or_explain(tmp_path, json.dumps(edited).encode())


def test_huge_values_load_or_are_refused_clearly(tmp_path: Path) -> None:
    valid = json.loads(a_valid_document(tmp_path))
    valid["channel"]["big"] = 10**40  # beyond 64 bits: must come back exactly, not as a float
    load_or_explain(tmp_path, json.dumps(valid).encode())
    store = CheckpointStore(tmp_path / "attacked")
    assert store.load(stored_path(tmp_path)).channel["big"] == 10**40
    valid["channel"]["wide"] = "x" * 5_000_000
    text = json.dumps(valid)
    load_or_explain(tmp_path, text.encode())
    deep = "[" * 5000 + "]" * 5000  # deeper than any parser's recursion: a clear refusal
    load_or_explain(tmp_path, text.replace('"channel": {', f'"channel": {{"deep": {deep}, ', 1).encode())


REQUESTS: dict[str, dict[str, Any]] = {
    "approval": {},
    "text": {},
    "selection": {"options": ["a", "b"]},
    "multi_selection": {"options": ["a", "b", "c"]},
    "number": {"minimum": 0, "maximum": 10, "step": 1},
    "custom": {},
}


@SETTINGS
@given(
    kind=st.sampled_from(sorted(REQUESTS)),
    field=st.sampled_from(["approved", "text", "selected", "value", "data", "reason"]),
    value=json_values,
)
def test_any_answer_is_accepted_or_refused_with_invalid_answer_error(kind: str, field: str, value: Any) -> None:
    extra = REQUESTS[kind]
    request = build_request(
        kind,
        "?",
        options=extra.get("options"),
        min=extra.get("minimum"),
        max=extra.get("maximum"),
        step=extra.get("step"),
        feedback_id="fb-0000000000000000",
        workflow="w",
        run_id="r",
        task_id="t",
        call_index=0,
    )
    try:
        response = make_response(request, **{field: value})
    except InvalidAnswerError as error:
        refusal = str(error)
        assert "fb-0000000000000000" in refusal
        return
    assert isinstance(response, FeedbackResponse)
    assert response.feedback_type.value == kind


@pytest.mark.parametrize("payload", ["__import__('os').system('touch pwned')", "!!python/object:os.system"])
def test_a_checkpoint_is_data_never_code(tmp_path: Path, payload: str) -> None:
    valid = json.loads(a_valid_document(tmp_path))
    valid["channel"]["code"] = payload
    load_or_explain(tmp_path, json.dumps(valid).encode())
    assert not (Path.cwd() / "pwned").exists()
    store = CheckpointStore(tmp_path / "attacked")
    assert store.load(stored_path(tmp_path)).channel["code"] == payload


#: A run's history of requests: (task, visit, call index, how the record ends, whether that task's
#: visit is looked up after it), asked in this order.
request_histories = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 2),
        st.integers(0, 3),
        st.sampled_from(["pending", "answered", "closed", "closed by a person"]),
        st.booleans(),
    ),
    max_size=40,
)


@SETTINGS
@given(request_histories)
def test_the_requests_of_a_tasks_visit_are_found_by_index_as_by_a_scan_of_every_record(
    history: list[tuple[str, int, int, str, bool]],
) -> None:
    from graflow_nb._engine.channel import Channel
    from graflow_nb._engine.state import RunState
    from graflow_nb._model.checkpoint import RequestRecord

    state = RunState(workflow="prop", run_id="prop-1", channel=Channel())

    def by_scan(task_id: str, visit: int) -> list[str]:
        found = [
            r
            for r in state.records.values()
            if (r.request.task_id, r.request.visit) == (task_id, visit) and (r.state != "closed" or r.response)
        ]
        return [r.feedback_id for r in sorted(found, key=lambda r: r.request.call_index)]

    for number, (task_id, visit, call_index, ending, look_up) in enumerate(history):
        request = build_request(
            "approval", "Go?", feedback_id=f"fb-{number}", workflow="prop", run_id="prop-1",
            task_id=task_id, call_index=call_index, visit=visit,
        )  # fmt: skip
        record = RequestRecord(request=request)
        if ending == "answered":
            record = record.model_copy(
                update={"state": "answered", "response": make_response(request, approved=True, via="api")}
            )
        elif ending == "closed by a person":
            record = record.model_copy(
                update={"state": "closed", "response": make_response(request, closed=True, via="api")}
            )
        elif ending == "closed":  # replaced by a new question, or timed out and caught
            record = record.model_copy(update={"state": "closed"})
        state.records[record.feedback_id] = record
        if look_up:
            assert state.request_ids_of(task_id, visit) == by_scan(task_id, visit)
    for task_id in "abc":
        for visit in range(3):
            assert state.request_ids_of(task_id, visit) == by_scan(task_id, visit)


#: Changes to a run's requests: a new one asked, an earlier one answered (by its position, modulo
#: their number), or a snapshot taken.
request_changes = st.lists(st.tuples(st.sampled_from(["ask", "answer", "snapshot"]), st.integers(0, 50)), max_size=40)


@SETTINGS
@given(request_changes)
def test_a_snapshots_requests_are_every_record_as_converted_whole_and_later_changes_leave_it_alone(
    changes: list[tuple[str, int]],
) -> None:
    """A snapshot converts only the records replaced since the one before (found by identity); what it
    gives must be what converting every record gives, and stay so after later changes."""
    from graflow_nb._definition.graph import TaskGraph
    from graflow_nb._engine.channel import Channel
    from graflow_nb._engine.state import RunState
    from graflow_nb._model.checkpoint import RequestRecord

    state = RunState(workflow="prop", run_id="prop-1", channel=Channel())
    taken: list[tuple[list[Any], str]] = []  # each snapshot's requests, with their JSON when taken

    def snapshot() -> None:
        requests = state.envelope_data(TaskGraph())["requests"]
        assert requests == [record.model_dump(mode="json") for record in state.records.values()]
        taken.append((requests, json.dumps(requests)))

    for number, (change, which) in enumerate(changes):
        if change == "ask":
            request = build_request(
                "approval", "Go?", feedback_id=f"fb-{number}", workflow="prop", run_id="prop-1", task_id="a",
                call_index=number,
            )  # fmt: skip
            state.records[request.feedback_id] = RequestRecord(request=request)
        elif change == "answer" and state.records:
            record = list(state.records.values())[which % len(state.records)]
            response = make_response(record.request, approved=bool(which % 2), via="api")
            state.records[record.feedback_id] = record.model_copy(update={"state": "answered", "response": response})
        else:
            snapshot()
    snapshot()
    for requests, when_taken in taken:
        assert json.dumps(requests) == when_taken
