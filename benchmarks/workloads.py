"""The workloads the benchmarks measure (both sides of compare.py): sizes, repeats and the channel's
records. With ``GRAFLOW_NB_BENCHMARK_QUICK=1`` every benchmark takes a few samples only: the test run
checks so that each still runs to its figures (which then mean nothing)."""

from __future__ import annotations

import os
from typing import Any

#: Whether this is a quick run (a few samples, to check that the benchmark runs).
QUICK = os.environ.get("GRAFLOW_NB_BENCHMARK_QUICK") == "1"


def sized(full: int, quick: int) -> int:
    """A benchmark's count: ``full``, or ``quick`` in a quick run."""
    return quick if QUICK else full


CHAIN_LENGTH = sized(1000, 20)
FAN_WIDTH = sized(100, 5)
REPEATS = sized(9, 2)


def channel_records(size_mb: int) -> dict[str, Any]:
    """About ``size_mb`` MB (as JSON) of small dicts, the shape of real records, under 10 channel keys."""
    per_key = size_mb * 1_000_000 // 10 // 100  # each record is ~100 bytes of JSON
    return {
        f"batch{key}": [
            {"id": index, "user": f"user{index % 977}", "score": index * 0.37, "ok": index % 3 == 0, "tags": ["a", "b"]}
            for index in range(per_key)
        ]
        for key in range(10)
    }
