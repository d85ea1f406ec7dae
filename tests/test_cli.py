"""The graflow-nb command, end to end in real subprocesses."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from graflow_nb import RunStatus, TaskExecutionContext, task, workflow
from graflow_nb._frontends.console import ConsolePresenter
from tests.helpers import CLI, pause_a_batch_asking_backwards, read_until, run_cli


def pause_three_questions(name: str = "cli") -> list[str]:
    with workflow(name) as wf:

        @task(inject_context=True)
        def approve(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Ship it?", timeout=0.1).approved

        @task(inject_context=True)
        def pick(ctx: TaskExecutionContext) -> object:
            return ctx.request_feedback(
                feedback_type="multi_selection", prompt="Which regions?", options=["eu", "us", "asia"], timeout=0.1
            ).selected

        @task(inject_context=True)
        def depth(ctx: TaskExecutionContext) -> object:
            return ctx.request_feedback(feedback_type="number", prompt="Depth?", min=1, max=10, timeout=0.1).value

        approve | pick | depth
        outcome = wf.run()
    assert outcome.status is RunStatus.PAUSED
    by_task = {}
    saved = json.loads(outcome.checkpoint_path.read_text())
    for record in saved["requests"]:
        by_task[record["request"]["task_id"]] = record["request"]["feedback_id"]
    return [by_task["approve"], by_task["pick"], by_task["depth"]]


def resume_three_questions(name: str = "cli") -> object:
    with workflow(name) as wf:

        @task(inject_context=True)
        def approve(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Ship it?").approved

        @task(inject_context=True)
        def pick(ctx: TaskExecutionContext) -> object:
            return ctx.request_feedback(
                feedback_type="multi_selection", prompt="Which regions?", options=["eu", "us", "asia"]
            ).selected

        @task(inject_context=True)
        def depth(ctx: TaskExecutionContext) -> object:
            return ctx.request_feedback(feedback_type="number", prompt="Depth?", min=1, max=10).value

        approve | pick | depth
        return wf.resume()


def test_list_show_answer_and_resume(checkpoint_dir: Path) -> None:
    approve, pick, depth = pause_three_questions()

    listing = run_cli("list", directory=checkpoint_dir)
    assert listing.returncode == 0, listing.stderr
    assert "cli-" in listing.stdout
    assert "paused" in listing.stdout
    for feedback_id in (approve, pick, depth):
        assert feedback_id in listing.stdout
    assert "Which regions?" in listing.stdout
    folder = checkpoint_dir.resolve()
    assert listing.stdout.endswith(  # how to go on: the console sends people here
        f"\nanswer with: graflow-nb answer FEEDBACK_ID --approve --dir {folder}\n"
        "  (or --reject, --text T, --select O, --value N, --json J; --run RUN_ID for all of a run's requests)\n"
        f"ready-made commands for one request: graflow-nb show FEEDBACK_ID --dir {folder}\n"
    ), listing.stdout

    shown = run_cli("show", pick, directory=checkpoint_dir)
    assert shown.returncode == 0, shown.stderr
    details = json.loads(shown.stdout)
    assert details["request"]["options"] == ["eu", "us", "asia"]
    assert details["state"] == "pending"
    assert details["answer_with"] == [
        f"graflow-nb answer {pick} --select eu --select us --dir {checkpoint_dir.resolve()}"
    ]

    answered = run_cli(
        "answer", approve, "--approve", "--reason", "looks good", "--by", "carol", directory=checkpoint_dir
    )
    assert answered.returncode == 0, answered.stderr
    assert "approved: looks good (by carol)" in answered.stdout
    assert "when resumed" in answered.stdout
    assert run_cli("answer", pick, "--select", "eu", "--select", "asia", directory=checkpoint_dir).returncode == 0
    assert run_cli("answer", depth, "--value", "7", directory=checkpoint_dir).returncode == 0

    assert "answered by carol" in run_cli("list", directory=checkpoint_dir).stdout
    assert resume_three_questions() == {"approve": True, "pick": ["eu", "asia"], "depth": 7}
    assert "answer with:" not in run_cli("list", directory=checkpoint_dir).stdout, "nothing waits"
    finished = run_cli("answer", approve, "--reject", directory=checkpoint_dir)
    assert finished.returncode == 1
    assert "already answered by carol via cli at " in finished.stderr  # who and when, though the run is over


def test_wrong_ids_and_wrong_answers_exit_non_zero_with_a_message(checkpoint_dir: Path) -> None:
    approve, pick, depth = pause_three_questions("cli-errors")
    cases = [
        (("answer", "fb-nope", "--approve"), 1, "has a request 'fb-nope'; `graflow-nb list --dir"),
        (("show", "fb-nope"), 1, "has a request 'fb-nope'"),
        (("answer", approve, "--text", "yes"), 2, "is an approval request: answer it with --approve or --reject"),
        (("answer", pick, "--select", "mars"), 2, "['mars'] not among the options"),
        (("answer", depth, "--value", "99"), 2, "above the maximum 10"),
        (("answer", depth, "--value", "2.5"), 2, "must be a whole number"),
        (("answer", depth, "--reason", "x", "--value", "3"), 2, "--reason goes with --approve or --reject"),
        (("answer", approve), 2, "one of the arguments"),
    ]
    for args, code, message in cases:
        result = run_cli(*args, directory=checkpoint_dir)
        assert (result.returncode, message in result.stderr) == (code, True), (args, result.stderr)
    assert run_cli("answer", approve, "--approve", "--by", "dana", directory=checkpoint_dir).returncode == 0
    again = run_cli("answer", approve, "--reject", directory=checkpoint_dir)
    assert again.returncode == 1
    assert "already answered by dana via cli" in again.stderr


def test_empty_directory_and_unreadable_file(checkpoint_dir: Path) -> None:
    assert "no runs in" in run_cli("list", directory=checkpoint_dir).stdout
    checkpoint_dir.mkdir(parents=True)
    (checkpoint_dir / "junk.json").write_text("{")
    listing = run_cli("list", directory=checkpoint_dir)
    assert listing.returncode == 0
    assert "junk.json: UNREADABLE" in listing.stdout


LIVE_SCRIPT = textwrap.dedent(
    """
    from graflow_nb import TaskExecutionContext, task, workflow

    with workflow("live-cli") as wf:
        @task(inject_context=True)
        def choose(ctx: TaskExecutionContext) -> str:
            return ctx.request_feedback(
                feedback_type="selection", prompt="Environment?", options=["staging", "production"]
            ).selected

        print("result=" + wf.execute(), flush=True)
    """
)


def test_cli_answers_a_script_waiting_live(checkpoint_dir: Path, tmp_path: Path) -> None:
    """With no terminal (stdin is /dev/null) the script waits, and an answer from the CLI resumes it."""
    script = tmp_path / "live.py"
    script.write_text(LIVE_SCRIPT)
    env = {**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(checkpoint_dir)}
    with subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        try:
            assert process.stderr is not None
            assert process.stdout is not None
            notice = read_until(process.stderr.fileno(), b"--dir").decode()
            feedback_id = notice.split("waiting for selection ")[1].split()[0]
            answered = run_cli("answer", feedback_id, "--select", "production", directory=checkpoint_dir)
            assert answered.returncode == 0, answered.stderr
            assert "picks it up now" in answered.stdout
            assert b"result=production" in read_until(process.stdout.fileno(), b"\n")
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()


def announced_commands(prompt: str, **question: object) -> tuple[str, list[str]]:
    """Pause a run on one request; return its id and the commands the console printed to answer it."""
    printed = io.StringIO()
    with workflow(f"paste-{question['feedback_type']}") as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> object:
            return ctx.request_feedback(prompt=prompt, timeout=0.1, **question)  # type: ignore[call-overload]

    outcome = wf.run(presenters=[ConsolePresenter(interactive=False, output=printed)])
    assert outcome.status is RunStatus.PAUSED
    text = printed.getvalue()
    commands = text.split("answer from elsewhere:\n", 1)[1].splitlines()
    return outcome.pending_feedback_ids[0], [line.strip() for line in commands if line.startswith("    ")]


def paste_into_a_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a printed line as a person pasting it into bash would (graflow-nb on the PATH, elsewhere)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path}
    env.pop("GRAFLOW_NB_CHECKPOINT_DIR", None)  # the command names its folder itself
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False
    )


def test_each_printed_command_is_complete_and_does_exactly_its_choice(checkpoint_dir: Path, tmp_path: Path) -> None:
    feedback_id, commands = announced_commands("Ship it?", feedback_type="approval")
    assert len(commands) == 2, commands
    approve, reject = commands
    assert "|" not in approve  # pasting it used to pipe --approve into --reject
    assert str(checkpoint_dir.resolve()) in approve  # absolute: "from elsewhere" means another folder
    pasted = paste_into_a_shell(reject, cwd=tmp_path)
    assert pasted.returncode == 0, pasted.stderr
    assert "rejected: why not" in pasted.stdout
    shown = json.loads(run_cli("show", feedback_id, directory=checkpoint_dir).stdout)
    assert (shown["response"]["approved"], shown["response"]["reason"]) == (False, "why not")


def test_a_selection_prints_one_command_per_option_quoted_for_the_shell(checkpoint_dir: Path, tmp_path: Path) -> None:
    options = ["eu-west", "it's us", "$HOME", "a; rm -rf /tmp/x"]
    feedback_id, commands = announced_commands("Where?", feedback_type="selection", options=options)
    assert len(commands) == len(options)
    pasted = paste_into_a_shell(commands[3], cwd=tmp_path)
    assert pasted.returncode == 0, pasted.stderr
    shown = json.loads(run_cli("show", feedback_id, directory=checkpoint_dir).stdout)
    assert shown["response"]["selected"] == "a; rm -rf /tmp/x"


def test_a_missing_folder_and_a_missing_request_are_told_apart(checkpoint_dir: Path, tmp_path: Path) -> None:
    pause_three_questions("told-apart")
    unknown = run_cli("answer", "fb-0000000000000000", "--approve", directory=checkpoint_dir)
    assert unknown.returncode == 1
    assert f"no run in {checkpoint_dir.absolute()} has a request 'fb-0000000000000000'" in unknown.stderr
    assert "graflow-nb list --dir" in unknown.stderr
    nowhere = tmp_path / "no-such-folder"
    missing = run_cli("answer", "fb-0000000000000000", "--approve", directory=nowhere)
    assert missing.returncode == 1
    assert f"the checkpoint folder {nowhere} does not exist" in missing.stderr


def test_flags_that_do_not_fit_the_request_are_named_in_flags(checkpoint_dir: Path) -> None:
    feedback_id, _ = announced_commands("Where?", feedback_type="selection", options=["eu", "us"])
    twice = run_cli("answer", feedback_id, "--select", "eu", "--select", "us", directory=checkpoint_dir)
    assert twice.returncode == 2
    assert "is a selection request: it takes one option: give --select once (you gave 2)" in twice.stderr
    approving = run_cli("answer", feedback_id, "--approve", directory=checkpoint_dir)
    assert approving.returncode == 2
    assert "is a selection request: answer it with --select OPTION, once" in approving.stderr


def test_a_late_answer_names_who_answered_first_and_when(checkpoint_dir: Path) -> None:
    approve, _pick, _depth = pause_three_questions("late")
    first = run_cli("answer", approve, "--approve", "--by", "carol", directory=checkpoint_dir)
    assert first.returncode == 0, first.stderr
    late = run_cli("answer", approve, "--reject", "--by", "dan", directory=checkpoint_dir)
    assert late.returncode == 1
    assert "already answered by carol via cli at " in late.stderr
    assert ": approved" in late.stderr


def test_help_is_plain_text_and_the_version_is_known() -> None:
    from importlib.metadata import version

    import graflow_nb

    command = [sys.executable, "-m", "graflow_nb"]
    helped = subprocess.run([*command, "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0
    assert "``" not in helped.stdout
    assert "List the runs of workflows and their pending requests" in helped.stdout
    shown = subprocess.run([*command, "--version"], capture_output=True, text=True, check=False)
    assert shown.stdout.strip() == f"graflow-nb {version('graflow-nb')}"
    assert graflow_nb.__version__ == version("graflow-nb")


def test_cancel_ends_a_paused_run_for_good_and_clear_removes_finished_runs(checkpoint_dir: Path) -> None:
    approve, _pick, _depth = pause_three_questions("to-cancel")
    (run_id,) = [path.stem for path in checkpoint_dir.glob("to-cancel-*.json")]
    cancelled = run_cli("cancel", run_id, "--reason", "superseded", "--by", "erin", directory=checkpoint_dir)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == (
        f"{run_id}: cancelled by erin: superseded; 3 request(s) closed unanswered; nothing resumes it"
    )
    saved = json.loads((checkpoint_dir / f"{run_id}.json").read_text())
    assert (saved["status"], saved["reason"]) == ("cancelled", "cancelled by erin: superseded")
    assert {record["state"] for record in saved["requests"]} == {"closed"}
    logged = json.loads(run_cli("log", "--run", run_id, "--json", directory=checkpoint_dir).stdout.splitlines()[-1])
    assert (logged["event"], logged["reason"]) == ("closed", "cancelled by erin: superseded")
    late = run_cli("answer", approve, "--approve", directory=checkpoint_dir)
    assert late.returncode == 1
    assert f"its run {run_id} is cancelled (cancelled by erin: superseded)" in late.stderr
    again = run_cli("cancel", run_id, directory=checkpoint_dir)
    assert again.returncode == 1
    assert "is already cancelled; nothing to cancel" in again.stderr

    cleared = run_cli("clear", directory=checkpoint_dir)
    assert cleared.returncode == 0, cleared.stderr
    assert f"removed {run_id} (cancelled)" in cleared.stdout
    assert "no runs in" in run_cli("list", directory=checkpoint_dir).stdout
    assert run_id in run_cli("log", directory=checkpoint_dir).stdout  # what was decided stays


def test_the_folder_may_be_named_before_the_command_or_after_it(checkpoint_dir: Path, tmp_path: Path) -> None:
    (feedback_id, *_) = pause_three_questions("where")
    elsewhere = tmp_path / "elsewhere"  # the default folder (GRAFLOW_NB_CHECKPOINT_DIR) holds nothing
    for arguments in (["--dir", str(checkpoint_dir), "list"], ["list", "--dir", str(checkpoint_dir)]):
        listing = run_cli(*arguments, directory=elsewhere)
        assert listing.returncode == 0, listing.stderr
        assert feedback_id in listing.stdout, arguments
    named_twice = ["--dir", str(elsewhere), "show", feedback_id, "--dir", str(checkpoint_dir)]
    named_last = run_cli(*named_twice, directory=elsewhere)  # the one after the command counts
    assert named_last.returncode == 0, named_last.stderr
    assert json.loads(named_last.stdout)["request"]["feedback_id"] == feedback_id


def test_list_says_how_far_a_run_got_and_when_its_process_is_gone(checkpoint_dir: Path) -> None:
    pause_three_questions("gone")
    (path,) = checkpoint_dir.glob("gone-*.json")
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True, timeout=30
    )
    saved = json.loads(path.read_text())
    saved["status"] = "running"  # as a run killed mid-flight leaves it
    saved["owner_pid"] = int(ended.stdout)  # a process that has ended
    path.write_text(json.dumps(saved))

    listing = run_cli("list", directory=checkpoint_dir)

    assert listing.returncode == 0, listing.stderr
    assert f"running, but its process ({ended.stdout.strip()}) is gone: resume it to go on" in listing.stdout
    assert "0/3 tasks done" in listing.stdout


def test_a_batch_asking_backwards_is_listed_and_shown_in_the_order_of_its_tasks(
    checkpoint_dir: Path, tmp_path: Path
) -> None:
    pending = pause_a_batch_asking_backwards(tmp_path, checkpoint_dir)
    logged = run_cli("log", "--json", directory=checkpoint_dir).stdout.splitlines()
    asked = [json.loads(line)["task_id"] for line in logged if json.loads(line)["event"] == "requested"]
    assert asked == [f"row{index:04d}" for index in reversed(range(5))], "they did ask backwards"
    listing = run_cli("list", directory=checkpoint_dir).stdout
    listed = [line.split()[2].rstrip(":") for line in listing.splitlines() if line.startswith("  fb-")]
    assert listed == [f"row{index:04d}" for index in range(5)], listing
    assert [line.split()[0] for line in listing.splitlines() if line.startswith("  fb-")] == pending
    (run_id,) = [path.stem for path in checkpoint_dir.glob("backwards-*.json")]
    shown = json.loads(run_cli("show", run_id, directory=checkpoint_dir).stdout)
    assert shown["run"]["run_id"] == run_id
    assert shown["run"]["status"] == "paused"
    assert [request["request"]["task_id"] for request in shown["requests"]] == listed
    assert shown["tasks"] == {"done": [], "not done": listed}
    assert shown["requests"][0]["answer_with"], "each waiting request says how to answer it"


def test_several_requests_answered_at_once_and_a_bad_id_among_them_is_said(
    checkpoint_dir: Path, tmp_path: Path
) -> None:
    first, second, *rest = pause_a_batch_asking_backwards(tmp_path, checkpoint_dir)
    both = run_cli("answer", first, "fb-0000000000000000", second, "--approve", "--by", "ann", directory=checkpoint_dir)
    assert both.returncode == 1, "one of them was refused"
    assert "has a request 'fb-0000000000000000'" in both.stderr
    assert [line.split(":")[0] for line in both.stdout.splitlines()] == [first, second]
    assert all("approved (by ann)" in line for line in both.stdout.splitlines())
    (run_id,) = [path.stem for path in checkpoint_dir.glob("backwards-*.json")]
    rest_answered = run_cli("answer", "--run", run_id, "--reject", "--reason", "blurry", directory=checkpoint_dir)
    assert rest_answered.returncode == 0, rest_answered.stderr
    assert [line.split(":")[0] for line in rest_answered.stdout.splitlines()] == rest, "the others, in task order"
    nothing_left = run_cli("answer", "--run", run_id, "--approve", directory=checkpoint_dir)
    assert (nothing_left.returncode, nothing_left.stderr.strip()) == (
        1,
        f"graflow-nb: every request run {run_id} waits for is answered already",
    )
    unnamed = run_cli("answer", "--approve", directory=checkpoint_dir)
    assert unnamed.returncode == 2
    assert "name the requests to answer (feedback ids), or --run RUN_ID" in unnamed.stderr


def test_a_missing_run_is_named_and_leaves_no_folder_behind(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    for command in (["cancel", "nope"], ["show", "nope"]):
        result = run_cli(*command, directory=missing)
        assert result.returncode == 1, result.stderr
        assert f"the checkpoint folder {missing} does not exist" in result.stderr
    assert not missing.exists(), "asking about a run creates nothing"
    missing.mkdir()
    cancelled = run_cli("cancel", "nope", directory=missing)
    assert (
        cancelled.stderr.strip()
        == f"graflow-nb: no run 'nope' in {missing}; `graflow-nb list --dir {missing}` shows the runs there"
    )
    assert list(missing.iterdir()) == []


def test_an_empty_folder_names_the_notebook_folders_beside_it(tmp_path: Path) -> None:
    (tmp_path / "labels.graflow_nb").mkdir()
    listing = run_cli("list", directory=tmp_path / ".graflow_nb")
    assert listing.stdout.strip() == (
        f"no runs in {tmp_path / '.graflow_nb'}; a notebook's runs are kept beside it, in a folder of its own: "
        "--dir labels.graflow_nb"
    )
    answer = run_cli("answer", "fb-0123456789abcdef", "--approve", directory=tmp_path / ".graflow_nb")
    assert answer.stderr.strip().endswith("in a folder of its own: --dir labels.graflow_nb"), answer.stderr


def test_a_reader_that_goes_away_ends_the_output_quietly(tmp_path: Path) -> None:
    lines = [
        json.dumps({"at": "2026-12-01T10:00:00+00:00", "event": "timed_out", "feedback_id": f"fb-{n:016x}"})
        for n in range(3000)
    ]
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "decisions.jsonl").write_text("\n".join(lines) + "\n")
    env = {**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(tmp_path)}
    with subprocess.Popen([*CLI, "log"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as command:
        assert command.stdout is not None
        command.stdout.readline()
        command.stdout.close()  # as `| head -1` does
        _, errors = command.communicate(timeout=60)
    assert errors == b"", errors
    assert command.returncode == 0


def test_none_of_a_multi_selection_and_options_in_their_order_but_never_an_empty_text(checkpoint_dir: Path) -> None:
    _approve, pick, _depth = pause_three_questions("cli-choices")
    empty = run_cli("answer", pick, "--text", " ", directory=checkpoint_dir)
    assert (empty.returncode, "--text is empty (an unset variable?)" in empty.stderr) == (2, True), empty.stderr
    as_ordered = run_cli("answer", pick, "--select", "asia", "--select", "eu", directory=checkpoint_dir)
    assert as_ordered.returncode == 0, as_ordered.stderr
    assert json.loads(run_cli("show", pick, directory=checkpoint_dir).stdout)["response"]["selected"] == ["eu", "asia"]
    _approve, other_pick, _depth = pause_three_questions("cli-none")
    none = run_cli("answer", other_pick, "--none", directory=checkpoint_dir)
    assert none.returncode == 0, none.stderr
    assert json.loads(run_cli("show", other_pick, directory=checkpoint_dir).stdout)["response"]["selected"] == []
    wrong = run_cli("answer", _approve, "--none", directory=checkpoint_dir)
    assert "is an approval request: answer it with --approve or --reject" in wrong.stderr


def test_cancel_tells_an_answer_filed_meanwhile_from_a_request_closed_unanswered(checkpoint_dir: Path) -> None:
    approve, _pick, _depth = pause_three_questions("cancel-answered")
    assert run_cli("answer", approve, "--approve", directory=checkpoint_dir).returncode == 0
    (run_id,) = [path.stem for path in checkpoint_dir.glob("cancel-answered-*.json")]
    cancelled = run_cli("cancel", run_id, "--by", "erin", directory=checkpoint_dir)
    assert cancelled.stdout.strip() == (
        f"{run_id}: cancelled by erin; 2 request(s) closed unanswered, 1 answered but never used; nothing resumes it"
    )
    logged = [
        json.loads(line)
        for line in run_cli("log", "--id", approve, "--json", directory=checkpoint_dir).stdout.splitlines()
    ]
    events = [entry["event"] for entry in logged]  # (timed_out too, if its request was the first to time out)
    assert events[0] == "requested"
    assert events[-1] == "answered"
    assert "closed" not in events
