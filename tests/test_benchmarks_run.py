"""Each benchmark still runs to its figures, as a person runs it (a fresh process, its own command), on a
few samples (``GRAFLOW_NB_BENCHMARK_QUICK=1``); what the figures say is read in benchmarks/README.md,
not here. A benchmark that stopped working went unnoticed once (click_to_resume.py no longer finished;
the cause, a bug of the batch view, is now tested on its own)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
#: Graflow 0.2.0 with graflow_nb's graflow extra (./scripts/test creates it)
GRAFLOW_PYTHON = ROOT / ".venv-graflow" / "bin" / "python"
NUMBER = r"[\d,]+(\.\d+)?"

pytestmark = pytest.mark.timeout(600)


def run_benchmark(script: str, *arguments: str, python: Path | str = sys.executable, timeout: float = 540) -> str:
    """What the benchmark printed, in a quick run (failing the test, with its output, if it failed)."""
    done = subprocess.run(
        [str(python), str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "GRAFLOW_NB_BENCHMARK_QUICK": "1"},
        check=False,
    )
    assert done.returncode == 0, f"{script} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def require_graflow_python() -> None:
    """Fail (not skip) without Graflow's venv: ./scripts/test creates it, so its absence is a broken set-up."""
    if not GRAFLOW_PYTHON.exists():
        pytest.fail(f"{GRAFLOW_PYTHON} is missing: ./scripts/test creates it", pytrace=False)


#: each benchmark run here: its script, its arguments, and what its output shows
FIGURES: list[tuple[str, list[str], str]] = [
    ("answer_from_another_process.py", [], rf"3 answers\nmedian +{NUMBER} ms +p95 +{NUMBER} ms"),
    ("cli_answer.py", [], rf"command wall time +median +{NUMBER} ms +p95 +{NUMBER} ms"),
    ("click_to_resume.py", [], rf"ipykernel 6, wf\.execute\(\) \(blocking\).*median +{NUMBER}"),
    ("resume_to_controls.py", [], rf"2 runs\nmedian +{NUMBER} ms +p95 +{NUMBER} ms"),
    ("pending_in_kernel.py", [], rf"30 pending requests \(sync tasks\): trivial cell median {NUMBER} ms"),
    ("pending_in_kernel.py", ["--big"], rf"60 pending requests \(async tasks\).*= {NUMBER} kB each"),
    ("pending_in_kernel.py", ["--big", "--sync"], r"60 pending requests \(sync tasks\).*first page"),
    (
        "journal_writes.py",
        ["--before"],
        rf"that per task: {NUMBER}x, this machine's floor\n.*"
        rf"journal: {NUMBER} MB written = {NUMBER}x one document.*\n"
        rf"journal: a save after the first, median {NUMBER} us.*\nwhole: {NUMBER} MB written",
    ),
    ("journal_writes.py", ["--busy"], r"tasks computing 0\.05 s.*\njournal: .* us per task"),
]


@pytest.mark.parametrize(
    ("script", "arguments", "figures"),
    [pytest.param(*case, id=" ".join([case[0], *case[1]])) for case in FIGURES],
)
def test_the_benchmark_runs_to_its_figures(script: str, arguments: list[str], figures: str) -> None:
    printed = run_benchmark(script, *arguments)
    assert re.search(figures, printed, re.DOTALL), printed


@pytest.mark.parametrize(
    ("arguments", "figures"),
    [
        ([], rf"click Approve -> control approved +median +{NUMBER} ms +p95 +{NUMBER} ms"),
        (["--batch"], r"60 requests each.*all in: Next -> next page on screen +each \d+ ms"),
    ],
    ids=["clicks", "batch"],
)
def test_the_browser_benchmark_runs_to_its_figures(arguments: list[str], figures: str) -> None:
    from tests.browser import require_chromium

    require_chromium()
    printed = run_benchmark("in_the_browser.py", *arguments)
    assert re.search(figures, printed, re.DOTALL), printed


def test_the_benchmarks_on_graflow_workers_run_to_their_figures() -> None:
    require_graflow_python()
    printed = run_benchmark("on_workers.py", python=GRAFLOW_PYTHON)
    assert re.search(rf"2 Graflow workers +{NUMBER} +{NUMBER} +{NUMBER}", printed), printed


def test_the_side_by_side_comparison_with_graflow_runs_to_its_table() -> None:
    require_graflow_python()
    printed = run_benchmark("compare.py", "--graflow-python", str(GRAFLOW_PYTHON))
    assert re.search(rf"import, then run a one-task workflow +ms +{NUMBER}", printed), printed
    assert re.search(rf"answer -> waiting task resumed +ms +{NUMBER}", printed), printed
