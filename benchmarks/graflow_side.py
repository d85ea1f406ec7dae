"""Graflow's figures for the operations graflow_nb also has; run with the Python of a venv holding Graflow.

Prints one JSON object: {"operation": [samples...]}. Called by benchmarks/compare.py.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import CHAIN_LENGTH, FAN_WIDTH, REPEATS, channel_records

logging.disable(logging.CRITICAL)


def engine_per_task() -> dict[str, list[float]]:
    """Microseconds per trivial task: a chain, and a fan-out run as Graflow's parallel group."""
    from graflow.core.decorators import task
    from graflow.core.task import parallel
    from graflow.core.workflow import workflow

    def chain() -> float:
        with workflow("chain") as wf:
            previous: Any = None
            for index in range(CHAIN_LENGTH):

                @task(id=f"t{index}")
                def step() -> None:
                    return None

                previous = step if previous is None else previous >> step
            started = time.perf_counter()
            wf.execute()
            return (time.perf_counter() - started) / CHAIN_LENGTH * 1e6

    def fan() -> float:
        with workflow("fan") as wf:

            @task(id="start")
            def start() -> None:
                return None

            @task(id="end")
            def end() -> None:
                return None

            branches = []
            for index in range(FAN_WIDTH):

                @task(id=f"p{index}")
                def branch() -> None:
                    return None

                branches.append(branch)
            start >> parallel(*branches) >> end
            started = time.perf_counter()
            wf.execute(start_node="start")
            return (time.perf_counter() - started) / (FAN_WIDTH + 2) * 1e6

    return {"chain": [chain() for _ in range(REPEATS)], "fan": [fan() for _ in range(REPEATS)]}


def checkpoint(size_mb: int) -> dict[str, list[float]]:
    """Milliseconds to save and load an execution context whose channel holds ``size_mb`` of records."""
    from graflow.core.context import ExecutionContext, create_execution_context

    context = create_execution_context()
    channel = context.get_channel()
    for key, value in channel_records(size_mb).items():
        channel.set(key, value)
    saves, loads = [], []
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "context.pkl")
        for _ in range(REPEATS):
            started = time.perf_counter()
            context.save(path)
            saves.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            ExecutionContext.load(path)
            loads.append((time.perf_counter() - started) * 1000)
        size = Path(path).stat().st_size
    return {f"save {size_mb} MB": saves, f"load {size_mb} MB": loads, f"size {size_mb} MB": [size / 1e6]}


def answer_to_resumed(rounds: int = 20) -> dict[str, list[float]]:
    """Milliseconds from FeedbackManager.provide_feedback to request_feedback returning."""
    from graflow.hitl.manager import FeedbackManager
    from graflow.hitl.types import FeedbackResponse, FeedbackType

    samples = []
    pause = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        manager = FeedbackManager(backend="filesystem", backend_config={"data_dir": folder})
        for index in range(rounds):
            returned: list[float] = []

            def ask(feedback_id: str, returned: list[float] = returned) -> None:
                manager.request_feedback(
                    task_id="gate",
                    session_id="bench",
                    feedback_type=FeedbackType.APPROVAL,
                    prompt="ok?",
                    timeout=30,
                    feedback_id=feedback_id,
                )
                returned.append(time.perf_counter())

            feedback_id = f"fb-{index}"
            asker = threading.Thread(target=ask, args=(feedback_id,))
            asker.start()
            while manager.get_request(feedback_id) is None:
                time.sleep(0.001)
            time.sleep(pause.uniform(0.05, 0.55))  # a person answers at any moment of the 0.5 s poll
            answered = time.perf_counter()
            manager.provide_feedback(
                feedback_id,
                FeedbackResponse(feedback_id=feedback_id, response_type=FeedbackType.APPROVAL, approved=True),
            )
            asker.join()
            samples.append((returned[0] - answered) * 1000)
    return {"answer": samples}


def main() -> None:
    results: dict[str, list[float]] = {}
    results.update(engine_per_task())
    for size in (1, 10):
        results.update(checkpoint(size))
    results.update(answer_to_resumed())
    print(json.dumps(results))


if __name__ == "__main__":
    main()
