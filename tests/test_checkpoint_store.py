"""Checkpoint files: JSON only, atomic under SIGKILL, clear errors for damaged, foreign or newer files."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import select
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from graflow_nb import (
    CheckpointDirectoryError,
    CheckpointMismatchError,
    CheckpointStore,
    CheckpointVersionError,
    CorruptCheckpointError,
    NoResumableRunError,
    RunInUseError,
    RunStatus,
    TaskExecutionContext,
    task,
    workflow,
)
from graflow_nb._definition.graph import Flowable
from graflow_nb._io.journal import journal_entry
from graflow_nb.testing import ScriptedAnswers
from tests.helpers import append_to_journal, run_cli, wait_until


def paused_run(name: str = "stored") -> Path:
    """Run a one-task workflow that pauses; return its checkpoint file."""
    with workflow(name) as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="?", timeout=0.1).approved

        outcome = wf.run()
    assert outcome.status is RunStatus.PAUSED
    return outcome.checkpoint_path


class TestDocument:
    def test_checkpoint_is_versioned_human_readable_json(self) -> None:
        saved = json.loads(paused_run().read_text())
        assert saved["schema"] == "graflow_nb.checkpoint"
        assert saved["schema_version"] == 2
        assert saved["tasks"] == ["ask"]
        assert saved["requests"][0]["state"] == "pending"

    def test_coalesced_writes_still_save_every_finished_task(self) -> None:
        with workflow("long-chain") as wf:
            tasks = []
            for index in range(200):

                def step(index: int = index) -> int:
                    return index

                tasks.append(task(id=f"step{index}")(step))
            flow: Flowable = tasks[0]
            for following in tasks[1:]:
                flow = flow >> following
            outcome = wf.run()
        saved = json.loads(outcome.checkpoint_path.read_text())
        assert len(saved["completed"]) == 200
        assert saved["channel"]["step199.__result__"] == 199


class TestDamagedFiles:
    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"{not json", "not valid JSON"),
            (b"\xff\xfe\x00garbage", "not valid JSON"),
            (b'{"hello": "world"}', "not a graflow_nb checkpoint"),
            (b"[1, 2, 3]", "not a graflow_nb checkpoint"),
        ],
    )
    def test_unreadable_or_foreign_file_names_the_file(
        self, checkpoint_dir: Path, content: bytes, message: str
    ) -> None:
        checkpoint_dir.mkdir(parents=True)
        path = checkpoint_dir / "odd.json"
        path.write_bytes(content)
        with pytest.raises(CorruptCheckpointError, match=message) as raised:
            CheckpointStore(checkpoint_dir).load(path)
        assert str(path) in str(raised.value)

    def test_tampered_field_is_reported_with_its_location(self) -> None:
        path = paused_run()
        saved = json.loads(path.read_text())
        saved["completed"] = ["ghost"]
        path.write_text(json.dumps(saved))
        with pytest.raises(CorruptCheckpointError, match=r"names tasks the workflow does not list: \['ghost'\]"):
            CheckpointStore(path.parent).load(path)

    def test_newer_schema_version_says_to_upgrade(self) -> None:
        path = paused_run()
        saved = json.loads(path.read_text())
        saved["schema_version"] = 99
        saved["new_field"] = True
        path.write_text(json.dumps(saved))
        with pytest.raises(CheckpointVersionError, match="schema version 99; this graflow_nb reads up to version 2"):
            CheckpointStore(path.parent).load(path)

    def test_a_pickle_in_the_folder_is_never_executed(self, checkpoint_dir: Path, tmp_path: Path) -> None:
        import pickle

        marker = tmp_path / "pwned"

        class Exploit:
            def __reduce__(self) -> tuple[object, tuple[str]]:
                return (os.system, (f"touch {marker}",))

        checkpoint_dir.mkdir(parents=True)
        (checkpoint_dir / "evil.json").write_bytes(pickle.dumps(Exploit()))
        documents = list(CheckpointStore(checkpoint_dir).documents())
        assert isinstance(documents[0][1], CorruptCheckpointError)
        assert not marker.exists()

    def test_resume_skips_a_damaged_file_with_a_warning(self, checkpoint_dir: Path) -> None:
        paused_run("skip-damaged")
        (checkpoint_dir / "broken.json").write_text("{")
        with workflow("skip-damaged") as wf:

            @task(inject_context=True)
            def ask(ctx: TaskExecutionContext) -> bool:
                return True

            with pytest.warns(UserWarning, match=r"broken.json cannot be loaded"):
                assert len(wf.runs()) == 1


class TestResumeChecks:
    def test_changed_workflow_definition_is_named(self) -> None:
        paused_run("changing")
        with workflow("changing") as wf:

            @task(inject_context=True)
            def ask_renamed(ctx: TaskExecutionContext) -> bool:
                return True

            expected = r"tasks missing now: \['ask'\]; tasks new now: \['ask_renamed'\]"
            with pytest.raises(CheckpointMismatchError, match=expected):
                wf.resume()

    def test_nothing_to_resume(self) -> None:
        with workflow("fresh") as wf:

            @task
            def only() -> None: ...

            with pytest.raises(NoResumableRunError, match="no unfinished run of workflow 'fresh'"):
                wf.resume()

    def test_run_held_by_a_live_process_is_not_resumed_twice(self, checkpoint_dir: Path) -> None:
        path = paused_run("owned")
        run_id = json.loads(path.read_text())["run_id"]
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from graflow_nb._io.run_claim import RunClaim\n"
                f"claim = RunClaim.acquire(Path({str(checkpoint_dir)!r}), {run_id!r}); print('held', flush=True)\n"
                "sys.stdin.read()",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            with workflow("owned") as wf:

                @task(inject_context=True)
                def ask(ctx: TaskExecutionContext) -> bool:
                    return True

                with pytest.raises(RunInUseError, match=f"run {run_id} is being run by another process"):
                    wf.resume()
        finally:
            holder.communicate("")
        # once that process is gone (however it ended) its hold is gone too, and the run resumes
        with workflow("owned") as wf:

            @task(inject_context=True)
            def ask(ctx: TaskExecutionContext) -> bool:
                return True

            assert wf.resume() is True

    def test_a_crashed_run_whose_pid_now_belongs_to_another_process_resumes(self) -> None:
        path = paused_run("recycled")
        saved = json.loads(path.read_text())
        unrelated = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        try:
            saved["status"] = "running"  # as a run killed mid-flight leaves it...
            saved["owner_pid"] = unrelated.pid  # ...whose process id the system then gave to another program
            path.write_text(json.dumps(saved))
            with workflow("recycled") as wf:

                @task(inject_context=True)
                def ask(ctx: TaskExecutionContext) -> bool:
                    return True

                assert wf.resume() is True
        finally:
            unrelated.communicate(b"")

    def test_one_run_started_twice_in_one_process_is_refused(self) -> None:
        paused_run("twice")
        asked = threading.Event()
        go_on = threading.Event()
        with workflow("twice") as wf:

            @task(inject_context=True)
            def ask(ctx: TaskExecutionContext) -> bool:
                asked.set()
                return go_on.wait(10)

        first = wf.start(resume=True)
        assert asked.wait(10)
        with pytest.raises(RunInUseError, match=f"run {first.run_id} is still running"):
            wf.start(resume=True)
        with pytest.raises(RunInUseError, match=f"run {first.run_id} is still running"):
            wf.run(resume=True)
        go_on.set()
        assert first.wait(timeout=10) is True
        assert wf.runs()[-1].status == "completed"  # the refused starts left the run as the first ended it


WRITER = textwrap.dedent(
    """
    import sys
    import time
    from graflow_nb import task, workflow

    with workflow("hammer", checkpoint_dir=sys.argv[1]) as wf:
        steps = []
        for index in range(20000):
            def step(**_):
                time.sleep(0.0005)  # the run lasts ~10 s: long enough to be killed mid-flight
                return {"payload": ["x" * 64] * 10}
            steps.append(task(id=f"s{index}")(step))
        flow = steps[0]
        for following in steps[1:]:
            flow = flow >> following
        print("ready", flush=True)
        wf.run()
    """
)


def test_sigkill_while_writing_never_leaves_a_file_that_fails_to_load(tmp_path: Path) -> None:
    """Kill a process that writes checkpoints continuously, many times, at random moments."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    directory = tmp_path / "hammered"
    rng = random.Random(1234)
    killed = 0
    for round_index in range(15):
        process = subprocess.Popen(
            [sys.executable, str(script), str(directory)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the writer did not start within 60 s"
        assert process.stdout.readline().strip() == b"ready"
        # the run has written its first checkpoint (preparing 20,000 tasks may outlast the shortest wait
        # below on a busy machine, and a run killed before that leaves no file to check)
        wait_until(functools.partial(files_written, directory, round_index + 1), timeout=60)
        # let it write for a random while (a few checkpoint intervals), then kill it mid-flight
        try:
            process.wait(timeout=rng.uniform(0.3, 1.2))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait(timeout=10)
        process.stdout.close()
        store = CheckpointStore(directory)
        documents = list(store.documents())
        assert documents, "no checkpoint was written"
        for path, document in documents:
            assert not isinstance(document, Exception), f"{path}: {document}"
    assert len(list(directory.glob("*.json"))) == 15
    assert killed == 15, "every round should be killed while the run is still writing"


def files_written(directory: Path, count: int) -> bool:
    return len(list(directory.glob("hammer-*.json"))) == count


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write to."""
    folder = tmp_path / "locked"
    folder.mkdir()
    with unwritable(folder):
        yield folder


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make ``folder`` unwritable for a while: chmod for normal users, the immutable flag for root."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    subprocess.run(["chattr", "+i", str(folder)], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True, capture_output=True)


def test_read_only_folder_is_refused_before_any_task_runs(read_only_folder: Path) -> None:
    ran: list[int] = []
    with workflow("read-only", checkpoint_dir=read_only_folder) as wf:

        @task
        def only() -> None:
            ran.append(1)

        with pytest.raises(CheckpointDirectoryError) as raised:
            wf.execute()
    message = str(raised.value)
    assert message.startswith(f"cannot write checkpoints to {read_only_folder} (")
    assert "GRAFLOW_NB_CHECKPOINT_DIR" in message
    assert isinstance(raised.value, PermissionError)
    assert ran == []


def test_the_cli_answering_into_a_folder_it_cannot_write_prints_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    path = paused_run("locked-later")
    folder.mkdir()
    (folder / path.name).write_bytes(path.read_bytes())
    feedback_id = json.loads(path.read_text())["requests"][0]["request"]["feedback_id"]
    with unwritable(folder):
        answered = run_cli("answer", feedback_id, "--approve", directory=folder)
    assert answered.returncode != 0
    assert "Traceback" not in answered.stderr
    lines = answered.stderr.strip().splitlines()
    assert len(lines) == 1, answered.stderr
    assert lines[0].startswith(f"graflow-nb: cannot use {folder}: ")


def test_auto_resume_never_drops_a_channel_or_start_node_given(capsys: pytest.CaptureFixture[str]) -> None:
    paused_run("tuning")
    with workflow("tuning") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> float:
            return float(ctx.get_channel().get("lr"))

        outcome = wf.run(resume="auto", channel={"lr": 0.5})
    assert outcome.status is RunStatus.COMPLETED
    assert outcome.result == 0.5  # the new channel, not the paused run's
    assert "starting a new run of 'tuning' with the channel given; not resuming tuning-" in capsys.readouterr().err


class TestFindingTheRunToResume:
    """Resuming reads the workflow's files newest first; a finished run's is skipped after its first bytes."""

    @staticmethod
    def completed_runs(count: int) -> list[Path]:
        paths = []
        for _ in range(count):
            with workflow("often") as wf:

                @task
                def only() -> int:
                    return 1

            paths.append(wf.run(presenters=[]).checkpoint_path)
        return paths

    def test_an_older_paused_run_is_resumed_past_newer_finished_ones_without_reading_them(self) -> None:
        with workflow("often") as wf:

            @task(inject_context=True)
            def only(ctx: TaskExecutionContext) -> int:
                return int(ctx.request_feedback(feedback_type="approval", prompt="?", timeout=0.05).approved)

        paused = wf.run(presenters=[])
        assert paused.status is RunStatus.PAUSED
        finished = self.completed_runs(3)
        for path in finished:  # beyond their first bytes they no longer load: proof they are not read
            path.write_bytes(path.read_bytes()[:400])
        resumed = wf.run(presenters=[ScriptedAnswers({"only": [{"approved": True}]})], resume="auto")
        assert resumed.run_id == paused.run_id
        assert resumed.status is RunStatus.COMPLETED

    def test_a_finished_run_with_a_journal_beside_it_is_read_whole(self) -> None:
        (path,) = self.completed_runs(1)
        store = CheckpointStore(path.parent)
        data = json.loads(path.read_bytes())
        store.write_data(data, journal="0123456789abcdef")  # as a large run leaves it: its stop in the journal
        append_to_journal(store, data["run_id"], journal_entry({"fields": {"status": "paused"}}))
        with workflow("often") as wf:

            @task
            def only() -> int:
                return 1

        resumed = wf.run(presenters=[], resume="auto")
        assert resumed.run_id == data["run_id"], "the journal says the run paused: it is resumed"
