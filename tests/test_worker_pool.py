"""The shared pool's batch collector under thread switches every microsecond: it never misses a wake-up."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Iterator

import pytest

from graflow_nb._util.worker_pool import PooledCalls

ROUNDS = 4000
WIDTH = 64


def work(index: int) -> int:
    """A call of varied length, so that calls finish while the loop is taking a batch."""
    sum(range((index * 37) % 500))
    return index * 2


@pytest.fixture
def switch_often() -> Iterator[None]:
    """Preempt threads as often as the interpreter allows, so that a race shows within a few rounds."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.timeout(120)
def test_every_finished_call_is_collected_in_bounded_time(switch_often: None) -> None:
    async def rounds() -> None:
        pooled = PooledCalls(asyncio.get_running_loop())
        for round_index in range(ROUNDS):
            for index in range(WIDTH):
                pooled.submit(f"{round_index}.{index}", functools.partial(work, index))
            collected = 0
            while pooled.running:
                # a lost wake-up leaves this waiting for ever: bounded, it fails the test instead
                batch = await asyncio.wait_for(pooled.next_finished(), timeout=5)
                collected += len(batch)
                assert all(future.result() == int(key.split(".")[1]) * 2 for key, future in batch)
            assert collected == WIDTH

    asyncio.run(rounds())


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this system")
def test_a_process_forked_after_the_pool_ran_gets_its_work_done() -> None:
    """A pool made before a fork has no threads in the child yet counts its idle ones: without a pool of
    the child's own, the work handed to it would wait forever (a resume in a forked process hung)."""
    import multiprocessing

    from graflow_nb._util.worker_pool import run_in_shared_pool

    assert asyncio.run(run_in_shared_pool(lambda: 1)) == 1  # the parent's pool, its thread now idle
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_run_in_pool_and_say, args=(results,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert results.get(timeout=5) == 2


def _run_in_pool_and_say(results: object) -> None:
    from graflow_nb._util.worker_pool import run_in_shared_pool

    results.put(asyncio.run(run_in_shared_pool(lambda: 2)))  # type: ignore[attr-defined]
