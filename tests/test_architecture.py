"""The layers of ARCHITECTURE.md hold, and the check that keeps them would catch a break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, *, python_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(python_path)} if python_path else None
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", "pyproject.toml"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.timeout(150)
def test_every_layer_imports_only_those_below_it_and_no_module_imports_in_a_circle() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


@pytest.mark.timeout(150)
def test_the_check_fails_on_an_upward_import_a_circle_and_a_subpackage_with_no_layer(tmp_path: Path) -> None:
    copy = tmp_path / "graflow_nb"
    shutil.copytree(ROOT / "graflow_nb", copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    errors = copy / "_model" / "errors.py"
    # the models reach up to the engine (a lazy import counts as much as any) ...
    errors.write_text(errors.read_text() + "\n\ndef _upward() -> None:\n    from .._engine import engine  # noqa\n")
    # ... two modules of the notebook front end import each other ...
    watch = copy / "_frontends" / "notebook" / "panel_watch.py"
    watch.write_text(watch.read_text() + "\n\nfrom . import panel  # noqa\n")
    # ... and a new subpackage has no place in the layers
    (copy / "_extras").mkdir()
    (copy / "_extras" / "__init__.py").write_text('"""Somewhere new."""\n')

    result = lint_imports(tmp_path, python_path=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    report = " ".join(result.stdout.split())  # the report wraps its lines
    assert "graflow_nb._model is not allowed to import graflow_nb._engine" in report
    assert "No cycles are allowed in graflow_nb._frontends.notebook" in report
    assert "graflow_nb._extras" in report  # not listed in the layers contract
    assert "Contracts: 0 kept" not in report  # the others still hold: each break is told apart
