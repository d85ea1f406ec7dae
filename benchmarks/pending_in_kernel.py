"""Benchmark: many requests pending at once in a real kernel (a page of controls drawn, their tasks waiting).

Prints the time a trivial cell takes meanwhile (submit -> reply, as a frontend sees it), the kernel
memory per pending request, and the time from the run's start to its first page of controls.

    .venv/bin/python benchmarks/pending_in_kernel.py                  # 1,000 sync tasks (one thread each)
    .venv/bin/python benchmarks/pending_in_kernel.py --big            # 10,000 async tasks (a review batch)
    .venv/bin/python benchmarks/pending_in_kernel.py --big --sync     # 10,000 sync tasks (most parked)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jupyter_client.manager import start_new_kernel  # noqa: E402

from benchmarks.workloads import sized  # noqa: E402

PENDING = sized(1000, 30)
CELLS = sized(30, 3)
#: ``--big``: a review batch's size (issue #21)
BIG_PENDING = sized(10_000, 60)

SETUP = """
import gc, json
from graflow_nb import TaskExecutionContext, task, workflow

def rss_mb():
    gc.collect()
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

with workflow("many") as wf:
    for index in range({pending}):
        @task(id=f"ask{{index:05d}}", inject_context=True)
{body}
before = rss_mb()
"""
SYNC_TASK = """        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback("approval", "Keep this row?").approved"""
ASYNC_TASK = """        async def ask(ctx: TaskExecutionContext) -> bool:
            return (await ctx.request_feedback_async("approval", "Keep this row?")).approved"""


def run_cell(client: object, code: str, timeout: float = 300) -> dict:
    """Execute a cell and return its execute_reply (what a frontend waits for); iopub is not read.

    Sent as JupyterLab sends a cell (stdin allowed): without it the kernel is taken for one nobody
    watches (papermill, nbclient), where every request times out at once and the run pauses.
    """
    msg_id = client.execute(code, allow_stdin=True)  # type: ignore[attr-defined]
    while True:
        reply = client.get_shell_msg(timeout=timeout)  # type: ignore[attr-defined]
        if reply["parent_header"].get("msg_id") == msg_id:
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"cell failed: {code}: {reply['content']}")
            return reply


def printed(client: object, code: str) -> str:
    """Run ``code`` and return the text it stores in the kernel's ``_out`` (read back through user_expressions)."""
    msg_id = client.execute(code, allow_stdin=True, user_expressions={"out": "_out"})  # type: ignore[attr-defined]
    while True:
        reply = client.get_shell_msg(timeout=300)  # type: ignore[attr-defined]
        if reply["parent_header"].get("msg_id") == msg_id:
            return str(reply["content"]["user_expressions"]["out"]["data"]["text/plain"]).strip("'")


def measure_pending(pending: int = PENDING, asynchronous: bool = False) -> dict[str, list[float]]:
    """Trivial-cell times (ms) while ``pending`` requests wait, the memory (MB) they take, and the time
    (ms) from the run's start to its first page of controls (drawn in the kernel)."""
    with tempfile.TemporaryDirectory() as work:
        manager, client = start_new_kernel(
            kernel_name="python3", cwd=work, env={**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(Path(work) / "ck")}
        )
        try:
            run_cell(client, SETUP.format(pending=pending, body=ASYNC_TASK if asynchronous else SYNC_TASK))
            run_cell(
                client,
                "import time\nfirst_page = []\nstarted = time.perf_counter()\nrun = wf.start()\n"
                "run.panel.requests.observe(lambda change: first_page or len(change['new']) < "
                f"{min(20, pending)} or first_page.append(time.perf_counter() - started), names='children')",
            )
            deadline = time.monotonic() + 600
            while printed(client, "_out = str(len(run.pending))") != str(pending):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{pending} requests were not pending within 600 s")
                time.sleep(0.2)
            memory = float(printed(client, "_out = str(rss_mb() - before)"))
            first_page = float(printed(client, "_out = str(first_page[0] * 1000)"))
            cells = []
            for _ in range(CELLS):
                started = time.perf_counter()
                run_cell(client, "1 + 1")
                cells.append((time.perf_counter() - started) * 1000)
            run_cell(client, "run.cancel('benchmark over')")
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    return {"trivial cell": cells, "memory MB": [memory], "first page ms": [first_page]}


def main() -> None:
    big = "--big" in sys.argv
    asynchronous = big and "--sync" not in sys.argv
    pending = BIG_PENDING if big else PENDING
    result = measure_pending(pending, asynchronous=asynchronous)
    cells = sorted(result["trivial cell"])
    memory = result["memory MB"][0]
    print(
        f"{pending:,} pending requests ({'async' if asynchronous else 'sync'} tasks): trivial cell median "
        f"{statistics.median(cells):.1f} ms, max {cells[-1]:.1f} ms (n={len(cells)}); memory {memory:.1f} MB "
        f"= {memory * 1000 / pending:.1f} kB each; first page of controls {result['first page ms'][0]:.0f} ms "
        "after the run started"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
