"""graflow_nb next to Graflow, measured in one run: median, p95 and the ratio, with the target.

    benchmarks/run            # creates a throwaway venv with Graflow from PyPI, then runs this

Run directly with ``--graflow-python PATH`` to reuse a venv that has Graflow installed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.click_to_resume import measure_clicks  # noqa: E402
from benchmarks.fresh_processes import installed_like_environment  # noqa: E402
from benchmarks.pending_in_kernel import PENDING, measure_pending  # noqa: E402
from benchmarks.workloads import sized  # noqa: E402

IMPORT_RUNS = sized(15, 2)


def percentile_95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def side(python: str, script: str) -> dict[str, list[float]]:
    done = subprocess.run([python, str(HERE / script)], capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def fresh_interpreter_times(python: str, statements: str) -> list[float]:
    """Milliseconds for ``statements`` in a fresh interpreter (in a scratch folder), measured inside it;
    both sides from their bytecode caches (see installed_like_environment), written by an untimed run."""
    python = str(Path(python).absolute())  # the interpreter runs in a scratch folder (a venv link is kept)
    code = f"import time\nt = time.perf_counter()\n{statements}\nprint((time.perf_counter() - t) * 1000)"
    times = []
    for _ in range(IMPORT_RUNS + 1):
        with tempfile.TemporaryDirectory() as scratch:
            env = installed_like_environment(GRAFLOW_NB_CHECKPOINT_DIR=scratch)
            done = subprocess.run(
                [python, "-c", code], capture_output=True, text=True, check=True, cwd=scratch, env=env
            )
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return times[1:]


#: The guide's first lines and a one-task run, in each engine's API (Graflow's names in the template).
FIRST_RUN = """{imports}
with workflow("first") as wf:
    @task
    def only():
        return 1
    wf.execute()"""
OUR_IMPORT = "from graflow_nb import TaskExecutionContext, task, workflow"
GRAFLOW_IMPORT = "from graflow.core.decorators import task; from graflow.core.workflow import workflow"


ROWS = [
    # key, label, unit, target ratio (ours / Graflow) or None
    ("answer", "answer -> waiting task resumed", "ms", 1 / 60),
    ("chain", "engine, chain of 1,000 tasks, per task", "us", 0.5),
    ("fan", "engine, fan-out of 100 tasks, per task", "us", 0.5),
    ("save 1 MB", "checkpoint write, 1 MB channel", "ms", 1.0),
    ("load 1 MB", "checkpoint load, 1 MB channel", "ms", 1.0),
    ("size 1 MB", "checkpoint file size, 1 MB channel", "MB", None),
    ("save 10 MB", "checkpoint write, 10 MB channel", "ms", 1.0),
    ("load 10 MB", "checkpoint load, 10 MB channel", "ms", 1.0),
    ("size 10 MB", "checkpoint file size, 10 MB channel", "MB", None),
    ("import", "import (the guide's import line)", "ms", None),
    ("first run", "import, then run a one-task workflow", "ms", None),
]


def cell(samples: list[float] | None) -> str:
    if not samples:
        return f"{'-':>21}"
    if len(samples) == 1:
        return f"{samples[0]:>9.2f}{'':12}"
    return f"{statistics.median(samples):>9.2f} (p95 {percentile_95(samples):>7.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graflow-python", required=True, help="a Python with graflow installed")
    args = parser.parse_args()
    print("measuring graflow_nb ...", file=sys.stderr)
    ours = side(sys.executable, "ours_side.py")
    ours["answer"] = measure_clicks()
    ours["import"] = fresh_interpreter_times(sys.executable, OUR_IMPORT)
    ours["first run"] = fresh_interpreter_times(sys.executable, FIRST_RUN.format(imports=OUR_IMPORT))
    print("measuring Graflow ...", file=sys.stderr)
    theirs = side(args.graflow_python, "graflow_side.py")
    theirs["import"] = fresh_interpreter_times(args.graflow_python, GRAFLOW_IMPORT)
    theirs["first run"] = fresh_interpreter_times(args.graflow_python, FIRST_RUN.format(imports=GRAFLOW_IMPORT))
    print("measuring 1,000 pending requests in a kernel ...", file=sys.stderr)
    pending = measure_pending()

    print(f"\n{'operation':<42} {'unit':<4} {'graflow_nb median':>21} {'Graflow median':>21} {'ratio':>7}  target")
    for key, label, unit, target in ROWS:
        mine, other = ours.get(key), theirs.get(key)
        ratio = statistics.median(mine) / statistics.median(other) if mine and other else None
        ratio_text = f"{ratio:7.3f}" if ratio is not None else f"{'-':>7}"
        verdict = ""
        if target is not None and ratio is not None:
            verdict = f"<= {target:.3g}x " + ("met" if ratio <= target else "MISSED")
        if key == "answer":
            verdict += " and <= 5 ms " + ("met" if statistics.median(mine or [99]) <= 5 else "MISSED")
        if key == "import":
            verdict = "<= 100 ms " + ("met" if statistics.median(mine or [999]) <= 100 else "MISSED")
        print(f"{label:<42} {unit:<4} {cell(mine)} {cell(other)} {ratio_text}  {verdict}")
    cell_ms = pending["trivial cell"]
    print(
        f"\n1,000 pending requests in a real kernel: a trivial cell takes {statistics.median(cell_ms):.1f} ms median "
        f"(p95 {percentile_95(cell_ms):.1f} ms; target <= 100 ms "
        f"{'met' if statistics.median(cell_ms) <= 100 else 'MISSED'}); they take "
        f"{pending['memory MB'][0]:.1f} MB of kernel memory ({pending['memory MB'][0] * 1000 / PENDING:.1f} kB each)."
    )


if __name__ == "__main__":
    main()
