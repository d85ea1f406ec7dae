"""Answers given in one process to tasks running on Graflow's workers, against the same work on the
embedded engine (issue #19): answer -> asking task resumed latency, and requests answered per second.

Starts its own redis-server (127.0.0.1, a free port, a temporary folder) and two Graflow workers, and
prints a table. Run with the venv that has Graflow and graflow_nb (./scripts/test creates it):

    .venv-graflow/bin/python benchmarks/on_workers.py
"""

from __future__ import annotations

import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.workloads import sized
from graflow_nb import FeedbackRequest, RunView, TaskExecutionContext, task, workflow

SEQUENTIAL_ASKS = sized(60, 3)  # one task asks this many times in a row: the latency samples
FAN_OUT = sized(100, 5)  # tasks asking once each, all at once: requests per second
WORKERS = 2


class AnswerAtOnce:
    """A presenter that answers every request the moment it is shown (from a thread of its own, as a
    widget's click arrives), noting when."""

    def __init__(self) -> None:
        self.answered_at: dict[str, float] = {}
        self._todo: queue.Queue[tuple[RunView, FeedbackRequest] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._answer, daemon=True)
        self._thread.start()

    def _answer(self) -> None:
        while (item := self._todo.get()) is not None:
            view, request = item
            self.answered_at[request.metadata["mark"]] = time.perf_counter()
            view.answer(request.feedback_id, via="widget", approved=True)

    def task_changed(self, run: RunView, task_id: str, state: Any) -> None:
        pass

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        self._todo.put((run, request))

    def settle(self, request: FeedbackRequest, response: Any) -> None:
        pass

    def run_ended(self, run: RunView) -> None:
        self._todo.put(None)


def latency(folder: Path, redis: str | None) -> list[float]:
    """Milliseconds from an answer given to the asking task running again, one task asking in a row."""
    with workflow("latency", checkpoint_dir=folder) as wf:

        @task(inject_context=True)
        def asker(ctx: TaskExecutionContext) -> list[float]:
            resumed = []
            for index in range(SEQUENTIAL_ASKS):
                ctx.request_feedback(feedback_type="approval", prompt="go?", metadata={"mark": str(index)})
                resumed.append(time.perf_counter())  # CLOCK_MONOTONIC: one clock for every process here
            return resumed

    presenter = AnswerAtOnce()
    resumed = wf.run(presenters=[presenter], redis=redis).raise_for_status()
    return [(resumed[index] - presenter.answered_at[str(index)]) * 1000 for index in range(SEQUENTIAL_ASKS)]


def throughput(folder: Path, redis: str | None) -> float:
    """Requests answered per second: FAN_OUT tasks asking at once, each answered as it is shown."""
    with workflow("throughput", checkpoint_dir=folder) as wf:
        group = None
        for index in range(FAN_OUT):

            @task(id=f"ask{index:03d}", inject_context=True)
            def ask(ctx: TaskExecutionContext, index: int = index) -> bool:
                response = ctx.request_feedback(feedback_type="approval", prompt="go?", metadata={"mark": str(index)})
                return response.approved is True

            group = ask if group is None else group | ask

    presenter = AnswerAtOnce()
    started = time.perf_counter()
    results = wf.run(presenters=[presenter], redis=redis).raise_for_status()
    elapsed = time.perf_counter() - started
    assert all(results.values()), results
    return FAN_OUT / elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        server, workers, url = start_redis_and_workers(folder)
        try:
            rows = []
            for name, redis in (("embedded engine", None), (f"{WORKERS} Graflow workers", url)):
                latency(folder / "warm", redis)  # first runs load code on both sides
                samples = latency(folder / "latency", redis)
                quantiles = statistics.quantiles(samples, n=20)
                rate = statistics.median(throughput(folder / "throughput", redis) for _ in range(3))
                rows.append((name, statistics.median(samples), quantiles[18], rate))
        finally:
            for process in [*workers, server]:
                process.terminate()
                process.wait(10)
    print(f"{'':24}{'answer -> task resumed':>34}{'requests answered':>22}")
    print(f"{'':24}{'median ms':>17}{'p95 ms':>17}{'per second':>22}")
    for name, median, p95, rate in rows:
        print(f"{name:24}{median:17.2f}{p95:17.2f}{rate:22.1f}")
    print(f"(latency: {SEQUENTIAL_ASKS} answers in a row to one task; rate: {FAN_OUT} tasks asking at once,", end=" ")
    print("median of 3)")


def start_redis_and_workers(folder: Path) -> tuple[subprocess.Popen[bytes], list[subprocess.Popen[bytes]], str]:
    server_path = shutil.which("redis-server")
    if server_path is None:
        sys.exit("needs Debian's redis-server (./scripts/test installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [server_path, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", ""]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    worker = [sys.executable, "-m", "graflow.worker.main", "--redis-host", "127.0.0.1", "--redis-port", str(port)]
    worker += ["--max-concurrent-tasks", str(FAN_OUT), "--poll-interval", "0.01", "--log-level", "WARNING"]
    time.sleep(0.3)  # redis-server binds within a few ms; the workers retry their first connection anyway
    workers = [subprocess.Popen(worker, stdout=subprocess.DEVNULL) for _ in range(WORKERS)]
    return server, workers, f"redis://127.0.0.1:{port}/0"


if __name__ == "__main__":
    main()
