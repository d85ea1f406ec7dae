"""The requests of plain Graflow runs kept in Redis, listed and answered by graflow_nb (issue #19, part 3).

Real parts: Debian's redis-server on 127.0.0.1 (a free port, its own folder), Graflow 0.2 from PyPI in
.venv-graflow (./scripts/test creates it) running a workflow of its own, and graflow-nb's CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from graflow_nb import FeedbackAlreadySettledError, InvalidAnswerError
from graflow_nb._io.graflow_redis import GraflowRedisRequests

from .redis_parts import cli, free_port, graflow_python, redis_server, redis_url, wait_for

__all__ = ["graflow_python", "redis_server", "redis_url"]  # fixtures

pytestmark = pytest.mark.timeout(120)

PLAIN_GRAFLOW = """
import json, sys
import redis
from graflow.core.context import ExecutionContext
from graflow.core.decorators import task
from graflow.core.workflow import workflow

client = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
with workflow("plain-graflow") as wf:
    @task(inject_context=True)
    def approve(ctx):
        response = ctx.request_feedback(feedback_type="approval", prompt="Ship **it**?", timeout=60)
        print("GOT", json.dumps({"approved": response.approved, "reason": response.reason,
                                 "by": response.responded_by}), flush=True)

    @task(inject_context=True)
    def pick(ctx):
        response = ctx.request_feedback(feedback_type="multi_selection", prompt="Which?",
                                        options=["a", "b", "c"], timeout=60)
        print("GOT", json.dumps({"selected_multiple": response.selected_multiple}), flush=True)

    approve >> pick
    context = ExecutionContext.create(wf.graph, "approve", channel_backend="redis", config={"redis_client": client})
    print("SESSION", context.session_id, flush=True)
    context.execute()
    print("DONE", flush=True)
"""


def test_a_plain_graflow_run_is_listed_and_answered_from_graflow_nb(
    redis_url: str, graflow_python: Path, tmp_path: Path
) -> None:
    script = tmp_path / "plain.py"
    script.write_text(PLAIN_GRAFLOW)
    port = redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
    run = subprocess.Popen([str(graflow_python), str(script), port], stdout=subprocess.PIPE, text=True)
    try:
        kept = GraflowRedisRequests(redis_url)
        (waiting,) = wait_for(kept.requests, "Graflow's first request")
        assert waiting.request.feedback_type.value == "approval"
        listed = cli("list", "--redis", redis_url)
        assert listed.returncode == 0, listed.stderr
        assert (
            f"{waiting.request.feedback_id}  approval  session {waiting.session_id}  approve: Ship it?" in listed.stdout
        )

        answered = cli(
            "answer", waiting.request.feedback_id, "--redis", redis_url, "--approve", "--reason", "fine", "--by", "lead"
        )
        assert answered.returncode == 0, answered.stderr
        assert "approved: fine (by lead)" in answered.stdout

        second = wait_for(lambda: [r for r in kept.requests(waiting.session_id) if r.request.task_id == "pick"], "pick")
        feedback_id = second[0].request.feedback_id
        with pytest.raises(InvalidAnswerError, match=r"\['z'\] not among the options"):
            kept.answer(feedback_id, selected=["z"])
        kept.answer(feedback_id, selected=["a", "c"], responded_by="ana")
        with pytest.raises(FeedbackAlreadySettledError, match="already answered by ana"):
            kept.answer(feedback_id, selected=["b"])
        out, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    got = [json.loads(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith("GOT ")]
    assert got == [{"approved": True, "reason": "fine", "by": "lead"}, {"selected_multiple": ["a", "c"]}]
    assert "DONE" in out
    assert run.returncode == 0
    assert kept.requests() == [], "both requests are completed"


def graflow_request(feedback_id: str, **fields: Any) -> str:
    """A request as Graflow 0.2's RedisFeedbackBackend stores it (its model_dump_json)."""
    return json.dumps(
        {
            "feedback_id": feedback_id,
            "task_id": "review",
            "session_id": "session-1",
            "feedback_type": "approval",
            "prompt": "Go?",
            "options": None,
            "metadata": {},
            "created_at": "2026-12-02T10:00:00",
            "timeout": 180.0,
            "status": "pending",
            "channel_key": None,
            "write_to_channel": False,
            **fields,
        }
    )


def test_two_answers_at_once_one_wins_every_time(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    kept = GraflowRedisRequests(redis_url)
    for trial in range(20):
        feedback_id = f"race{trial:04d}"
        client.set(f"feedback:request:{feedback_id}", graflow_request(feedback_id))
        start = threading.Barrier(2, timeout=10)
        outcomes: dict[str, str] = {}

        def answer(
            who: str, verdict: bool, feedback_id: str = feedback_id, start: Any = start, outcomes: Any = outcomes
        ) -> None:
            start.wait()
            try:
                kept.answer(feedback_id, approved=verdict, responded_by=who)
                outcomes[who] = "won"
            except FeedbackAlreadySettledError:
                outcomes[who] = "refused"

        threads = [
            threading.Thread(target=answer, args=(who, verdict)) for who, verdict in (("amy", True), ("bo", False))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(outcomes.values()) == ["refused", "won"], outcomes
        winner = next(who for who, result in outcomes.items() if result == "won")
        stored = json.loads(client.get(f"feedback:response:{feedback_id}") or "{}")
        assert stored["responded_by"] == winner
        assert stored["approved"] is (winner == "amy")
        assert json.loads(client.get(f"feedback:request:{feedback_id}") or "{}")["status"] == "completed"


def test_redis_that_cannot_be_reached_is_one_clear_error_not_a_hang() -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    done = cli("list", "--redis", closed)
    assert done.returncode == 1
    assert (
        done.stderr.strip() == f"graflow-nb: cannot reach Redis at {closed}: " + done.stderr.split(": ", 2)[2].strip()
    )
    assert "Connection refused" in done.stderr
    assert time.monotonic() - started < 20
    secret = "redis://:hunter2@127.0.0.1:1/0"
    said = cli("list", "--redis", secret).stderr
    assert "hunter2" not in said, "a password in the URL is never printed"
    assert "redis://:***@127.0.0.1:1/0" in said


def test_an_unknown_id_and_flags_that_do_not_fit_say_what_to_do(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url, decode_responses=True).set(
        "feedback:request:pickone", graflow_request("pickone", feedback_type="selection", options=["x", "y"])
    )
    unknown = cli("answer", "nope", "--redis", redis_url, "--approve")
    assert unknown.returncode == 1
    assert f"`graflow-nb list --redis {redis_url}` shows the pending ones there" in unknown.stderr
    wrong = cli("answer", "pickone", "--redis", redis_url, "--approve")
    assert wrong.returncode == 2
    assert "pickone is a selection request: answer it with --select OPTION, once" in wrong.stderr


def test_a_notebook_panel_shows_graflow_requests_and_a_click_answers_them(
    redis_url: str, graflow_python: Path, tmp_path: Path
) -> None:
    """A real kernel draws the panel (real ipywidgets); a click, sent as the browser sends it, wakes the
    plain Graflow run; the second request, answered from the CLI, shows as answered in the panel."""
    from tests.kernel_harness import Kernel

    script = tmp_path / "plain.py"
    script.write_text(PLAIN_GRAFLOW)
    port = redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
    run = subprocess.Popen([str(graflow_python), str(script), port], stdout=subprocess.PIPE, text=True)
    kernel = Kernel(sys.executable, tmp_path, {})
    try:
        kernel.run(f"from graflow_nb import watch_graflow\npanel = watch_graflow({redis_url!r})")
        reason = kernel.find_widget("TextModel", placeholder="optional")
        kernel.set_value(reason, value="ship it")
        kernel.click(kernel.find_widget("ButtonModel", description="Approve"))
        kernel.find_widget("HTMLModel", value=_Containing("approved: ship it"))
        kept = GraflowRedisRequests(redis_url)
        (pick,) = wait_for(lambda: [r for r in kept.requests() if r.request.task_id == "pick"], "the second request")
        kernel.find_widget("CheckboxModel", description="b")  # its control is drawn
        done = cli("answer", pick.request.feedback_id, "--redis", redis_url, "--select", "b", "--by", "cli-user")
        assert done.returncode == 0, done.stderr
        kernel.find_widget("HTMLModel", value=_Containing("by cli-user"))  # the panel shows the answer given elsewhere
        out, _ = run.communicate(timeout=60)
        assert "1 pending" not in kernel.run("print(repr(panel))")
    finally:
        kernel.shutdown()
        if run.poll() is None:
            run.kill()
    got = [json.loads(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith("GOT ")]
    assert got[0]["approved"] is True
    assert got[0]["reason"] == "ship it"
    assert got[1] == {"selected_multiple": ["b"]}


class _Containing(str):
    """Equal to any string that contains it (for matching a widget's HTML)."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and str(self) in other


def test_watch_graflow_outside_a_notebook_says_what_to_use() -> None:
    from graflow_nb import NotebookOnlyError, watch_graflow

    with pytest.raises(NotebookOnlyError, match="graflow-nb list --redis redis://x"):
        watch_graflow("redis://x")


def test_in_chromium_a_person_answers_a_graflow_request_from_the_panel(
    redis_url: str, graflow_python: Path, tmp_path: Path
) -> None:
    """JupyterLab in Chromium: the reason typed key by key (with a change of mind), then Approve; the
    plain Graflow run gets exactly what the screen showed."""
    from tests.browser import (
        chromium_page,
        jupyter_server,
        require_chromium,
        run_all,
        screenshot,
        type_with_a_correction,
        wait_for_kernel,
        write_notebook,
    )

    require_chromium()
    script = tmp_path / "plain.py"
    script.write_text(PLAIN_GRAFLOW)
    port = redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
    run = subprocess.Popen([str(graflow_python), str(script), port], stdout=subprocess.PIPE, text=True)
    root = tmp_path / "lab"
    root.mkdir()
    write_notebook(
        root / "watch.ipynb", [f"from graflow_nb import watch_graflow\npanel = watch_graflow({redis_url!r})"]
    )
    try:
        with jupyter_server(root) as server, chromium_page(height=1400) as page:
            try:
                page.goto(server.lab_url("watch.ipynb"))
                wait_for_kernel(page)
                run_all(page)
                box = page.locator(".graflow-nb-request", has_text="Ship it?")
                box.get_by_role("button", name="Approve").wait_for(timeout=60_000)
                shown = type_with_a_correction(box.locator("input[type=text]"), "ship tomorow", 3, "rrow")
                box.get_by_role("button", name="Approve").click()
                box.get_by_text(f"approved: {shown}").wait_for(timeout=30_000)
                page.locator(".graflow-nb-request", has_text="Which?").get_by_role("checkbox", name="c").wait_for(
                    timeout=30_000
                )
                screenshot(page, "graflow-panel")
            finally:
                screenshot(page, "graflow-panel-after")
        GraflowRedisRequests(redis_url).answer(
            wait_for(lambda: GraflowRedisRequests(redis_url).requests(), "the second request")[0].request.feedback_id,
            selected=["c"],
        )
        out, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    got = [json.loads(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith("GOT ")]
    assert shown == "ship tomorrow"
    assert got[0] == {"approved": True, "reason": shown, "by": got[0]["by"]}
