"""binder/: a fresh environment built from binder/requirements.txt runs the example notebooks."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_binder_requirements_install_and_run_a_notebook(tmp_path: Path) -> None:
    environment = tmp_path / "binder-env"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "binder/requirements.txt",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    notebook = tmp_path / "01_approval_gate.ipynb"
    notebook.write_bytes((ROOT / "notebooks" / "01_approval_gate.ipynb").read_bytes())
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("GRAFLOW_NB_", "JUPYTER", "VIRTUAL_ENV"))
    }
    env.update(GRAFLOW_NB_ANSWERS=str(ROOT / "notebooks" / "answers.json"), GRAFLOW_NB_NOTEBOOK=str(notebook))
    env["PATH"] = f"{environment / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    executed = subprocess.run(
        [
            str(environment / "bin" / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--inplace",
            str(notebook),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert executed.returncode == 0, executed.stderr[-3000:]
    outputs = [o for cell in json.loads(notebook.read_text())["cells"] for o in cell.get("outputs", [])]
    printed = "".join("".join(o.get("text", "")) for o in outputs)
    stand_ins = "".join("".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "deployed: deploy-1" in printed
    assert "-> approved (by replay via replay)" in stand_ins  # the panel's text stand-in, as the run ended
    assert (tmp_path / "01_approval_gate.graflow_nb").is_dir()
    lab = subprocess.run(
        [str(environment / "bin" / "jupyter"), "lab", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert lab.returncode == 0
