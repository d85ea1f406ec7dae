"""A plain `pip install graflow-nb` is lean (no kernel stack) and runs workflows in scripts and the CLI."""

from __future__ import annotations

import os
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

from tests.kernel_harness import Kernel

ROOT = Path(__file__).resolve().parent.parent

#: The target for a plain install's site-packages (pip and setuptools of the venv itself included).
LEAN_MB = 60

SCRIPT = textwrap.dedent(
    """
    from graflow_nb import TaskExecutionContext, WorkflowPaused, task, workflow

    with workflow("lean") as wf:
        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Go?", timeout=0.2).approved

    try:
        print("RESULT", wf.execute())
    except WorkflowPaused as paused:
        print("PAUSED", paused.outcome.pending_feedback_ids[0])
    """
)


def _size_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


@pytest.mark.timeout(900)
def test_a_plain_install_has_no_kernel_stack_and_runs_a_workflow(tmp_path: Path) -> None:
    environment = tmp_path / "lean-env"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    (site_packages,) = environment.glob("lib/python*/site-packages")
    installed = {path.name.split("-")[0].lower() for path in site_packages.glob("*.dist-info")}
    assert not installed & {"ipykernel", "ipython", "ipywidgets", "jedi", "pyzmq", "debugpy", "nbformat"}, installed
    size = _size_mb(site_packages)
    print(f"plain install: {size:.1f} MB of site-packages ({len(installed)} distributions)")
    assert size <= LEAN_MB, f"{size:.1f} MB: {sorted(installed)}"

    env = {key: value for key, value in os.environ.items() if not key.startswith(("GRAFLOW_NB_", "VIRTUAL_ENV"))}
    env["GRAFLOW_NB_CHECKPOINT_DIR"] = str(tmp_path / "checkpoints")
    script = tmp_path / "lean.py"
    script.write_text(SCRIPT)
    paused = subprocess.run([python, str(script)], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert paused.returncode == 0, paused.stderr
    feedback_id = paused.stdout.split("PAUSED ")[1].split()[0]
    answered = subprocess.run(
        [str(environment / "bin" / "graflow-nb"), "answer", feedback_id, "--approve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert answered.returncode == 0, answered.stderr
    resumed = subprocess.run([python, str(script)], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert "RESULT True" in resumed.stdout

    # A kernel without ipywidgets (ipykernel alone added): runs go on, shown as text, and one line
    # says why and what to install for live controls.
    kernel_only = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "ipykernel"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert kernel_only.returncode == 0, kernel_only.stderr[-3000:]
    kernel = Kernel(python, tmp_path, {"GRAFLOW_NB_CHECKPOINT_DIR": str(tmp_path / "kernel-checkpoints")})
    try:
        cell = kernel.submit(SCRIPT)
        assert kernel.reply(cell, timeout=60)["content"]["status"] == "ok"
        assert "PAUSED fb-" in kernel.printed(cell)
        assert "pip install 'graflow-nb[notebook]'" in kernel.text_of(cell)
        assert "graflow-nb answer fb-" in kernel.text_of(cell)  # the request, with the command that answers it
    finally:
        kernel.shutdown()
