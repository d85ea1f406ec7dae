"""The benchmarks are not part of the test run, but they must still load against the code as it is
(a module moved by a restructuring once broke one unnoticed)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
# graflow_side imports Graflow itself, which benchmarks/run installs in a throwaway environment.
OURS = sorted(path.stem for path in BENCHMARKS.glob("*.py") if path.stem not in ("__init__", "graflow_side"))


@pytest.mark.parametrize("module", OURS)
def test_the_benchmark_loads(module: str) -> None:
    loaded = importlib.import_module(f"benchmarks.{module}")
    assert loaded.__file__ is not None
    assert Path(loaded.__file__).parent == BENCHMARKS
