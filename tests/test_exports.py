"""The public API: __all__ matches the exports, and importing graflow_nb stays light."""

from __future__ import annotations

import subprocess
import sys
import tempfile

import pytest

import graflow_nb
import graflow_nb.testing


def test_all_lists_exactly_the_public_names() -> None:
    helpers = {"annotations", "importlib", "TYPE_CHECKING", "Any"}
    public = {name for name in vars(graflow_nb) if not name.startswith("_")} - helpers
    modules = {name for name in public if type(getattr(graflow_nb, name)).__name__ == "module"}
    assert set(graflow_nb.__all__) == (public - modules) | set(graflow_nb._MODULE_OF)
    assert dir(graflow_nb) == sorted(graflow_nb.__all__)
    assert graflow_nb.__all__ == sorted(graflow_nb.__all__)
    assert set(graflow_nb.testing.__all__) <= set(vars(graflow_nb.testing))


def test_every_public_name_loads_and_an_unknown_one_is_an_attribute_error() -> None:
    code = "import graflow_nb; print(all(getattr(graflow_nb, name) is not None for name in graflow_nb.__all__))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "True"
    from graflow_nb import RunStatus, provide_feedback

    assert RunStatus.COMPLETED.value == "completed"
    assert callable(provide_feedback)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        graflow_nb.no_such_name  # noqa: B018 - the attribute access is the test


def test_defining_a_workflow_loads_neither_the_engine_nor_pydantic_nor_asyncio() -> None:
    """The guide's import line and a definition stay light; the first run loads the engine, and a run
    that asks nothing (and resumes nothing) never loads pydantic or the checkpoint's models."""
    code = """
import sys
from graflow_nb import TaskExecutionContext, task, workflow

with workflow("light") as wf:
    @task
    def first() -> int:
        return 1

    @task(inject_context=True)
    def second(ctx: TaskExecutionContext, first: int) -> int:
        return first + 1

    first >> second
engine = ("asyncio", "anyio", "graflow_nb._engine.engine")
models = ("pydantic", "graflow_nb._model.checkpoint", "graflow_nb._model.feedback", "graflow_nb._engine.broker")
print(",".join(m for m in engine + models if m in sys.modules))
print(wf.execute())
print(",".join(m for m in engine if m not in sys.modules))
print(",".join(m for m in models if m in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60, cwd=tempfile.mkdtemp()
    )
    assert result.stdout.splitlines() == ["", "2", "", ""]


def test_import_does_not_load_notebook_libraries_or_http() -> None:
    heavy = ("IPython", "ipywidgets", "ipykernel", "nbformat", "urllib.request")
    code = f"import sys, graflow_nb; loaded = [m for m in {heavy!r} if m in sys.modules]; print(','.join(loaded))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == ""


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("graflow_nb").joinpath("py.typed").is_file()
