"""Benchmark: resume call -> pending controls displayed, for a run with 100 completed tasks and a 1 MB channel.

In a real kernel: a run of 100 tasks (each adding ~10 kB of records to the channel) pauses on an
approval; the kernel then resumes it with `wf.start()` and the time until its control is on screen
is measured, 20 times. Target: <= 300 ms.

    .venv/bin/python benchmarks/resume_to_controls.py
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

ROUNDS = sized(20, 2)

SETUP = """
import asyncio, time
from graflow_nb import TaskExecutionContext, WorkflowPaused, task, workflow

def build(name):
    with workflow(name) as wf:
        steps = []
        for index in range(100):
            def step(ctx: TaskExecutionContext, index=index) -> int:
                records = [{"row": i, "value": i * 0.5, "label": f"item-{index}-{i}"} for i in range(200)]
                ctx.get_channel().set(f"records_{index}", records)
                return index
            steps.append(task(id=f"step{index}", inject_context=True)(step))

        @task(inject_context=True)
        def approve(ctx: TaskExecutionContext) -> bool:
            return bool(ctx.request_feedback(feedback_type="approval", prompt="Ship?", timeout=0.05).approved)

        flow = steps[0]
        for following in steps[1:]:
            flow = flow >> following
        flow >> approve
    return wf

async def resume_time(name):
    wf = build(name)
    try:
        wf.execute(resume=False)
    except WorkflowPaused as paused:
        size = paused.outcome.checkpoint_path.stat().st_size
    started = time.perf_counter()
    run = wf.start()
    while not run.pending:
        await asyncio.sleep(0.0005)
    elapsed = time.perf_counter() - started
    run.cancel("benchmark done")
    await asyncio.wait({run._task})
    return elapsed, size
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        kernel = Kernel(sys.executable, Path(work), {"GRAFLOW_NB_CHECKPOINT_DIR": str(Path(work) / "ck")})
        try:
            kernel.run(SETUP)
            text = kernel.run(
                "import json\n"
                f"results = [await resume_time(f'resume-{{i}}') for i in range({ROUNDS})]\n"
                "print(json.dumps(results))"
            )
        finally:
            kernel.shutdown()
    results = json.loads(text.strip().splitlines()[-1])
    times = sorted(elapsed * 1000 for elapsed, _ in results)
    size_mb = results[0][1] / 1e6
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"resume -> pending control displayed (100 completed tasks, checkpoint {size_mb:.1f} MB), {ROUNDS} runs")
    print(f"median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   target <= 300 ms")


if __name__ == "__main__":
    main()
