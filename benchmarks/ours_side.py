"""graflow_nb's figures for the operations Graflow also has (engine per task, checkpoint write and load).

Prints one JSON object: {"operation": [samples...]}. Called by benchmarks/compare.py.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import CHAIN_LENGTH, FAN_WIDTH, REPEATS, channel_records

from graflow_nb import CheckpointStore, Workflow, task, workflow
from graflow_nb._engine.channel import Channel
from graflow_nb._engine.engine import Engine
from graflow_nb._engine.state import RunState, new_run_id


def engine_per_task() -> dict[str, list[float]]:
    """Microseconds per trivial task, checkpoints on (written to a real folder), as wf.run() does it."""

    def timed(wf: Workflow, tasks: int) -> float:
        started = time.perf_counter()
        outcome = wf.run(presenters=[])
        elapsed = time.perf_counter() - started
        assert outcome.status.value == "completed", outcome
        return elapsed / tasks * 1e6

    def chain(folder: str) -> float:
        with workflow("chain", checkpoint_dir=folder) as wf:
            previous = None
            for index in range(CHAIN_LENGTH):

                @task(id=f"t{index}")
                def step() -> None:
                    return None

                if previous is not None:
                    previous >> step
                previous = step
        return timed(wf, CHAIN_LENGTH)

    def fan(folder: str) -> float:
        with workflow("fan", checkpoint_dir=folder) as wf:

            @task(id="start")
            def start() -> None:
                return None

            @task(id="end")
            def end() -> None:
                return None

            for index in range(FAN_WIDTH):

                @task(id=f"p{index}")
                def branch() -> None:
                    return None

                start >> branch >> end
        return timed(wf, FAN_WIDTH + 2)

    with tempfile.TemporaryDirectory() as folder:
        return {
            "chain": [chain(f"{folder}/c{n}") for n in range(REPEATS)],
            "fan": [fan(f"{folder}/f{n}") for n in range(REPEATS)],
        }


def checkpoint(size_mb: int) -> dict[str, list[float]]:
    """Milliseconds to write (atomically, fsynced) and load a run document holding ``size_mb`` of records."""
    with tempfile.TemporaryDirectory() as folder:
        store = CheckpointStore(folder)
        with workflow("sized", checkpoint_dir=folder) as wf:

            @task
            def only() -> None:
                return None

        state = RunState(workflow="sized", run_id=new_run_id("sized"), channel=Channel(channel_records(size_mb)))
        engine = Engine(wf.graph, state, store)
        saves, loads = [], []
        for _ in range(REPEATS):
            started = time.perf_counter()
            path = store.write(engine.document())
            saves.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            store.load(path)
            loads.append((time.perf_counter() - started) * 1000)
        size = Path(path).stat().st_size
    return {f"save {size_mb} MB": saves, f"load {size_mb} MB": loads, f"size {size_mb} MB": [size / 1e6]}


def main() -> None:
    results: dict[str, list[float]] = {}
    results.update(engine_per_task())
    for size in (1, 10):
        results.update(checkpoint(size))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
