"""Benchmark: 1,000 requests pending at once in a real kernel (their controls drawn, their tasks waiting).

Prints the time a trivial cell takes meanwhile (submit -> reply, as a frontend sees it; target
<= 100 ms) and the kernel memory they take.

    .venv/bin/python benchmarks/pending_in_kernel.py
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

PENDING = 1000
CELLS = 30

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
        @task(id=f"ask{{index:04d}}", inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback("approval", "Keep this row?").approved
before = rss_mb()
"""


def run_cell(client: object, code: str, timeout: float = 300) -> dict:
    """Execute a cell and return its execute_reply (what a frontend waits for); iopub is not read."""
    msg_id = client.execute(code, allow_stdin=False)  # type: ignore[attr-defined]
    while True:
        reply = client.get_shell_msg(timeout=timeout)  # type: ignore[attr-defined]
        if reply["parent_header"].get("msg_id") == msg_id:
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"cell failed: {code}: {reply['content']}")
            return reply


def printed(client: object, code: str) -> str:
    """Run ``code`` and return the text it stores in the kernel's ``_out`` (read back through user_expressions)."""
    msg_id = client.execute(code, allow_stdin=False, user_expressions={"out": "_out"})  # type: ignore[attr-defined]
    while True:
        reply = client.get_shell_msg(timeout=300)  # type: ignore[attr-defined]
        if reply["parent_header"].get("msg_id") == msg_id:
            return str(reply["content"]["user_expressions"]["out"]["data"]["text/plain"]).strip("'")


def measure_pending() -> dict[str, list[float]]:
    """Trivial-cell times (ms) while 1,000 requests wait, and the memory (MB) they take."""
    with tempfile.TemporaryDirectory() as work:
        manager, client = start_new_kernel(
            kernel_name="python3", cwd=work, env={**os.environ, "GRAFLOW_NB_CHECKPOINT_DIR": str(Path(work) / "ck")}
        )
        try:
            run_cell(client, SETUP.format(pending=PENDING))
            run_cell(client, "run = wf.start()")
            deadline = time.monotonic() + 300
            while printed(client, "_out = str(len(run.pending))") != str(PENDING):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{PENDING} controls were not drawn within 300 s")
                time.sleep(0.2)
            memory = float(printed(client, "_out = str(rss_mb() - before)"))
            cells = []
            for _ in range(CELLS):
                started = time.perf_counter()
                run_cell(client, "1 + 1")
                cells.append((time.perf_counter() - started) * 1000)
            run_cell(client, "run.cancel('benchmark over')")
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    return {"trivial cell": cells, "memory MB": [memory]}


def main() -> None:
    result = measure_pending()
    cells = sorted(result["trivial cell"])
    print(
        f"{PENDING} pending requests: trivial cell median {statistics.median(cells):.1f} ms, "
        f"max {cells[-1]:.1f} ms (n={len(cells)}, target <= 100 ms); memory {result['memory MB'][0]:.1f} MB"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
