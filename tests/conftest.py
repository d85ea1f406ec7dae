"""Shared fixtures: every test gets its own checkpoint directory and runs workflows for real."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import pytest

from graflow_nb import RunOutcome, Workflow
from graflow_nb._engine.engine import live_engines


class StartInBackground(Protocol):
    """Starts ``wf.run(**options)`` in a thread and returns its Future."""

    def __call__(self, wf: Workflow, **options: Any) -> Future[RunOutcome]: ...


# The tests run as from an activated virtualenv, where `graflow-nb` is on the PATH (the printed
# commands then say `graflow-nb`; tests/test_console.py checks the other case).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(autouse=True)
def checkpoint_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh checkpoint directory, also set as the default through the environment."""
    directory = tmp_path / "checkpoints"
    monkeypatch.setenv("GRAFLOW_NB_CHECKPOINT_DIR", str(directory))
    return directory


@pytest.fixture(autouse=True)
def no_notifications_leave(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guide's examples name hooks.slack.com: nothing is sent unless a test turns sending on
    (and those tests send to 127.0.0.1 only)."""
    monkeypatch.setenv("GRAFLOW_NB_NOTIFICATIONS", "off")


@pytest.fixture
def background() -> Iterator[StartInBackground]:
    """Run workflows in a thread while the test answers them."""
    pool = ThreadPoolExecutor(max_workers=4)

    def start(wf: Workflow, **options: Any) -> Future[RunOutcome]:
        return pool.submit(wf.run, **options)

    yield start
    for engine in list(live_engines):  # a failed test must not leave a run waiting forever
        engine.cancel_threadsafe("the test ended")
    pool.shutdown(wait=True, cancel_futures=True)
