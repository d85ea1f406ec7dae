"""The workloads both sides of benchmarks/compare.py measure: sizes, repeats and the channel's records."""

from __future__ import annotations

from typing import Any

CHAIN_LENGTH = 1000
FAN_WIDTH = 100
REPEATS = 9


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
