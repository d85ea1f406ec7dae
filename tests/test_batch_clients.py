"""Notebooks run by papermill and nbconvert, with nobody to click: what waits says so, and how to answer it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from graflow_nb.testing import WebhookReceiver
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(300)

BIN = Path(sys.executable).parent
DEPLOY = """\
from graflow_nb import TaskExecutionContext, task, workflow

with workflow("deploy") as wf:
    @task(inject_context=True)
    def deploy(ctx: TaskExecutionContext) -> str:
        response = ctx.request_feedback(
            feedback_type="approval", prompt="Deploy **2.4.1** to production?", notification_config=NOTIFY
        )
        return "deployed" if response.approved else "held back"
"""


def write_deploy_notebook(folder: Path, notify_url: str | None = None) -> Path:
    notebook = nbformat.v4.new_notebook()
    notify = {"type": "webhook", "url": notify_url} if notify_url else None
    parameters = nbformat.v4.new_code_cell("answers_file = None")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        parameters,
        nbformat.v4.new_code_cell(f"NOTIFY = {notify!r}\nimport graflow_nb\ngraflow_nb.use_answers(answers_file)"),
        nbformat.v4.new_code_cell(DEPLOY),
        nbformat.v4.new_code_cell('print("RESULT", wf.execute())'),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "deploy.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def client_env() -> dict[str, str]:
    """The environment a person's shell has: no checkpoint folder chosen, no answers file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRAFLOW_NB_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(command: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to its end (three minutes at most), as a person runs it in a terminal."""
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)


def paste(line: str, env: dict[str, str]) -> None:
    """Paste a printed command into a shell; it must succeed."""
    pasted = run(["bash", "-c", line], env)
    assert pasted.returncode == 0, pasted.stderr


def printed_commands(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.strip().startswith("graflow-nb answer ")]


def result_printed(output: Path) -> str:
    """The RESULT line the last cell printed in the executed notebook."""
    cells = json.loads(output.read_text())["cells"]
    texts = "".join("".join(o.get("text", "")) for o in cells[-1]["outputs"] if o["output_type"] == "stream")
    return next((line for line in texts.splitlines() if line.startswith("RESULT")), texts)


def test_nbconvert_with_nobody_told_stops_at_once_saying_how_to_answer(
    tmp_path: Path, client_env: dict[str, str]
) -> None:
    notebook = write_deploy_notebook(tmp_path)
    command = [str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", notebook.name, "--output", "done"]
    first = run(command, client_env, cwd=tmp_path)
    assert first.returncode != 0  # the cell raised WorkflowPaused: nobody could answer
    assert "nobody can click in this notebook's run" in first.stderr
    assert "Deploy 2.4.1 to production?" in first.stderr  # the prompt as plain text
    assert "WorkflowPaused" in first.stderr
    approve = next(line for line in printed_commands(first.stderr) if "--approve" in line)
    assert f"--dir {tmp_path / 'deploy.graflow_nb'}" in approve  # beside the notebook, absolute
    assert not (tmp_path / ".graflow_nb").exists()

    paste(approve, client_env)
    again = run(command, client_env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert result_printed(tmp_path / "done.ipynb") == "RESULT deployed"


def run_in_background(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    """Start a client with its stderr going to a file (read while it runs; a pipe could fill up)."""
    log = cwd / "client-stderr.log"
    with log.open("wb") as stderr:
        started = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    return started, log


def stderr_once(log: Path, marker: str, timeout: float = 120) -> str:
    """The client's stderr once ``marker`` is in it."""
    wait_until(lambda: marker in log.read_text(errors="replace"), timeout=timeout)
    return log.read_text(errors="replace")


def test_papermill_waits_when_told_to_and_an_answer_from_a_terminal_ends_the_wait(
    tmp_path: Path, client_env: dict[str, str]
) -> None:
    notebook = write_deploy_notebook(tmp_path)
    env = {**client_env, "GRAFLOW_NB_UNATTENDED": "wait"}
    client, log = run_in_background([str(BIN / "papermill"), notebook.name, "out.ipynb"], tmp_path, env)
    try:
        seen = stderr_once(log, "waiting for an answer (GRAFLOW_NB_UNATTENDED=wait)")
        reject = next(line for line in printed_commands(seen) if "--reject" in line)
        paste(reject.replace("'why not'", "'not on a Friday'"), client_env)
        assert client.wait(timeout=120) == 0
    finally:
        client.kill()
        client.wait()
    assert result_printed(tmp_path / "out.ipynb") == "RESULT held back"
    notice = "nobody can click in this notebook's run"
    assert log.read_text().count(notice) == 1  # once on the terminal
    cells = json.loads((tmp_path / "out.ipynb").read_text())["cells"]
    told = "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []) if o.get("name") == "stderr")
    assert told.count(notice) == 1  # and once in the cell


def test_papermill_waits_when_people_were_notified(tmp_path: Path, client_env: dict[str, str]) -> None:
    with WebhookReceiver() as receiver:
        notebook = write_deploy_notebook(tmp_path, notify_url=f"{receiver.url}/hook")
        client, log = run_in_background([str(BIN / "papermill"), notebook.name, "out.ipynb"], tmp_path, client_env)
        try:
            posted = receiver.wait_for(1, timeout=120)[0].body
            assert posted["event"] == "request_created"
            seen = stderr_once(log, "people were told by webhook")
            assert posted["feedback_id"] in seen
            approve = next(c for c in posted["answer_commands"] if "--approve" in c)
            paste(approve, client_env)
            assert client.wait(timeout=120) == 0
        finally:
            client.kill()
            client.wait()
    assert result_printed(tmp_path / "out.ipynb") == "RESULT deployed"


NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_papermill_runs_each_example_with_its_answers_file_parameter(
    notebook: Path, tmp_path: Path, client_env: dict[str, str]
) -> None:
    shutil.copy(notebook, tmp_path)
    answers = notebook.parent / "answers.json"
    command = [str(BIN / "papermill"), notebook.name, "out.ipynb", "-p", "answers_file", str(answers)]
    done = run([*command, "--execution-timeout", "120"], client_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / f"{notebook.stem}.graflow_nb").is_dir()  # beside the notebook, not shared
    assert not (tmp_path / ".graflow_nb").exists()
    assert "could not tell which notebook" not in done.stderr


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_papermill_without_answers_never_hangs(notebook: Path, tmp_path: Path, client_env: dict[str, str]) -> None:
    """Every example either completes (its requests time out and are answered in the notebook itself, or
    someone was notified) or stops at once saying what waits and how to answer it."""
    shutil.copy(notebook, tmp_path)
    command = [str(BIN / "papermill"), notebook.name, "out.ipynb", "--execution-timeout", "120"]
    done = run(command, client_env, cwd=tmp_path)
    if done.returncode != 0:
        assert "nobody can click in this notebook's run" in done.stderr
        assert "WorkflowPaused" in done.stderr
        assert printed_commands(done.stderr), done.stderr[-3000:]
    assert (tmp_path / f"{notebook.stem}.graflow_nb").is_dir()


def stored_stdout(notebook: Path) -> list[str]:
    """The lines the notebook's cells printed when its outputs were stored, ids and times left out."""
    lines = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            if output.get("name") == "stdout":
                lines += [line for line in "".join(output["text"]).splitlines() if line.strip()]
    return [line for line in lines if not re.search(r"fb-[0-9a-f]{16}|\d{8}T\d{6}|graflow-nb answer|^\d{4}-", line)]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_the_script_jupytext_makes_of_each_example_prints_what_the_notebook_did(
    notebook: Path, tmp_path: Path, client_env: dict[str, str]
) -> None:
    import jupytext

    script = tmp_path / f"{notebook.stem}.py"
    jupytext.write(jupytext.read(notebook), script, fmt="py:percent")
    env = {**client_env, "GRAFLOW_NB_ANSWERS": str(notebook.parent / "answers.json"), "MPLBACKEND": "Agg"}
    done = run([sys.executable, script.name], env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout.splitlines()
    # a script's checkpoints go to ./.graflow_nb, a notebook's beside it: the one line that may differ
    missing = [line for line in stored_stdout(notebook) if line not in printed and "checkpoint folder" not in line]
    assert not missing, f"printed by the notebook, not by its script: {missing}\n{done.stdout}"


def test_a_missing_answer_under_papermill_offers_no_recording(tmp_path: Path, client_env: dict[str, str]) -> None:
    """Recording needs someone to answer; nobody can here, so the error only says which entry to add."""
    notebook = write_deploy_notebook(tmp_path)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"version": 1, "answers": [{"task": "other", "call": 0, "let_time_out": True}]}))
    done = run(
        [str(BIN / "papermill"), notebook.name, "out.ipynb", "-p", "answers_file", answers.name], client_env, tmp_path
    )
    assert done.returncode != 0
    assert f"{answers} has no answer for approval request 0 of task 'deploy' in workflow 'deploy'" in done.stderr
    assert '{"workflow": "deploy", "task": "deploy", "call": 0, "answer": {"approved": true}}' in done.stderr
    assert "GRAFLOW_NB_ANSWERS_MODE=record" not in done.stderr


def test_nbconvert_with_the_answers_file_runs_an_example_through(tmp_path: Path, client_env: dict[str, str]) -> None:
    shutil.copy(NOTEBOOKS[0], tmp_path)
    env = {**client_env, "GRAFLOW_NB_ANSWERS": str(NOTEBOOKS[0].parent / "answers.json")}
    command = [
        str(BIN / "jupyter"),
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        NOTEBOOKS[0].name,
        "--output",
        "done",
    ]
    done = run(command, env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads((tmp_path / "done.ipynb").read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for cell in printed for o in cell.get("outputs", []))
    assert "deployed: deploy-1 | deployments made: 1" in text
    assert (tmp_path / f"{NOTEBOOKS[0].stem}.graflow_nb").is_dir()
