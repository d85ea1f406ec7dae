"""Shared fixtures: every test gets its own checkpoint directory and runs workflows for real."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from graflow_nb import RunOutcome, Workflow


@pytest.fixture(autouse=True)
def checkpoint_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh checkpoint directory, also set as the default through the environment."""
    directory = tmp_path / "checkpoints"
    monkeypatch.setenv("GRAFLOW_NB_CHECKPOINT_DIR", str(directory))
    return directory


@pytest.fixture
def background() -> Iterator[Any]:
    """Start ``wf.run(**options)`` in a thread; returns a function giving its Future."""
    pool = ThreadPoolExecutor(max_workers=4)

    def start(wf: Workflow, **options: Any) -> Future[RunOutcome]:
        return pool.submit(wf.run, **options)

    yield start
    pool.shutdown(wait=True, cancel_futures=True)
