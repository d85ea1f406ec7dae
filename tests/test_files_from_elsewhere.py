"""A checkpoint folder may come from a cloned repository: nothing in it can make graflow_nb write outside
the folder, read without end, hang, or hand a task an answer that does not fit its request."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from graflow_nb import (
    CheckpointStore,
    CheckpointVersionError,
    CorruptCheckpointError,
    FeedbackResponse,
    FeedbackType,
    RunStatus,
    TaskExecutionContext,
    task,
    workflow,
)
from graflow_nb._io.decision_log import DecisionLog
from tests.helpers import run_cli


def paused(name: str, **question: object) -> tuple[Path, str]:
    """A paused one-task run asking ``question``; its checkpoint file and its feedback id."""
    question = question or {"feedback_type": "approval"}
    with workflow(name) as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> object:
            response = ctx.request_feedback(prompt="?", timeout=0.05, **question)  # type: ignore[call-overload]
            return response.model_dump(mode="json", include={"approved", "selected", "value"}, exclude_none=True)

    outcome = wf.run()
    assert outcome.status is RunStatus.PAUSED
    return outcome.checkpoint_path, outcome.pending_feedback_ids[0]


def rewrite(path: Path, **changes: object) -> None:
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))


class TestIdsThatPointElsewhere:
    def test_a_planted_run_id_is_refused_and_nothing_is_written_outside(self, checkpoint_dir: Path) -> None:
        path, _ = paused("planted-run")
        rewrite(path, run_id="../package")
        outside = checkpoint_dir.parent / "package.json"
        with pytest.raises(CorruptCheckpointError, match=r"run_id '\.\./package' is not an id graflow_nb writes"):
            CheckpointStore(checkpoint_dir).load(path)
        listed = run_cli("list", directory=checkpoint_dir)
        assert listed.returncode == 0, listed.stderr
        assert "Traceback" not in listed.stderr
        assert not outside.exists()

    def test_a_run_id_that_is_not_its_file_name_is_refused(self, checkpoint_dir: Path) -> None:
        path, _ = paused("renamed")
        path.rename(path.with_name("someone-else-20260101T000000000-abcdef.json"))
        (moved,) = checkpoint_dir.glob("someone-else-*.json")
        with pytest.raises(CorruptCheckpointError, match="is not its file name"):
            CheckpointStore(checkpoint_dir).load(moved)

    def test_a_planted_feedback_id_cannot_make_the_cli_write_outside(self, checkpoint_dir: Path) -> None:
        path, _ = paused("planted-fb", feedback_type="approval")
        document = json.loads(path.read_text())
        document["requests"][0]["request"]["feedback_id"] = "../../x"
        path.write_text(json.dumps(document))
        answered = run_cli("answer", "../../x", "--approve", directory=checkpoint_dir)
        assert answered.returncode != 0
        assert "Traceback" not in answered.stderr
        assert not (checkpoint_dir.parent / "x.json").exists()
        assert not (checkpoint_dir / "x.json").exists()


class TestFilesThatAreNotFiles:
    def test_a_link_to_dev_zero_is_not_read(self, checkpoint_dir: Path) -> None:
        paused("zero")
        link = checkpoint_dir / "zero-20260101T000000000-abcdef.json"
        link.symlink_to("/dev/zero")
        with pytest.raises(CorruptCheckpointError, match="cannot be read"):
            CheckpointStore(checkpoint_dir).load(link)
        listed = run_cli("list", directory=checkpoint_dir)
        assert listed.returncode == 0, listed.stderr

    @pytest.mark.timeout(30)
    def test_a_fifo_does_not_hang_list(self, checkpoint_dir: Path) -> None:
        paused("fifo")
        os.mkfifo(checkpoint_dir / "fifo-20260101T000000000-abcdef.json")
        listed = run_cli("list", directory=checkpoint_dir)
        assert listed.returncode == 0, listed.stderr
        assert "not a regular file" in listed.stdout + listed.stderr

    def test_a_file_over_the_limit_is_refused_and_the_limit_can_be_raised(
        self, checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path, _ = paused("big", feedback_type="approval")
        monkeypatch.setenv("GRAFLOW_NB_MAX_FILE_MB", str(path.stat().st_size / 2**20 / 2))
        with pytest.raises(
            CorruptCheckpointError, match="over the 0 MB limit \\(raise it with GRAFLOW_NB_MAX_FILE_MB\\)"
        ):
            CheckpointStore(checkpoint_dir).load(path)
        monkeypatch.setenv("GRAFLOW_NB_MAX_FILE_MB", "1")
        assert CheckpointStore(checkpoint_dir).load(path).status is RunStatus.PAUSED

    def test_a_decision_log_that_links_elsewhere_is_not_appended_to(self, checkpoint_dir: Path, tmp_path: Path) -> None:
        elsewhere = tmp_path / "elsewhere.txt"
        elsewhere.write_text("precious\n")
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        (checkpoint_dir / "decisions.jsonl").symlink_to(elsewhere)
        with pytest.warns(UserWarning, match="could not append to the decision log"):
            paused("logged", feedback_type="approval")
        assert elsewhere.read_text() == "precious\n"


class TestSchemaVersions:
    def test_a_newer_schema_is_refused_naming_both_versions(self, checkpoint_dir: Path) -> None:
        path, _ = paused("future")
        rewrite(path, schema_version=3)
        with pytest.raises(CheckpointVersionError) as raised:
            CheckpointStore(checkpoint_dir).load(path)
        assert "3" in str(raised.value)
        assert "2" in str(raised.value)
        assert json.loads(path.read_text())["schema_version"] == 3, "never rewritten as version 2"

    def test_an_older_or_unknown_schema_is_refused_clearly(self, checkpoint_dir: Path) -> None:
        path, _ = paused("ancient")
        rewrite(path, schema_version=0)
        with pytest.raises(CorruptCheckpointError, match="schema_version 0 is not 1 or 2"):
            CheckpointStore(checkpoint_dir).load(path)


class TestAnswersOnDisk:
    @pytest.mark.parametrize(
        ("question", "bad", "problem"),
        [
            ({"feedback_type": "number", "min": 0, "max": 10}, {"value": 999}, "above"),
            ({"feedback_type": "selection", "options": ["a", "b"]}, {"selected": "zzz"}, "not one of"),
            ({"feedback_type": "multi_selection", "options": ["a", "b"]}, {"selected": ["a", "a", "zzz"]}, ""),
            ({"feedback_type": "approval"}, {"text": "yes"}, ""),
        ],
    )
    def test_an_answer_file_that_does_not_fit_is_refused_and_the_request_stays_answerable(
        self, checkpoint_dir: Path, question: dict, bad: dict, problem: str
    ) -> None:
        name = f"planted-answer-{question['feedback_type']}-{len(bad)}-{abs(hash(json.dumps(bad))) % 1000}"
        _, feedback_id = paused(name, **question)
        kind = question["feedback_type"]
        answers = checkpoint_dir / "answers"
        answers.mkdir(exist_ok=True)
        planted = {"feedback_id": feedback_id, "feedback_type": kind, "via": "cli", "responded_by": "mallory", **bad}
        (answers / f"{feedback_id}.json").write_text(json.dumps(planted))
        with workflow(name) as wf:

            @task(inject_context=True)
            def ask(ctx: TaskExecutionContext) -> object:
                response = ctx.request_feedback(prompt="?", timeout=0.3, **question)
                return response.model_dump(mode="json", include={"approved", "selected", "value"}, exclude_none=True)

            with pytest.warns(UserWarning, match=f"answer to {feedback_id} refused"):
                outcome = wf.run(resume=True)
        assert outcome.status is RunStatus.PAUSED, "the planted answer never reached the task"
        refused = [e for e in DecisionLog(checkpoint_dir).entries() if e["event"] == "refused"]
        assert refused
        assert problem in refused[-1]["reason"]
        assert not (answers / f"{feedback_id}.json").exists(), "set aside, so the request can be answered"

    def test_an_answer_filed_under_another_id_is_refused(self, checkpoint_dir: Path) -> None:
        _, feedback_id = paused("other-id", feedback_type="approval")
        store = CheckpointStore(checkpoint_dir)
        store.answers_directory.mkdir(exist_ok=True)
        stray = FeedbackResponse(feedback_id="fb-0000000000000000", feedback_type=FeedbackType.APPROVAL, approved=True)
        store.answer_path(feedback_id).write_text(stray.model_dump_json())
        assert store.read_answer(feedback_id) is None

    def test_reading_commands_never_change_the_folder(self, checkpoint_dir: Path) -> None:
        _, feedback_id = paused("read-only", feedback_type="approval")
        store = CheckpointStore(checkpoint_dir)
        store.answers_directory.mkdir(exist_ok=True)
        store.answer_path(feedback_id).write_text("{ not json")
        before = sorted(p.name for p in checkpoint_dir.rglob("*"))
        for command in (["list"], ["show", feedback_id], ["log"]):
            run_cli(*command, directory=checkpoint_dir)
        assert sorted(p.name for p in checkpoint_dir.rglob("*")) == before


class TestLeftovers:
    def test_temporary_files_left_by_a_crash_are_swept(self, checkpoint_dir: Path) -> None:
        paused("sweep")
        dead = checkpoint_dir / ".sweep-20260101T000000000-abcdef.json.999999.0123abcd.tmp"
        dead.write_bytes(b"x" * 1000)  # pid 999999: no such process
        old = checkpoint_dir / f".other.json.{os.getpid()}.89abcdef.tmp"
        old.write_bytes(b"y")
        an_hour_ago = time.time() - 3700
        os.utime(old, (an_hour_ago, an_hour_ago))
        young = checkpoint_dir / f".young.json.{os.getpid()}.01234567.tmp"
        young.write_bytes(b"z")  # a write in progress in a live process: kept
        paused("sweep-again")
        assert not dead.exists()
        assert not old.exists()
        assert young.exists()

    def test_a_torn_decision_log_line_never_swallows_the_next_entry(self, checkpoint_dir: Path) -> None:
        paused("torn", feedback_type="approval")
        log = checkpoint_dir / "decisions.jsonl"
        with log.open("ab") as handle:
            handle.write(b'{"at": "2026-01-01T00:00:00+00:00", "event": "answ')  # a full disk cut this line
        paused("torn-after", feedback_type="approval")
        with pytest.warns(UserWarning, match="is not a decision log entry"):
            entries = list(DecisionLog(checkpoint_dir).entries())
        assert [e["workflow"] for e in entries if e["event"] == "requested"] == ["torn", "torn-after"]


class TestEveryBadInputIsADocumentedError:
    """Bad answers raise InvalidAnswerError, bad requests InvalidFeedbackRequestError, never a raw error."""

    @pytest.mark.parametrize(
        ("question", "answer", "problem"),
        [
            ({"feedback_type": "number", "min": 0, "max": 10}, {"value": 10**400}, "finite number a float can hold"),
            ({"feedback_type": "approval"}, {"approved": True, "reason": 123}, "a reason must be text"),
            ({"feedback_type": "approval"}, {"approved": True, "via": "carrier pigeon"}, "via"),
            ({"feedback_type": "form"}, {"data": {"lr": object()}}, "holds a object, not JSON data"),
            ({"feedback_type": "form"}, {"data": {"lr": float("nan")}}, "holds a float NaN or infinity"),
            ({"feedback_type": "form"}, {"data": {"lr": "abc"}}, "lr: 'abc' is not of type 'number'"),
        ],
    )
    def test_bad_answers(self, checkpoint_dir: Path, question: dict, answer: dict, problem: str) -> None:
        from pydantic import BaseModel

        from graflow_nb import InvalidAnswerError, provide_feedback

        class Tuning(BaseModel):
            lr: float = 0.1

        if question["feedback_type"] == "form":
            question = {**question, "model": Tuning}
        name = f"bad-{question['feedback_type']}-{abs(hash(repr(answer))) % 10**6}"
        _, feedback_id = paused(name, **question)
        with pytest.raises(InvalidAnswerError, match=problem):
            provide_feedback(feedback_id, **answer)
        # the request stays answerable: a valid answer is taken afterwards
        valid: dict[str, dict[str, Any]] = {
            "number": {"value": 3},
            "approval": {"approved": True},
            "form": {"data": {"lr": 0.5}},
        }
        assert provide_feedback(feedback_id, **valid[question["feedback_type"]]).feedback_id == feedback_id

    @pytest.mark.parametrize(
        ("extra", "problem"),
        [({"key": 123}, "key must be a string"), ({"timeout": 1e12}, "too long to have a deadline")],
    )
    def test_bad_requests(self, extra: dict, problem: str) -> None:
        from graflow_nb import InvalidFeedbackRequestError

        with workflow(f"bad-request-{next(iter(extra))}") as wf:

            @task(inject_context=True)
            def ask(ctx: TaskExecutionContext) -> object:
                return ctx.request_feedback(feedback_type="approval", prompt="?", **extra)

        outcome = wf.run()
        assert outcome.status is RunStatus.FAILED
        assert isinstance(outcome.exception, InvalidFeedbackRequestError)
        assert problem in str(outcome.exception)

    def test_a_huge_owner_pid_in_a_file_is_a_clear_load_error(self, checkpoint_dir: Path) -> None:
        path, _ = paused("huge-pid")
        rewrite(path, owner_pid=2**70, status="running")
        with pytest.raises(CorruptCheckpointError, match="owner_pid"):
            CheckpointStore(checkpoint_dir).load(path)

    def test_a_form_answer_from_the_cli_is_checked_against_the_saved_schema(self, checkpoint_dir: Path) -> None:
        from pydantic import BaseModel

        class Tuning(BaseModel):
            lr: float = 0.1

        _, feedback_id = paused("cli-form", feedback_type="form", model=Tuning)
        refused = run_cli("answer", feedback_id, "--json", '{"lr": "abc"}', directory=checkpoint_dir)
        assert refused.returncode != 0
        assert "lr: 'abc' is not of type 'number'" in refused.stderr
        assert "Traceback" not in refused.stderr
        accepted = run_cli("answer", feedback_id, "--json", '{"lr": 0.5}', directory=checkpoint_dir)
        assert accepted.returncode == 0, accepted.stderr
