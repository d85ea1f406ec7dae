"""One run, one runner: racing resumes across processes and threads, and workflows run from a thread pool."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from graflow_nb import (
    NoResumableRunError,
    RunInUseError,
    RunStatus,
    TaskExecutionContext,
    provide_feedback,
    task,
    workflow,
)

TRIALS = 8


def define(name: str, side_effects: Path):  # type: ignore[no-untyped-def]
    with workflow(name) as wf:

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool:
            return ctx.request_feedback(feedback_type="approval", prompt="Deploy?", timeout=0.05).approved

        @task
        def deploy(ask: bool) -> str:
            with side_effects.open("a") as log:  # the side effect that must happen once
                log.write(f"{os.getpid()}\n")
            return "deployed"

        ask >> deploy
    return wf


def resume_when_released(name: str, side_effects: str, start: multiprocessing.synchronize.Barrier, results) -> None:  # type: ignore[no-untyped-def]
    wf = define(name, Path(side_effects))
    start.wait(timeout=30)
    try:
        outcome = wf.resume()
        results.put(f"ran: {outcome}")
    except RunInUseError:
        results.put("in use")
    except NoResumableRunError:
        results.put("already finished")


@pytest.mark.timeout(120)
def test_two_processes_resuming_one_paused_run_at_once_run_it_once(tmp_path: Path, checkpoint_dir: Path) -> None:
    context = multiprocessing.get_context("fork")
    for trial in range(TRIALS):
        name, side_effects = f"race-{trial}", tmp_path / f"deployments-{trial}.log"
        outcome = define(name, side_effects).run()
        assert outcome.status is RunStatus.PAUSED
        provide_feedback(outcome.pending_feedback_ids[0], approved=True)
        start, results = context.Barrier(2), context.Queue()
        racers = [
            context.Process(target=resume_when_released, args=(name, str(side_effects), start, results))
            for _ in range(2)
        ]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=60)
            assert racer.exitcode == 0
        said = sorted(results.get(timeout=5) for _ in racers)
        assert said[0] in ("already finished", "in use"), said
        assert said[1] == "ran: deployed", said
        assert len(side_effects.read_text().splitlines()) == 1, f"trial {trial}: the deployment ran twice"


def test_workflows_started_from_many_threads_at_once_just_run() -> None:
    def one(index: int) -> int:
        with workflow(f"pooled-{index}") as wf:

            @task
            def double() -> int:
                return index * 2

        return int(wf.execute())

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert list(pool.map(one, range(64))) == [index * 2 for index in range(64)]


def test_a_planted_run_id_cannot_name_a_lock_outside_the_folder(checkpoint_dir: Path) -> None:
    from graflow_nb._io.run_claim import RunClaim

    for planted in ("../package", "a/b", ".hidden", ""):
        with pytest.raises(RunInUseError, match="is not a run id"):
            RunClaim.acquire(checkpoint_dir, planted)
    assert not (checkpoint_dir.parent / "package.lock").exists()
