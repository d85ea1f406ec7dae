"""Benchmark: a widget click reaching the kernel -> the waiting task running again.

Runs a real kernel (ipykernel 7 from .venv, ipykernel 6 from .venv-ipykernel6 when present), sends
100 clicks exactly as a browser does, and prints median and p95, for the non-blocking start
(`wf.start()`) and the blocking call (`wf.execute()`). Target: median <= 5 ms.

    .venv/bin/python benchmarks/click_to_resume.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.workloads import sized  # noqa: E402
from tests.kernel_harness import Kernel  # noqa: E402

CLICKS = sized(100, 3)

SETUP = f"""
import time, ipywidgets
from graflow_nb import TaskExecutionContext, task, workflow

arrived, resumed = [], []
_original = ipywidgets.Button._handle_button_msg
def _timed(self, *args, **kwargs):
    arrived.append(time.perf_counter())
    return _original(self, *args, **kwargs)
ipywidgets.Button._handle_button_msg = _timed

def clicks_workflow(name):
    with workflow(name) as wf:
        @task(inject_context=True)
        def ask_many(ctx: TaskExecutionContext) -> int:
            for _ in range({CLICKS}):
                ctx.request_feedback(feedback_type="approval", prompt="again?")
                resumed.append(time.perf_counter())
            return len(resumed)
    return wf
"""


def click_through(kernel: Kernel, start_code: str) -> list[float]:
    kernel.run("arrived.clear(); resumed.clear()")
    mark = kernel.mark()
    cell = kernel.submit(start_code)
    for _ in range(CLICKS):
        button = kernel.find_widget("ButtonModel", after=mark, description="Approve")
        mark = kernel.mark()
        kernel.click(button)
    kernel.reply(cell, timeout=120)
    text = kernel.run(
        "import asyncio, json\n"
        f"while len(resumed) < {CLICKS}: await asyncio.sleep(0.01)\n"
        "print(json.dumps([r - a for a, r in zip(arrived, resumed)]))"
    )
    return [value * 1000 for value in json.loads(text)]


def report(label: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"{label:<38} median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   (n={len(ordered)})")


def measure_clicks() -> list[float]:
    """Click -> resumed samples (ms) in ipykernel 7 with ``wf.start()`` (the slower of the two modes)."""
    with tempfile.TemporaryDirectory() as work:
        kernel = Kernel(sys.executable, Path(work), {"GRAFLOW_NB_CHECKPOINT_DIR": str(Path(work) / "ck")})
        try:
            kernel.run(SETUP)
            return click_through(kernel, "run = clicks_workflow('bench-start').start()")
        finally:
            kernel.shutdown()


def main() -> None:
    pythons = {"ipykernel 7": Path(sys.executable), "ipykernel 6": ROOT / ".venv-ipykernel6" / "bin" / "python"}
    print(f"click reaching the kernel -> waiting task running again, {CLICKS} clicks each")
    for name, python in pythons.items():
        if not python.exists():
            print(f"{name}: {python} missing (./scripts/test creates it)")
            continue
        with tempfile.TemporaryDirectory() as work:
            kernel = Kernel(str(python), Path(work), {"GRAFLOW_NB_CHECKPOINT_DIR": str(Path(work) / "ck")})
            try:
                kernel.run(SETUP)
                started = click_through(kernel, "run = clicks_workflow('bench-start').start()")
                report(f"{name}, wf.start()", started)
                blocking = click_through(kernel, "clicks_workflow('bench-exec').execute()")
                report(f"{name}, wf.execute() (blocking)", blocking)
            finally:
                kernel.shutdown()


if __name__ == "__main__":
    main()
