"""Helpers for tests that drive real subprocesses."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graflow_nb import CheckpointStore

CLI = [sys.executable, "-m", "graflow_nb"]


def run_cli(*args: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """Run the graflow-nb command in a subprocess against a checkpoint directory."""
    env = {**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(directory)}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env, check=False)


def append_to_journal(store: CheckpointStore, run_id: str, entry: bytes) -> None:
    """Append one line to a run's journal, synced, as a going run's writer does."""
    with store.open_journal(run_id) as journal:
        journal.append(entry, sync=True)


def read_until(descriptor: int, marker: bytes, timeout: float = 30.0) -> bytes:
    """Read from a file descriptor until ``marker`` appears; raise TimeoutError after ``timeout`` s."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{marker!r} did not appear within {timeout} s; got {seen!r}")
        ready, _, _ = select.select([descriptor], [], [], remaining)
        if ready:
            try:
                chunk = os.read(descriptor, 4096)
            except OSError:  # the other side closed (pty)
                chunk = b""
            if not chunk:
                raise TimeoutError(f"stream closed before {marker!r}; got {seen!r}")
            seen += chunk
    return seen


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for a file-system condition (nothing signals it), checking every 50 ms up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met within the time limit")
        time.sleep(0.05)


def saved_run(path: Path) -> dict[str, Any]:
    """A run's checkpoint as JSON data, with the changes its journal holds (what a resume reads; the
    ``.json`` file alone is behind while the run goes)."""
    return CheckpointStore(path.parent).load(path).model_dump(mode="json", by_alias=True)


def saved_runs(folder: Path, pattern: str = "*.json") -> list[dict[str, Any]]:
    """:func:`saved_run` of every checkpoint in ``folder`` matching ``pattern``."""
    return [saved_run(path) for path in sorted(folder.glob(pattern))]


def review_batch_cell(workflow_name: str, rows: int, before_asking: str = "", timeout: float | None = None) -> str:
    """A notebook cell (or script) starting a review batch: ``rows`` parallel async tasks ``row0000``...,
    each asking "Keep row N?" (an approval, with ``timeout``) and returning the verdict; the run handle
    is ``run``. ``before_asking``: a line each task runs first (``index`` is its row)."""
    return f"""
import asyncio
import contextlib
from graflow_nb import task, workflow

with workflow({workflow_name!r}) as wf:
    def review(index):
        @task(id=f"row{{index:04d}}", inject_context=True)
        async def check(ctx):
            {before_asking}
            return (await ctx.request_feedback_async("approval", f"Keep row {{index}}?", timeout={timeout})).approved
        return check

    rows = [review(index) for index in range({rows})]
    batch = rows[0]
    for row in rows[1:]:
        batch = batch | row

run = wf.start()
"""


#: A script pausing a batch of rows 0-4 in which the later the row, the sooner it asks (each request
#: times out after 0.5 s); it prints the outcome's pending ids as JSON.
BACKWARDS_BATCH = review_batch_cell(
    "backwards", 5, "for _ in range(10 - index): await asyncio.sleep(0)", timeout=0.5
) + (
    "\nimport json\nwith contextlib.suppress(Exception):\n    run.wait(timeout=60)\n"
    "print(json.dumps(run.outcome.pending_feedback_ids))\n"
)


def pause_a_batch_asking_backwards(folder: Path, checkpoint_dir: Path) -> list[str]:
    """Run :data:`BACKWARDS_BATCH` in ``folder`` until it pauses; return its pending ids as the outcome lists them."""
    (folder / "backwards.py").write_text(BACKWARDS_BATCH)
    env = {**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(checkpoint_dir)}
    done = subprocess.run(
        [sys.executable, "backwards.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return list(json.loads(done.stdout.splitlines()[-1]))
