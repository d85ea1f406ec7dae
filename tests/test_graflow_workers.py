"""One switch from local to distributed: a graflow_nb workflow's tasks run on Graflow's own workers
(issue #19, parts 1, 2 and 4).

Real parts (tests/redis_parts.py): Debian's redis-server on 127.0.0.1, two ``python -m graflow.worker.main``
processes of Graflow 0.2 from PyPI, and the run in a script of .venv-graflow (where graflow_nb is
installed beside Graflow), as a notebook's kernel would hold it. Answers come from graflow-nb's CLI
pointed at Redis (this test's Python, as from another machine), from Graflow's own feedback manager,
and from answer files.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from graflow_nb import provide_feedback
from graflow_nb._io.graflow_redis import GraflowRedisRequests

from .redis_parts import (
    BackgroundScript,
    GraflowWorkers,
    RedisServer,
    cli,
    free_port,
    graflow_python,
    redis_server,
    redis_url,
    run_script,
    wait_for,
    workers,
)

__all__ = ["graflow_python", "redis_server", "redis_url", "workers"]  # fixtures
pytestmark = pytest.mark.timeout(180)

FAN_OUT = """
import json, os, sys, time
from graflow_nb import task, workflow

with workflow("fan-out") as wf:
    @task(inject_context=True)
    def prepare(ctx):
        ctx.get_channel().set("prepared_by", os.getpid())
        return [1, 2, 3]

    def make(index):
        @task(id=f"part{index}")
        def part(prepare):
            time.sleep(0.3)  # long enough that both workers take some
            return {"pid": os.getpid(), "sum": sum(prepare) + index}
        return part

    parts = [make(index) for index in range(6)]

    @task(inject_context=True)
    def approve(ctx, **done):
        response = ctx.request_feedback(feedback_type="approval", prompt="Publish?", timeout=60)
        return {"approved": response.approved, "by": response.responded_by, "pid": os.getpid(),
                "prepared_by": ctx.get_channel().get("prepared_by")}

    group = parts[0]
    for other in parts[1:]:
        group = group | other
    prepare >> group >> approve

result, context = wf.execute(ret_context=True, resume=False, console=False, answers=sys.argv[1])
parts = {f"part{index}": context.get_result(f"part{index}") for index in range(6)}
print("RESULT", json.dumps({"script_pid": os.getpid(), "approve": result, "parts": parts}))
"""


def answers_file(folder: Path, workflow: str, task: str, answer: dict[str, Any]) -> Path:
    path = folder / "answers.json"
    entry = {"workflow": workflow, "task": task, "call": 0, "answer": answer, "responded_by": "replay"}
    path.write_text(json.dumps({"version": 1, "answers": [entry]}))
    return path


def printed_result(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


def decisions(folder: Path) -> list[dict[str, Any]]:
    log = folder / "checkpoints" / "decisions.jsonl"  # (the checkpoint_dir fixture's folder)
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_the_same_workflow_runs_here_or_on_graflow_workers_by_one_setting(
    workers: GraflowWorkers, redis_url: str, graflow_python: Path, tmp_path: Path
) -> None:
    script = tmp_path / "fan_out.py"
    script.write_text(FAN_OUT)
    answers = answers_file(tmp_path, "fan-out", "approve", {"approved": True})

    here = printed_result(run_script(graflow_python, script, str(answers)))
    assert {part["pid"] for part in here["parts"].values()} == {here["script_pid"]}

    os.environ["GRAFLOW_NB_REDIS"] = redis_url  # the one setting; the script is the same
    try:
        there = printed_result(run_script(graflow_python, script, str(answers)))
    finally:
        del os.environ["GRAFLOW_NB_REDIS"]
    pids = {part["pid"] for part in there["parts"].values()}
    assert pids == set(workers.pids), (pids, workers.pids)  # both workers took tasks
    assert there["approve"]["pid"] in workers.pids
    assert there["approve"]["prepared_by"] in workers.pids
    assert [there["parts"][f"part{index}"]["sum"] for index in range(6)] == [6, 7, 8, 9, 10, 11]
    assert there["approve"]["approved"] is True
    assert there["approve"]["by"] == "replay"


ASK_TWICE = """
import json, os, sys
from graflow_nb import task, workflow

with workflow("ask-twice") as wf:
    @task(inject_context=True)
    def decide(ctx):
        go = ctx.request_feedback(feedback_type="approval", prompt="Ship it?", timeout=60)
        count = ctx.request_feedback(feedback_type="number", prompt="Replicas?", min=1, max=9, timeout=60)
        return {"approved": go.approved, "reason": go.reason, "replicas": count.value, "pid": os.getpid()}

print("RESULT", json.dumps(wf.execute(redis=sys.argv[1], resume=False, console=False)))
"""


def test_requests_of_worker_tasks_are_answered_from_the_cli_and_logged_with_who_and_via(
    workers: GraflowWorkers, redis_url: str, graflow_python: Path, tmp_path: Path
) -> None:
    script = tmp_path / "ask_twice.py"
    script.write_text(ASK_TWICE)
    with BackgroundScript(graflow_python, script, redis_url) as run:
        kept = GraflowRedisRequests(redis_url)
        (first,) = wait_for(kept.requests, "the first request in Redis")
        assert first.request.prompt == "Ship it?"
        assert first.request.task_id == "decide"
        listed = cli("list", "--redis", redis_url)
        assert f"{first.request.feedback_id}  approval" in listed.stdout, listed.stdout + listed.stderr
        of_workflow = cli("list", "--redis", redis_url, "--workflow", "ask-twice")
        assert first.request.feedback_id in of_workflow.stdout, of_workflow.stdout + of_workflow.stderr
        of_graflow = cli("list", "--redis", redis_url, "--workflow", "graflow")  # plain Graflow runs' only
        assert "no Graflow requests of workflow 'graflow' wait" in of_graflow.stdout
        answered = cli("answer", first.request.feedback_id, "--redis", redis_url, "--reject", "--reason", "not yet")
        assert answered.returncode == 0, answered.stderr

        (second,) = wait_for(lambda: [r for r in kept.requests() if r.request.prompt == "Replicas?"], "the second")
        refused = cli("answer", second.request.feedback_id, "--redis", redis_url, "--value", "12")  # max is 9
        assert refused.returncode != 0
        assert "9" in refused.stderr, refused.stdout + refused.stderr
        answered = cli("answer", second.request.feedback_id, "--redis", redis_url, "--value", "3", "--by", "ops")
        assert answered.returncode == 0, answered.stderr
        done = run.finish()
    result = printed_result(done)
    assert f"answer {first.request.feedback_id} --approve --redis {redis_url}" in done.stderr  # the hint
    assert result == {"approved": False, "reason": "not yet", "replicas": 3, "pid": result["pid"]}
    assert result["pid"] in workers.pids
    answered_entries = [entry for entry in decisions(tmp_path) if entry["event"] == "answered"]
    assert [(entry["feedback_id"], entry["via"]) for entry in answered_entries] == [
        (first.request.feedback_id, "cli"),
        (second.request.feedback_id, "cli"),
    ]
    assert answered_entries[1]["by"] == "ops"
    assert answered_entries[1]["value"] == 3


PAUSE_AND_RESUME = """
import json, os, sys
from graflow_nb import WorkflowPaused, task, workflow

SENT = sys.argv[3]  # read here: a task's code runs on a worker, whose sys.argv is its own

with workflow("pause-resume") as wf:
    @task(inject_context=True)
    def notify_then_ask(ctx):
        channel = ctx.get_channel()
        if not channel.get("notified"):  # the guide's guard: the side effect happens once
            with open(SENT, "a") as sent:
                sent.write("sent\\n")
            channel.set("notified", True)
        response = ctx.request_feedback(feedback_type="text", prompt="Release notes?", timeout=1)
        return response.text

    @task
    def publish(notify_then_ask):
        return {"notes": notify_then_ask, "pid": os.getpid()}

    notify_then_ask >> publish

try:
    print("RESULT", json.dumps(wf.execute(redis=sys.argv[1], resume=sys.argv[2] == "resume", console=False)))
except WorkflowPaused as paused:
    print("PAUSED", json.dumps({"pending": list(paused.outcome.pending_feedback_ids)}))
"""

GRAFLOW_ANSWERS = """
import sys
import redis
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.types import FeedbackResponse, FeedbackType

client = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
manager = FeedbackManager(backend="redis", backend_config={"redis_client": client})
answer = FeedbackResponse(feedback_id=sys.argv[2], response_type=FeedbackType.TEXT, text="Faster.", responded_by="pm")
print("STORED", manager.provide_feedback(sys.argv[2], answer))
"""


def test_a_timeout_pauses_and_an_answer_given_through_graflow_resumes_the_run_on_the_workers(
    workers: GraflowWorkers, redis_server: RedisServer, graflow_python: Path, tmp_path: Path
) -> None:
    script, sent = tmp_path / "pause_resume.py", tmp_path / "sent.txt"
    script.write_text(PAUSE_AND_RESUME)
    paused = run_script(graflow_python, script, redis_server.url, "new", str(sent))
    assert paused.returncode == 0, paused.stderr
    (line,) = [line for line in paused.stdout.splitlines() if line.startswith("PAUSED ")]
    (feedback_id,) = json.loads(line.removeprefix("PAUSED "))["pending"]
    (checkpoint,) = (tmp_path / "checkpoints").glob("pause-resume-*.json")
    saved = json.loads(checkpoint.read_text())
    assert saved["status"] == "paused"
    assert saved["channel"]["notified"] is True

    graflow = tmp_path / "graflow_answers.py"
    graflow.write_text(GRAFLOW_ANSWERS)
    stored = run_script(graflow_python, graflow, str(redis_server.port), feedback_id)
    assert "STORED True" in stored.stdout, stored.stdout + stored.stderr

    resumed = printed_result(run_script(graflow_python, script, redis_server.url, "resume", str(sent)))
    assert resumed["notes"] == "Faster."
    assert resumed["pid"] in workers.pids
    assert sent.read_text() == "sent\n"  # the asking task ran twice, its side effect once
    answered = [entry for entry in decisions(tmp_path) if entry["event"] == "answered"]
    assert [(entry["feedback_id"], entry["by"], entry["via"]) for entry in answered] == [(feedback_id, "pm", "api")]


def test_the_first_of_many_racing_answers_wins_everywhere(
    workers: GraflowWorkers, redis_url: str, graflow_python: Path, tmp_path: Path
) -> None:
    script = tmp_path / "ask_twice.py"
    script.write_text(ASK_TWICE)
    with BackgroundScript(graflow_python, script, redis_url) as run:
        kept = GraflowRedisRequests(redis_url)
        (first,) = wait_for(kept.requests, "the first request in Redis")
        outcomes: dict[str, subprocess.CompletedProcess[str]] = {}
        start = threading.Barrier(6)

        def racer(name: str, verdict: str) -> None:
            start.wait(10)
            outcomes[name] = cli("answer", first.request.feedback_id, "--redis", redis_url, verdict, "--by", name)

        racers = [
            threading.Thread(target=racer, args=(f"racer{index}", "--approve" if index % 2 else "--reject"))
            for index in range(6)
        ]
        for thread in racers:
            thread.start()
        for thread in racers:
            thread.join(60)
        winners = [name for name, done in outcomes.items() if done.returncode == 0]
        assert len(winners) == 1, {name: done.stdout + done.stderr for name, done in outcomes.items()}
        (second,) = wait_for(lambda: [r for r in kept.requests() if r.request.prompt == "Replicas?"], "the second")
        provide_feedback(second.request.feedback_id, value=1, responded_by="notebook")  # the folder's way
        done = run.finish()
    result = printed_result(done)
    winner = int(winners[0].removeprefix("racer"))
    assert result["approved"] is (winner % 2 == 1)
    answered = [
        e for e in decisions(tmp_path) if e["event"] == "answered" and e["feedback_id"] == first.request.feedback_id
    ]
    assert [entry["by"] for entry in answered] == winners
    stored = kept.responses([second.request.feedback_id])[second.request.feedback_id]
    assert (stored["value"], stored["responded_by"]) == (1, "notebook")  # Redis shows it answered too


KILLED = """
import json, os, sys, time
from graflow_nb import WorkflowPaused, task, workflow

PIDS, SPEED = sys.argv[2], sys.argv[3]  # read here: a task's code runs on a worker

with workflow("killed") as wf:
    @task(inject_context=True)
    def train(ctx):
        response = ctx.request_feedback(feedback_type="selection", prompt="Model?", options=["small", "large"],
                                        timeout=60)
        if ctx.get_channel().get("attempt") is None:
            ctx.get_channel().set("attempt", 1)
        with open(PIDS, "a") as pids:
            pids.write(f"{os.getpid()}\\n")
        if SPEED == "slow":
            time.sleep(60)  # killed here
        return {"model": response.selected, "pid": os.getpid()}

try:
    print("RESULT", json.dumps(wf.execute(redis=sys.argv[1], console=False)))
except WorkflowPaused as paused:
    print("PAUSED", json.dumps({"reason": paused.outcome.reason}))
"""


def test_a_worker_killed_mid_task_pauses_the_run_clearly_and_resuming_keeps_every_answer(
    workers: GraflowWorkers, redis_url: str, graflow_python: Path, tmp_path: Path
) -> None:
    script, pids = tmp_path / "killed.py", tmp_path / "pids.txt"
    script.write_text(KILLED)
    with BackgroundScript(graflow_python, script, redis_url, str(pids), "slow") as run:
        kept = GraflowRedisRequests(redis_url)
        (asked,) = wait_for(kept.requests, "the request in Redis")
        assert cli("answer", asked.request.feedback_id, "--redis", redis_url, "--select", "large").returncode == 0
        victim = int(wait_for(lambda: pids.exists() and pids.read_text().split(), "the task's pid")[0])
        assert victim in workers.pids
        workers.kill(victim)
        done = run.finish()
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("PAUSED ")]
    reason = json.loads(line.removeprefix("PAUSED "))["reason"]
    assert "the Graflow worker running task 'train' (" in reason, reason
    assert f":{victim}) stopped before the task ended" in reason, reason
    assert "stopped before the task ended" in done.stderr

    resumed = printed_result(run_script(graflow_python, script, redis_url, str(pids), "fast"))
    (survivor,) = set(workers.pids) - {victim}
    assert resumed == {"model": "large", "pid": survivor}  # the answer given before the kill is kept
    answered = [entry for entry in decisions(tmp_path) if entry["event"] == "answered"]
    assert len(answered) == 1  # asked once: the resumed task got the recorded answer


def test_redis_restarted_while_a_request_waits_loses_nothing(
    workers: GraflowWorkers, redis_server: RedisServer, graflow_python: Path, tmp_path: Path
) -> None:
    script = tmp_path / "ask_twice.py"
    script.write_text(ASK_TWICE)
    with BackgroundScript(graflow_python, script, redis_server.url) as run:
        wait_for(GraflowRedisRequests(redis_server.url).requests, "the first request in Redis")
        redis_server.stop()  # no saving: it comes back empty
        time.sleep(0.5)  # the parts notice it is gone (each keeps trying; nothing waits on this sleep)
        redis_server.start()
        kept = GraflowRedisRequests(redis_server.url)
        (first,) = wait_for(kept.requests, "the request kept in Redis again by the run")
        assert cli("answer", first.request.feedback_id, "--redis", redis_server.url, "--approve").returncode == 0
        (second,) = wait_for(lambda: [r for r in kept.requests() if r.request.prompt == "Replicas?"], "the second")
        assert cli("answer", second.request.feedback_id, "--redis", redis_server.url, "--value", "2").returncode == 0
        done = run.finish()
    result = printed_result(done)
    assert result["approved"] is True
    assert result["replicas"] == 2


WRONG_URL = """
import sys, time
from graflow_nb import GraflowRedisError, task, workflow

with workflow("nowhere") as wf:
    @task
    def work():
        return 1

started = time.monotonic()
try:
    wf.execute(redis=sys.argv[1], console=False)
except GraflowRedisError as error:
    print("ERROR", round(time.monotonic() - started, 1), error)
print("LOCAL", wf.execute(console=False))  # nothing was left claimed: the same workflow runs here
"""


def test_a_wrong_redis_url_is_one_clear_error_not_a_hang(graflow_python: Path, tmp_path: Path) -> None:
    script = tmp_path / "wrong.py"
    script.write_text(WRONG_URL)
    done = run_script(graflow_python, script, f"redis://:s3cret@127.0.0.1:{free_port()}/0", timeout=30)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("ERROR ")]
    seconds = float(line.split()[1])
    assert seconds < 5
    assert "cannot reach Redis at redis://:***@127.0.0.1" in line
    assert "s3cret" not in done.stdout
    assert "LOCAL 1" in done.stdout


FAILS_AND_CANCELS = """
import json, sys
from graflow_nb import WorkflowCancelled, WorkflowFailed, task, workflow

with workflow("fails") as wf:
    @task
    def broken():
        raise ValueError("the data is off by one")

with workflow("cancels") as other:
    @task(inject_context=True)
    def gate(ctx):
        ctx.cancel_workflow("not this week")
        raise AssertionError("cancel_workflow returned")  # the guide: it stops the task

    @task
    def never():
        return "ran"

    gate >> never

try:
    wf.execute(redis=sys.argv[1], console=False)
except WorkflowFailed as failed:
    error = failed.outcome.error
    print("FAILED", json.dumps({"type": error.error_type, "message": error.message, "traceback": error.traceback}))
try:
    other.execute(redis=sys.argv[1], console=False)
except WorkflowCancelled as cancelled:
    print("CANCELLED", json.dumps({"reason": cancelled.outcome.reason}))
"""


def test_a_task_failing_or_cancelling_on_a_worker_ends_the_run_as_it_would_here(
    workers: GraflowWorkers, redis_url: str, graflow_python: Path, tmp_path: Path
) -> None:
    script = tmp_path / "fails.py"
    script.write_text(FAILS_AND_CANCELS)
    done = run_script(graflow_python, script, redis_url)
    assert done.returncode == 0, done.stderr
    lines = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in done.stdout.splitlines()}
    failed = lines["FAILED"]
    assert failed["type"] == "TaskFailedOnWorkerError"
    assert failed["message"].startswith("ValueError: the data is off by one (on Graflow worker ")
    assert ", in broken\nValueError: the data is off by one" in failed["traceback"]  # the worker's traceback
    assert "The task's traceback on the worker" in failed["traceback"]
    assert lines["CANCELLED"] == {"reason": "not this week"}


NO_WORKER = """
import json, sys, time
import redis
from graflow_nb import WorkflowCancelled, task, workflow

with workflow("queued") as wf:
    @task
    def work():
        return 1

client = redis.Redis.from_url(sys.argv[1])
run = wf.start(redis=sys.argv[1], console=False)
deadline = time.monotonic() + 30
while client.llen("graflow:queue") == 0 and time.monotonic() < deadline:
    time.sleep(0.05)  # (polling Redis, bounded: nothing else tells when the task is queued)
run.cancel("changed my mind")
try:
    run.wait(30)
except WorkflowCancelled:
    pass
print("RESULT", json.dumps({"status": run.status.value, "queued": client.llen("graflow:queue")}))
"""


def test_a_run_stopped_before_any_worker_took_its_task_takes_it_off_the_queue(
    redis_url: str, graflow_python: Path, tmp_path: Path
) -> None:
    script = tmp_path / "queued.py"
    script.write_text(NO_WORKER)
    result = printed_result(run_script(graflow_python, script, redis_url, timeout=60))
    assert result == {"status": "cancelled", "queued": 0}  # no worker runs a cancelled run's task later


NOTIFIES = """
import json, sys
from graflow_nb import task, workflow

HOOK = sys.argv[2]

with workflow("notifies") as wf:
    @task(inject_context=True)
    def ask(ctx):
        config = {"type": "webhook", "url": HOOK, "message": "A worker's task waits"}
        return ctx.request_feedback(feedback_type="approval", prompt="Go?", timeout=60,
                                    notification_config=config).approved

print("RESULT", json.dumps(wf.execute(redis=sys.argv[1], resume=False, console=False)))
"""


def test_a_worker_tasks_notification_is_sent_and_its_secret_url_kept_nowhere(
    workers: GraflowWorkers, redis_url: str, graflow_python: Path, tmp_path: Path
) -> None:
    from graflow_nb.testing import WebhookReceiver

    script = tmp_path / "notifies.py"
    script.write_text(NOTIFIES)
    env = {key: value for key, value in os.environ.items() if key != "GRAFLOW_NB_NOTIFICATIONS"}  # sending on
    with WebhookReceiver() as receiver:
        hook = f"{receiver.url}/hooks/s3cret-token"
        with BackgroundScript(graflow_python, script, redis_url, hook, env=env) as run:
            (created,) = receiver.wait_for(1, timeout=60)
            assert created.body["event"] == "request_created"
            assert created.body["message"] == "A worker's task waits"
            (asked,) = GraflowRedisRequests(redis_url).requests()
            assert cli("answer", asked.request.feedback_id, "--redis", redis_url, "--approve").returncode == 0
            done = run.finish()
            assert [post.body["event"] for post in receiver.wait_for(2)] == ["request_created", "request_answered"]
    assert printed_result(done) is True
    import redis as redis_client

    kept = redis_client.Redis.from_url(redis_url, decode_responses=True)
    stored: dict[str, str] = {}
    for key in kept.scan_iter():
        if key.startswith("graflow:graph:"):
            continue  # Graflow's graph store: the tasks' code with its globals, here HOOK (see the README)
        kind = kept.type(key)
        if kind == "string":
            stored[key] = str(kept.get(key))
        elif kind == "list":
            stored[key] = "".join(str(item) for item in kept.lrange(key, 0, -1))
    assert len(stored) >= 2  # the run's request and answer are there
    assert not [key for key, value in stored.items() if "s3cret-token" in value]
    for path in (tmp_path / "checkpoints").rglob("*"):
        if path.is_file():
            assert "s3cret-token" not in path.read_text(errors="replace"), path
    assert "s3cret-token" not in done.stdout + done.stderr


def test_a_run_that_dies_while_its_task_waits_frees_the_workers_slot(
    redis_server: RedisServer, graflow_python: Path, tmp_path: Path
) -> None:
    """A kernel restarted while its task waits on a worker: the worker stops waiting (the run no longer
    beats), so the one slot there is free for the next run (the resumed one sends the task again)."""
    script = tmp_path / "ask_twice.py"
    script.write_text(ASK_TWICE)
    only = GraflowWorkers(graflow_python, redis_server.port, 1, tmp_path, concurrency=1)
    try:
        kept = GraflowRedisRequests(redis_server.url)
        with BackgroundScript(graflow_python, script, redis_server.url) as first:
            (asked,) = wait_for(kept.requests, "the first run's request")
            first.process.kill()  # as a kernel dies: no goodbye
        with BackgroundScript(graflow_python, script, redis_server.url) as second:
            wait_for(
                lambda: [r for r in kept.requests() if r.request.run_id != asked.request.run_id],
                "the second run's request: the worker's only slot was freed",
                timeout=40,
            )
            second.process.kill()
    finally:
        only.stop()
