"""Script mode in a real terminal (a pty): requests are asked at the prompt."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from graflow_nb import FeedbackRequest, FeedbackType
from graflow_nb._frontends.console import parse_console_answer
from tests.helpers import read_until, run_cli

SCRIPT = textwrap.dedent(
    """
    from graflow_nb import TaskExecutionContext, task, workflow

    with workflow("terminal") as wf:
        @task(inject_context=True)
        def review(ctx: TaskExecutionContext) -> str:
            approval = ctx.request_feedback(feedback_type="approval", prompt="Approve deployment?")
            env = ctx.request_feedback(
                feedback_type="selection", prompt="Choose deployment environment:", options=["staging", "production"]
            )
            return f"approved={approval.approved} env={env.selected} via={env.via}"

        print("result:", wf.execute(), flush=True)
    """
)


def test_requests_are_answered_at_the_terminal_prompt(tmp_path: Path, checkpoint_dir: Path) -> None:
    with script_at_a_terminal(tmp_path, SCRIPT, checkpoints=checkpoint_dir) as controller:
        read_until(controller, b"approve? [y/n]")
        os.write(controller, b"maybe\n")
        read_until(controller, b"type y (approve) or n (reject)")
        os.write(controller, b"y\n")
        read_until(controller, b"2. production")
        os.write(controller, b"2\n")
        output = read_until(controller, b"via=console")
        assert b"result: approved=True env=production via=console" in output


PARALLEL = textwrap.dedent(
    """
    from graflow_nb import task, workflow

    with workflow("parallel-terminal") as wf:
        def review(index):
            @task(id=f"item{index}", inject_context=True)
            def check(ctx):
                return ctx.request_feedback("approval", f"Keep item {index}?", timeout=600).approved
            return check

        items = [review(index) for index in range(6)]
        batch = items[0]
        for item in items[1:]:
            batch = batch | item

        print("result:", sorted(wf.execute().items()), flush=True)
    """
)


def test_parallel_tasks_are_asked_at_the_prompt_in_the_workflows_order(tmp_path: Path, checkpoint_dir: Path) -> None:
    screens = []
    with script_at_a_terminal(tmp_path, PARALLEL, checkpoints=checkpoint_dir) as controller:
        for _ in range(6):
            screens.append(read_until(controller, b"approve? [y/n]").decode())
            os.write(controller, b"y\n")
        read_until(controller, b"result:")
    asked = [
        re.findall(r"\[parallel-terminal / (item\d) / fb-[0-9a-f]{16}\] \(times out at ", screen)[-1]
        for screen in screens
    ]
    assert asked == [f"item{index}" for index in range(6)], "asked in the workflow's order, not the threads'"
    assert screens[0].count("graflow_nb: waiting for approval") == 6, "all announced before the first prompt"
    announced = re.findall(r"waiting for approval fb-[0-9a-f]{16} \((item\d)\)", screens[0])
    assert announced == [f"item{index}" for index in range(6)], "announced in the workflow's order too"
    assert "answer from elsewhere" not in screens[0], "one line each, not a block of commands, at a terminal"
    assert screens[0].count("`graflow-nb list` shows how to answer elsewhere") == 1
    assert all("waiting for" not in screen for screen in screens[1:]), "nothing printed over the prompt"


LATE_ARRIVAL = textwrap.dedent(
    """
    import time
    from pathlib import Path
    from graflow_nb import task, workflow

    with workflow("late-arrival") as wf:
        @task(inject_context=True)
        def first(ctx):
            return ctx.request_feedback("approval", "First?").approved

        @task(inject_context=True)
        def later(ctx):
            until = time.monotonic() + 60
            while not Path("go").exists() and time.monotonic() < until:  # the test says when
                time.sleep(0.01)
            return ctx.request_feedback("approval", "Later?").approved

        first | later
        print("result:", sorted(wf.execute().items()), flush=True)
    """
)


@contextmanager
def script_at_a_terminal(
    tmp_path: Path, source: str, *, checkpoints: Path | None = None, exit_code: int = 0
) -> Iterator[int]:
    """Run ``source`` as a script at a terminal (a pty), its checkpoints in ``checkpoints`` (default
    ``tmp_path / "ck"``); yield the terminal's other end. The script must then end with ``exit_code``."""
    (tmp_path / "script.py").write_text(source)
    controller, terminal = pty.openpty()
    env = {**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(checkpoints or tmp_path / "ck")}
    with subprocess.Popen(
        [sys.executable, "script.py"], cwd=tmp_path, stdin=terminal, stdout=terminal, stderr=terminal, env=env
    ) as process:
        os.close(terminal)
        try:
            yield controller
            assert process.wait(timeout=30) == exit_code
        finally:
            process.kill()
            os.close(controller)


@contextmanager
def late_request_at_the_prompt(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """Run LATE_ARRIVAL at a terminal; yield the terminal and what it announced once the later request
    arrived while the first one's prompt waits."""
    with script_at_a_terminal(tmp_path, LATE_ARRIVAL) as controller:
        read_until(controller, b"approve? [y/n]")
        (tmp_path / "go").touch()
        yield controller, read_until(controller, b"shows how to answer it)").decode()


def test_a_request_arriving_while_a_person_is_at_the_prompt_is_announced_in_one_line(tmp_path: Path) -> None:
    with late_request_at_the_prompt(tmp_path) as (controller, announced):
        os.write(controller, b"y\n")
        read_until(controller, b"Later?")
        os.write(controller, b"n\n")
        output = read_until(controller, b")]")  # the whole result line, not its first chunk
    assert "graflow_nb: also waiting: approval fb-" in announced
    assert "(later): Later?" in announced
    assert "answer from elsewhere" not in announced, "no block of commands over the prompt"
    assert b"result: [('first', True), ('later', False)]" in output


def test_an_answer_from_elsewhere_is_said_on_its_own_line_and_the_prompt_is_drawn_again(tmp_path: Path) -> None:
    with late_request_at_the_prompt(tmp_path) as (controller, announced):
        (later,) = re.findall(r"also waiting: approval (fb-[0-9a-f]{16}) \(later\)", announced)
        assert run_cli("answer", later, "--approve", "--by", "dana", directory=tmp_path / "ck").returncode == 0
        told = read_until(controller, b"First?\r\n> ").decode()
        os.write(controller, b"y\n")
        output = read_until(controller, b")]")  # the whole result line, not its first chunk
    said = f"\r\ngraflow_nb: {later} (later) approved (by dana via cli)\r\nstill asking first: First?\r\n> "
    assert said in told, "a line of its own, then the prompt, with what it asks"
    assert b"result: [('first', True), ('later', True)]" in output


THREE_KINDS = textwrap.dedent(
    """
    from graflow_nb import task, workflow

    with workflow("three-kinds") as wf:
        @task(inject_context=True)
        def a(ctx):
            response = ctx.request_feedback("approval", "Ship it?")
            return response.approved, response.reason

        @task(inject_context=True)
        def b(ctx):
            return ctx.request_feedback("text", "Why?").text

        @task(inject_context=True)
        def c(ctx):
            return ctx.request_feedback("multi_selection", "Columns?", options=["age", "tenure", "income"]).selected

        a | b | c
        print("result:", sorted(wf.execute().items()), flush=True)
    """
)


def announced_ids(screen: str) -> dict[str, str]:
    """The feedback ids a terminal announced, by task."""
    return {
        task: feedback_id for feedback_id, task in re.findall(r"waiting for \w+ (fb-[0-9a-f]{16}) \((\w)\)", screen)
    }


def test_what_was_typed_at_a_prompt_answered_elsewhere_never_joins_another_answer(tmp_path: Path) -> None:
    """The terminal holds a line until Enter: a prompt left (or drawn again) because of an answer from
    elsewhere discards what was typed there, so the answer recorded is what the screen shows."""
    with script_at_a_terminal(tmp_path, THREE_KINDS) as controller:
        ids = announced_ids(read_until(controller, b"approve? [y/n]").decode())
        os.write(controller, b"y lo")  # typed, not entered, when another request is answered elsewhere
        read_until(controller, b"y lo")  # (echoed: the terminal has it)
        assert run_cli("answer", ids["c"], "--select", "age", "--by", "erin", directory=tmp_path / "ck").returncode == 0
        redrawn = read_until(controller, b"Ship it?\r\n> ").decode()
        os.write(controller, b"n nope\n")  # what the screen now shows after the prompt
        read_until(controller, b"Why?\r\n> ")
        os.write(controller, b"n")  # typed, not entered, when this very request is answered elsewhere
        read_until(controller, b"n")  # (echoed)
        assert run_cli("answer", ids["b"], "--text", "from the cli", directory=tmp_path / "ck").returncode == 0
        output = read_until(controller, b")]")
    assert redrawn.endswith(f"\r\ngraflow_nb: {ids['c']} (c) age (by erin via cli)\r\nstill asking a: Ship it?\r\n> ")
    assert "result: [('a', (False, 'nope')), ('b', 'from the cli'), ('c', ['age'])]" in output.decode(), output


def test_what_was_typed_when_another_request_is_announced_never_joins_the_answer(tmp_path: Path) -> None:
    with script_at_a_terminal(tmp_path, LATE_ARRIVAL) as controller:
        read_until(controller, b"approve? [y/n] (a reason may follow)\r\n> ")
        os.write(controller, b"y lo")  # typing when the later request is announced over the prompt
        read_until(controller, b"y lo")  # (echoed)
        (tmp_path / "go").touch()
        announced = read_until(controller, b"still asking first: First?\r\n> ").decode()
        os.write(controller, b"n nope\n")  # what the screen shows after the prompt drawn again
        read_until(controller, b"Later?")
        os.write(controller, b"y\n")
        output = read_until(controller, b")]").decode()
    assert "also waiting: approval fb-" in announced
    assert "result: [('first', False), ('later', True)]" in output, output


def test_after_a_refused_answer_a_note_from_elsewhere_still_starts_on_a_line_of_its_own(tmp_path: Path) -> None:
    with script_at_a_terminal(tmp_path, THREE_KINDS) as controller:
        ids = announced_ids(read_until(controller, b"approve? [y/n]").decode())
        os.write(controller, b"y\n")
        read_until(controller, b"Why?")
        os.write(controller, b"because\n")
        read_until(controller, b"choose any")
        os.write(controller, b"9\n")
        read_until(controller, b"not among the options ['age', 'tenure', 'income']\r\n> ")
        os.write(controller, b"ag")
        read_until(controller, b"ag")  # (echoed)
        assert (
            run_cli("answer", ids["c"], "--select", "income", "--by", "erin", directory=tmp_path / "ck").returncode == 0
        )
        told = read_until(controller, b")]").decode()
    assert told.startswith(f"\r\ngraflow_nb: {ids['c']} (c) income (by erin via cli)\r\n"), told
    assert "result: [('a', (True, None)), ('b', 'because'), ('c', ['income'])]" in told


TIMING_OUT = textwrap.dedent(
    """
    from graflow_nb import task, workflow

    with workflow("timing-out") as wf:
        @task(inject_context=True)
        def ask(ctx):
            return ctx.request_feedback("approval", "Ship it?", timeout=1).approved

    wf.execute()
    """
)


def test_a_run_that_pauses_while_a_person_is_at_the_prompt_says_so_on_a_line_of_its_own(tmp_path: Path) -> None:
    with script_at_a_terminal(tmp_path, TIMING_OUT, exit_code=1) as controller:
        read_until(controller, b"approve? [y/n] (a reason may follow)\r\n> ")
        os.write(controller, b"y bu")  # typing, not entered, when the request times out
        ended = read_until(controller, b"(or wf.resume())").decode()
    said = r"y bu\r\nworkflow 'timing-out' run timing-out-\S+ paused: no answer to fb-\w+ \(ask\)"
    assert re.match(said, ended), "the run's message on a line of its own"


def request(kind: FeedbackType, **fields: object) -> FeedbackRequest:
    return FeedbackRequest(
        feedback_id="fb-1",
        feedback_type=kind,
        prompt="?",
        workflow="w",
        run_id="r",
        task_id="t",
        call_index=0,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("question", "line", "answer"),
    [
        (request(FeedbackType.APPROVAL), "n too risky\n", {"approved": False, "reason": "too risky"}),
        (request(FeedbackType.TEXT), "hello world\n", {"text": "hello world"}),
        (request(FeedbackType.SELECTION, options=["a", "b"]), "b\n", {"selected": "b"}),
        (request(FeedbackType.MULTI_SELECTION, options=["a", "b", "c"]), "1, c\n", {"selected": ["a", "c"]}),
        (request(FeedbackType.MULTI_SELECTION, options=["a"]), "none\n", {"selected": []}),
        (request(FeedbackType.MULTI_SELECTION, options=["a"]), "None \n", {"selected": []}),
        (request(FeedbackType.MULTI_SELECTION, options=["none", "some"]), "none\n", {"selected": ["none"]}),
        (request(FeedbackType.NUMBER, integer=True), "4\n", {"value": 4}),
        (request(FeedbackType.FORM), '{"x": 1}\n', {"data": {"x": 1}}),
    ],
)
def test_prompt_lines_become_answers(question: FeedbackRequest, line: str, answer: dict[str, object]) -> None:
    assert parse_console_answer(question, line) == answer


@pytest.mark.parametrize(
    ("question", "hint"),
    [
        (request(FeedbackType.TEXT), "type the answer (an empty line is not one)"),
        (request(FeedbackType.SELECTION, options=["a", "b"]), "type one option's number or name"),
        (request(FeedbackType.MULTI_SELECTION, options=["a"]), "or type none to choose none"),
    ],
)
def test_an_enter_pressed_by_mistake_is_not_an_answer(question: FeedbackRequest, hint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(hint)):
        parse_console_answer(question, "  \n")


def test_a_printed_command_works_where_graflow_nb_is_not_on_the_path(
    checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A virtualenv that is not activated (or a kernel papermill started): the command names this Python."""
    from graflow_nb import FeedbackAlreadySettledError, TaskExecutionContext, provide_feedback, task, workflow
    from graflow_nb._io.hints import cli_commands
    from graflow_nb._io.store import CheckpointStore

    bare = "/usr/bin:/bin"
    monkeypatch.setenv("PATH", bare)
    with workflow("off-path") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Go?", timeout=0.1).approved

    (feedback_id,) = wf.run().pending_feedback_ids
    _, record = CheckpointStore(checkpoint_dir).find_request(feedback_id)
    approve = cli_commands(record.request, checkpoint_dir)[0]
    assert approve.startswith(f"{sys.executable} -m graflow_nb answer {feedback_id} --approve")
    shell = ["bash", "-c", approve]
    pasted = subprocess.run(shell, env={"PATH": bare}, capture_output=True, text=True, timeout=60, check=False)
    assert pasted.returncode == 0, pasted.stderr
    with pytest.raises(FeedbackAlreadySettledError, match="already answered"):
        provide_feedback(feedback_id, approved=False)
