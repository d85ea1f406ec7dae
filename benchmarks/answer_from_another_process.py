"""An answer filed by another process (the CLI, ``provide_feedback`` elsewhere, the approvers' page) ->
the waiting task running again (issue #21, item 3: target median <= 20 ms).

One long-lived answering process (so its start-up is not counted) files each answer with
``provide_feedback`` when told the request's id, and says when it started filing; the task notes
when its ``request_feedback`` returned. Both read CLOCK_MONOTONIC (``time.perf_counter``), which is
one clock for every process on Linux.

    .venv/bin/python benchmarks/answer_from_another_process.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.workloads import sized
from graflow_nb import RunHandle, TaskExecutionContext, task, workflow
from graflow_nb.testing import RecordingPresenter

ANSWERS = sized(40, 3)

ANSWERER = """
import sys, time
from graflow_nb import provide_feedback
for line in sys.stdin:
    feedback_id = line.strip()
    started = time.perf_counter()
    provide_feedback(feedback_id, approved=True, checkpoint_dir=sys.argv[1])
    print(started, flush=True)
"""


def asking_run(folder: Path, answers: int) -> tuple[RunHandle, RecordingPresenter]:
    """A run that asks ``answers`` approvals in a row, its result when each call returned
    (``time.perf_counter``), and the presenter that sees its requests."""
    with workflow("from-elsewhere", checkpoint_dir=folder) as wf:

        @task(inject_context=True)
        def asker(ctx: TaskExecutionContext) -> list[float]:
            resumed = []
            for _ in range(answers):
                ctx.request_feedback(feedback_type="approval", prompt="go?")
                resumed.append(time.perf_counter())
            return resumed

    presenter = RecordingPresenter()
    return wf.start(presenters=[presenter]), presenter


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "checkpoints"
        run, presenter = asking_run(folder, ANSWERS)
        answerer = subprocess.Popen(
            [sys.executable, "-c", ANSWERER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert answerer.stdin is not None
        assert answerer.stdout is not None
        filed_at = []
        for _ in range(ANSWERS):
            request = presenter.next_request(30)
            time.sleep(0.03)  # the request is saved (the answerer reads the checkpoint): let it settle
            answerer.stdin.write(request.feedback_id + "\n")
            answerer.stdin.flush()
            filed_at.append(float(answerer.stdout.readline()))
        resumed = run.wait(60)
        answerer.stdin.close()
        answerer.wait(10)
    samples = [(after - before) * 1000 for before, after in zip(filed_at, resumed, strict=True)]
    quantiles = statistics.quantiles(samples, n=20)
    print(f"answer filed by another process -> waiting task running again, {ANSWERS} answers")
    print(f"median {statistics.median(samples):8.2f} ms   p95 {quantiles[18]:8.2f} ms   target: median <= 20 ms")


if __name__ == "__main__":
    main()
