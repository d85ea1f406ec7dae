"""The public API: __all__ matches the exports, and importing graflow_nb stays light."""

from __future__ import annotations

import subprocess
import sys

import graflow_nb
import graflow_nb.testing


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(graflow_nb) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(graflow_nb, name)).__name__ == "module"}
    assert set(graflow_nb.__all__) == public - modules
    assert graflow_nb.__all__ == sorted(graflow_nb.__all__)
    assert set(graflow_nb.testing.__all__) <= set(vars(graflow_nb.testing))


def test_import_does_not_load_notebook_libraries_or_http() -> None:
    heavy = ("IPython", "ipywidgets", "ipykernel", "nbformat", "urllib.request")
    code = f"import sys, graflow_nb; loaded = [m for m in {heavy!r} if m in sys.modules]; print(','.join(loaded))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == ""


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("graflow_nb").joinpath("py.typed").is_file()
