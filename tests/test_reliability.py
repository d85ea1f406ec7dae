"""Attacks the product must survive: processes killed at random moments, cancels with requests pending,
tasks that raise or hang. After each, the files on disk load and say exactly what happened, and resuming ends
where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from graflow_nb import (
    CheckpointSaveError,
    CheckpointStore,
    NoResumableRunError,
    RunInUseError,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    decision_log,
    task,
    workflow,
)
from graflow_nb._engine.engine import live_engines
from graflow_nb.testing import RecordingPresenter

from .conftest import StartInBackground
from .helpers import read_until, run_cli

ROUNDS = 200

#: Imports graflow_nb once, then forks a child per round that runs (or resumes) the workflow and is
#: killed with SIGKILL after a random delay; after each kill every file in the folder must load.
KILLER = textwrap.dedent(
    """
    import json, os, random, signal, sys, time
    from graflow_nb import CheckpointError, CheckpointStore, task, workflow

    folder, rounds = sys.argv[1], int(sys.argv[2])
    if sys.argv[3] == "journal-churn":  # a save every 3 ms, the document rewritten whole every ~30 of them
        import graflow_nb._engine.checkpoint_writer as writer
        writer.COALESCE_SECONDS, writer.JOURNAL_MIN_BYTES = 0.003, 0

    def build():
        with workflow("killed", checkpoint_dir=folder) as wf:
            previous = None
            for index in range(120):
                @task(id=f"s{index:03d}", inject_context=True)
                def step(ctx, index=index):
                    time.sleep(0.002)
                    channel = ctx.get_channel()  # idempotent, as the guide asks: from the last step's value
                    channel.set(f"v{index}", channel.get(f"v{index - 1}", 1) * 3 % 1000003 + index)
                if previous is not None:
                    previous >> step
                previous = step
        return wf

    def child(resume):
        build().run(presenters=[], resume=resume)
        os._exit(0)

    rng = random.Random(20261124)
    store = CheckpointStore(folder)
    killed = unreadable = replayed = 0
    for _ in range(rounds):
        pid = os.fork()
        if pid == 0:
            child("auto")
        time.sleep(rng.uniform(0.01, 0.25))
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        for path, document in store.documents():
            if isinstance(document, CheckpointError):
                unreadable += 1
                print("UNREADABLE", path, document, file=sys.stderr)
            journal = path.with_suffix(".journal")
            if journal.exists():
                replayed += journal.read_bytes().count(b"\\n") > 1  # the header and at least one entry
    pid = os.fork()  # finish whatever run is unfinished, uninterrupted
    if pid == 0:
        child("auto")
    os.waitpid(pid, 0)
    finished = [
        {"status": d.status.value, "completed": len(d.completed), "channel": d.channel}
        for _path, d in store.documents()
    ]
    reference_folder = folder + "-reference"
    folder = reference_folder
    outcome = build().run(presenters=[])
    reference = CheckpointStore(reference_folder).load_run(outcome.run_id)
    print(json.dumps({"killed": killed, "unreadable": unreadable, "runs": finished,
                      "replayed": replayed,
                      "reference": {"status": outcome.status.value, "channel": reference.channel}}))
    """
)


@pytest.mark.parametrize(
    "saving",
    [
        "as-shipped",
        # kills land while a save appends to the journal, and while the document is rewritten whole
        "journal-churn",
    ],
)
def test_killed_at_random_moments_hundreds_of_times_every_run_ends_as_an_uninterrupted_one(
    tmp_path: Path, saving: str
) -> None:
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    folder = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, str(script), str(folder), str(ROUNDS), saving],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["unreadable"] == 0, done.stderr
    assert report["killed"] >= ROUNDS * 0.8  # most rounds really were killed mid-run
    runs = report["runs"]
    assert runs, "no run was written"
    reference = report["reference"]
    assert reference["status"] == "completed"
    assert all(run["status"] == "completed" for run in runs), [run["status"] for run in runs]
    assert all(run["channel"] == reference["channel"] for run in runs)
    assert len(runs) < ROUNDS / 3  # kills were resumed, not restarted from scratch
    if saving == "journal-churn":
        assert report["replayed"] >= ROUNDS / 2, "most kills left changes in a journal, which loading replayed"


def waiting_and_cancelling(name: str) -> Workflow:
    with workflow(name) as wf:

        @task(inject_context=True)
        def wait_for_person(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback("approval", "Ship?").approved

        @task(inject_context=True)
        def prepare(ctx: TaskExecutionContext) -> None:
            ctx.get_channel().set("prepared", True)

    return wf


def test_a_run_cancelled_with_requests_pending_says_so_on_disk(
    background: StartInBackground, checkpoint_dir: Path
) -> None:
    watcher = RecordingPresenter()
    running = background(waiting_and_cancelling("cancelled"), presenters=[watcher])
    request = watcher.next_request()
    (engine,) = list(live_engines)
    engine.cancel_threadsafe("the release was called off")
    outcome = running.result(timeout=30)
    assert outcome.status is RunStatus.CANCELLED

    document = CheckpointStore(checkpoint_dir).load(outcome.checkpoint_path)
    assert document.status is RunStatus.CANCELLED
    assert document.reason == "the release was called off"
    assert document.completed == ["prepare"]
    assert document.channel["prepared"] is True
    (record,) = document.requests
    assert (record.feedback_id, record.state, record.response) == (request.feedback_id, "closed", None)
    assert [e["event"] for e in decision_log().entries] == ["requested", "closed"]
    listing = run_cli("list", directory=checkpoint_dir).stdout
    assert "cancelled" in listing
    assert "the release was called off" in listing
    late = run_cli("answer", request.feedback_id, "--approve", directory=checkpoint_dir)
    assert late.returncode == 1
    assert "is cancelled" in late.stderr
    with pytest.raises(NoResumableRunError):  # cancelled is final
        waiting_and_cancelling("cancelled").resume()


def test_a_task_that_raises_leaves_the_error_on_disk_and_resumes_once_fixed(checkpoint_dir: Path) -> None:
    attempts: list[str] = []

    def flaky_workflow(broken: bool) -> Workflow:
        with workflow("flaky") as wf:

            @task
            def load() -> list[int]:
                attempts.append("load")
                return [1, 2, 3]

            @task
            def total(load: list[int]) -> int:
                attempts.append("total")
                if broken:
                    raise ValueError("column 'amount' is missing")
                return sum(load)

            load >> total

        return wf

    failed = flaky_workflow(broken=True).run(presenters=[])
    assert failed.status is RunStatus.FAILED
    document = CheckpointStore(checkpoint_dir).load(failed.checkpoint_path)
    assert document.status is RunStatus.FAILED
    assert document.completed == ["load"]
    assert document.error is not None
    assert (document.error.task_id, document.error.error_type) == ("total", "ValueError")
    assert "column 'amount' is missing" in document.error.message
    assert "raise ValueError" in document.error.traceback
    assert "failed" in run_cli("list", directory=checkpoint_dir).stdout
    resumed = flaky_workflow(broken=False).run(resume=True, presenters=[])
    assert resumed.status is RunStatus.COMPLETED
    assert resumed.result == 6
    assert attempts == ["load", "total", "total"]  # the completed task did not run again


#: A run whose task hangs (until a line arrives on stdin), for the test below.
HANGING_SCRIPT = """
import sys
from graflow_nb import task, workflow

with workflow("hanging") as wf:
    @task
    def first() -> int:
        return 1

    @task
    def hangs(first: int) -> int:
        print("hanging", file=sys.stderr, flush=True)
        sys.stdin.readline()
        return first + 1

    @task
    def quick(first: int) -> int:
        return first + 2

    first >> (hangs | quick)
    wf.execute()
"""


def hanging_workflow() -> Workflow:
    """The script's workflow as the resuming process defines it; its hanging task must not run again."""
    with workflow("hanging") as wf:

        @task
        def first() -> int:
            raise AssertionError("completed tasks are not run again")

        @task
        def hangs(first: int) -> int:
            raise AssertionError("completed tasks are not run again")

        @task
        def quick(first: int) -> int:
            raise AssertionError("completed tasks are not run again")

        first >> (hangs | quick)
    return wf


def test_a_hanging_task_interrupted_says_on_disk_that_the_run_waits_for_it(
    tmp_path: Path, checkpoint_dir: Path
) -> None:
    """A sync task cannot be stopped from outside: Ctrl-C waits for it, and says so at once on disk and on
    stderr; the run cannot be resumed elsewhere meanwhile, and is saved as paused once the task ends."""
    script = tmp_path / "hanging.py"
    script.write_text(HANGING_SCRIPT)
    env = {**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(checkpoint_dir)}
    with subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as process:
        assert process.stdin is not None
        assert process.stderr is not None
        read_until(process.stderr.fileno(), b"hanging")
        process.send_signal(signal.SIGINT)
        read_until(process.stderr.fileno(), b"waiting for 'hangs' to finish")
        (path,) = checkpoint_dir.glob("hanging-*.json")
        waiting = CheckpointStore(checkpoint_dir).load(path)
        assert (waiting.status, waiting.reason) == (RunStatus.RUNNING, "interrupted; waiting for 'hangs' to finish")
        assert waiting.owner_pid == process.pid
        assert "first" in waiting.completed
        assert "hangs" not in waiting.completed
        assert "interrupted; waiting for 'hangs' to finish" in run_cli("list", directory=checkpoint_dir).stdout
        with pytest.raises(RunInUseError, match=f"still running in process {process.pid}"):
            hanging_workflow().resume()
        process.stdin.write(b"go on\n")
        process.stdin.close()
        assert process.wait(timeout=30) != 0  # the KeyboardInterrupt, once the task has ended
    saved = CheckpointStore(checkpoint_dir).load(path)
    assert (saved.status, saved.reason, saved.owner_pid) == (RunStatus.PAUSED, "interrupted before it finished", None)
    assert sorted(saved.completed) == ["first", "hangs", "quick"]  # the task's work is kept
    assert hanging_workflow().resume() == {"hangs": 2, "quick": 3}


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from graflow_nb import CheckpointSaveError, WorkflowFailed, task, workflow

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails with EFBIG, as on a full disk

    with workflow("full-disk", checkpoint_dir=sys.argv[1]) as wf:
        @task
        def small() -> int:
            return 1

        @task
        def big(small: int) -> str:
            resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))  # the disk fills up now
            return "x" * 100_000  # a result that no longer fits

        @task
        def after(big: str) -> str:
            return "never"

        small >> big >> after

    try:
        wf.execute()
    except WorkflowFailed as failed:
        cause = failed.__cause__
        print("FAILED", type(cause).__name__, isinstance(cause, CheckpointSaveError), failed.outcome.status.value)
        print(failed.outcome.reason)
    """
)


def test_a_full_disk_fails_the_run_clearly_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK)
    ran = subprocess.run(
        [sys.executable, str(script), str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.returncode == 0, ran.stderr
    first, reason = ran.stdout.splitlines()[:2]
    assert first == "FAILED CheckpointSaveError True failed"
    assert "could not save the checkpoint" in reason
    assert "the last good checkpoint is kept" in reason
    assert "Traceback" not in ran.stderr
    (path,) = folder.glob("full-disk-*.json")
    kept = CheckpointStore(folder).load(path)  # the last good checkpoint: whole, and resumable
    assert kept.status is RunStatus.RUNNING
    assert "big" not in kept.completed
    listed = run_cli("list", directory=folder)
    assert listed.returncode == 0, listed.stderr


def test_a_channel_keeps_what_was_set_whatever_happens_to_the_value_afterwards() -> None:
    with workflow("mutated-after-set") as wf:

        @task(inject_context=True)
        def keep(ctx: TaskExecutionContext) -> None:
            rows: list = [1, {"a": [2]}]
            ctx.get_channel().set("rows", rows)
            rows.append(object())  # checked at set, changed afterwards: the channel holds a copy
            rows[1]["a"].append(3)

    outcome = wf.run()
    assert outcome.status is RunStatus.COMPLETED
    assert wf.runs()[-1].channel["rows"] == [1, {"a": [2]}]


def test_a_channel_value_changed_in_place_into_something_unsaveable_fails_the_run_clearly() -> None:
    with workflow("mutated-after-get") as wf:

        @task(inject_context=True)
        def keep(ctx: TaskExecutionContext) -> None:
            channel = ctx.get_channel()
            channel.set("rows", [1, 2])
            channel.get("rows").append(object())  # the stored list itself, changed without set

    outcome = wf.run()
    assert outcome.status is RunStatus.FAILED
    assert isinstance(outcome.exception, CheckpointSaveError)
    assert "a value cannot be encoded" in (outcome.reason or "")
