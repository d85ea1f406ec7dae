"""Finding the notebook file, to keep checkpoints beside it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graflow_nb._io import notebook_path as lookup


@pytest.fixture(autouse=True)
def forget() -> Iterator[None]:
    lookup.set_notebook_path(None)
    yield
    lookup.set_notebook_path(None)  # what a test found must not leak into later tests


def test_explicit_environment_variable_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRAFLOW_NB_NOTEBOOK", str(tmp_path / "explicit.ipynb"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "session.ipynb"))
    assert lookup.notebook_path() == ((tmp_path / "explicit.ipynb").resolve(), "$GRAFLOW_NB_NOTEBOOK")
    assert lookup.notebook_checkpoint_dir() == tmp_path / "explicit.graflow_nb"


def test_session_name_absolute_or_relative_to_the_kernel_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GRAFLOW_NB_NOTEBOOK", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "review.ipynb").write_text("{}")
    assert lookup._from_session_name(str(tmp_path / "review.ipynb")) == tmp_path / "review.ipynb"
    assert lookup._from_session_name("projects/review.ipynb") == tmp_path / "review.ipynb"
    assert lookup._from_session_name("3f2a9c1e-session-id") is None


def test_outside_a_kernel_there_is_no_notebook_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFLOW_NB_NOTEBOOK", raising=False)
    assert lookup.notebook_checkpoint_dir() is None


def test_set_notebook_path(tmp_path: Path) -> None:
    lookup.set_notebook_path(tmp_path / "mine.ipynb")
    assert lookup.notebook_path() == ((tmp_path / "mine.ipynb").resolve(), "set_notebook_path()")
