"""Bytes a run writes to its checkpoint when each task changes a little of a large channel (issue #21,
item 2: over 1,000 tasks slower than the coalescing window, <= 3x one whole document, in bytes and time).

A chain of tasks that each sleep (the work) and set one small channel key, over a channel of records
(``workloads.channel_records``); the bytes are what the process passed to ``write()`` (``wchar`` of
``/proc/self/io``), the time is what the checkpoint writer's calls took (the run's wall time beyond the
tasks' own is printed too). One whole document's bytes and write time are measured on the same
channel, to give the ratios.

    .venv/bin/python benchmarks/journal_writes.py                 # 1,000 tasks of 0.3 s over 10 MB: ~5 min
    .venv/bin/python benchmarks/journal_writes.py --tasks 100     # a shorter look
    .venv/bin/python benchmarks/journal_writes.py --before        # and each save written whole, as before
    .venv/bin/python benchmarks/journal_writes.py --busy          # tasks that compute (hold the GIL) instead

A save after a task of 0.3 s starts on a machine that sat idle meanwhile, its caches cold. The
benchmark also times the least any save can do after the same pause (encode one task's change as a
checksummed JSON line and append it to a file held open), and prints the floor that puts on the ratio:
one whole document plus that least save per task. With ``--busy`` the tasks compute instead: the
writer's thread then waits for the GIL each time it gives it up (a system call), up to
``sys.getswitchinterval()`` (5 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.workloads import QUICK, channel_records, sized
from graflow_nb import CheckpointStore, TaskExecutionContext, task, workflow
from graflow_nb._definition.graph import Flowable
from graflow_nb._engine.checkpoint_writer import CheckpointWriter

#: Seconds of each of the checkpoint writer's disk writes, in order (see timed_writes).
WRITES: list[float] = []


def timed_writes(*, whole: bool) -> None:
    """Make the checkpoint writer note the time of each disk write in WRITES (and, if ``whole``, write
    every save as a whole document, as before the journal)."""
    write = CheckpointWriter._write_document

    def timed(self: CheckpointWriter, *args: object) -> Path:
        if whole:
            self._on_disk = None  # what the writer does when it knows nothing of the disk: write whole
        began = time.perf_counter()
        try:
            return write(self, *args)  # type: ignore[arg-type]
        finally:
            WRITES.append(time.perf_counter() - began)

    CheckpointWriter._write_document = timed  # type: ignore[method-assign]


def least_save(folder: Path, seconds: float) -> float:
    """Median seconds of the least a save can do after sitting idle ``seconds``: one small change encoded
    as a checksummed JSON line, appended to a file held open (no snapshot, no comparison, no lock)."""
    descriptor = os.open(folder / "least", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    try:
        for index in range(10):
            time.sleep(seconds)
            began = time.perf_counter()
            change = {"fields": {"steps": index}, "append": {"completed": [f"t{index}"]}}
            body = orjson.dumps({**change, "update": {"channel": {f"done{index}": {"index": index}}}})
            os.write(descriptor, b"%08x %s\n" % (zlib.crc32(body), body))
            times.append(time.perf_counter() - began)
    finally:
        os.close(descriptor)
    return statistics.median(times)


def compute(seconds: float) -> None:
    """Work ``seconds`` in Python, holding the GIL as a computing task does."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


def bytes_written() -> int:
    """What this process has passed to write() so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no wchar line")


def one_whole_document(folder: Path, channel: dict[str, object]) -> tuple[int, float]:
    """Bytes and median seconds of writing one whole document of a run over ``channel``."""
    with workflow("whole", checkpoint_dir=folder) as wf:

        @task
        def only() -> None:
            return None

    outcome = wf.run(presenters=[], channel=channel)
    store = CheckpointStore(folder)
    document = store.load(outcome.checkpoint_path)
    times = []
    for _ in range(5):
        began = time.perf_counter()
        store.write(document)
        times.append(time.perf_counter() - began)
    return outcome.checkpoint_path.stat().st_size, statistics.median(times)


def chain_run(
    folder: Path,
    channel: dict[str, object],
    tasks: int,
    seconds: float,
    *,
    whole: bool = False,
    work: Callable[[float], None] = time.sleep,
) -> tuple[int, list[float], float]:
    """Bytes written, the seconds of each checkpoint write and wall seconds beyond the tasks' own of a
    chain of ``tasks`` tasks."""
    with workflow("journal", checkpoint_dir=folder) as wf:
        previous: Flowable | None = None
        for index in range(tasks):

            @task(id=f"t{index:04d}", inject_context=True)
            def step(ctx: TaskExecutionContext, index: int = index) -> None:
                work(seconds)
                ctx.get_channel().set(f"done{index}", {"index": index, "ok": True})

            if previous is not None:
                previous >> step
            previous = step

    original = CheckpointWriter._write_document
    WRITES.clear()
    timed_writes(whole=whole)
    before, began = bytes_written(), time.perf_counter()
    outcome = wf.run(presenters=[], channel=channel)
    wall = time.perf_counter() - began
    CheckpointWriter._write_document = original  # type: ignore[method-assign]
    assert outcome.status.value == "completed", outcome
    return bytes_written() - before, list(WRITES), wall - tasks * seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=sized(1000, 3))
    seconds = 0.05 if QUICK else 0.3
    parser.add_argument("--seconds", type=float, default=seconds, help="each task's work (default 0.3 s)")
    parser.add_argument("--megabytes", type=int, default=sized(10, 1), help="the channel's size (default 10 MB)")
    parser.add_argument("--before", action="store_true", help="also run with every save written whole")
    parser.add_argument("--busy", action="store_true", help="tasks compute for their time instead of sleeping")
    args = parser.parse_args()
    channel = channel_records(args.megabytes)
    with tempfile.TemporaryDirectory() as scratch:
        document_bytes, document_seconds = one_whole_document(Path(scratch) / "whole", channel)
        least = least_save(Path(scratch), args.seconds)
        floor = 1 + args.tasks * least / document_seconds
        print(f"one whole document: {document_bytes / 1e6:.2f} MB, written in {document_seconds * 1000:.1f} ms")
        print(
            f"the least a save can do after {args.seconds} s idle: {least * 1e6:.0f} us (one small change "
            f"encoded and appended); one document and that per task: {floor:.2f}x, this machine's floor"
        )
        sides = [("journal", False), ("whole", True)] if args.before else [("journal", False)]
        for label, whole in sides:
            doing = "computing" if args.busy else "sleeping"
            print(f"running {args.tasks} tasks {doing} {args.seconds} s, saves as {label} ...", flush=True)
            written, writes, overhead = chain_run(
                Path(scratch) / label,
                channel,
                args.tasks,
                args.seconds,
                whole=whole,
                work=compute if args.busy else time.sleep,
            )
            writing = sum(writes)
            print(
                f"{label}: {written / 1e6:.2f} MB written = {written / document_bytes:.2f}x one document "
                f"(target <= 3x); checkpoint writes took {writing:.2f} s = {writing / document_seconds:.2f}x "
                f"one document's write (target <= 3x), {writing / args.tasks * 1e6:.0f} us per task; "
                f"the run took {overhead:.2f} s beyond its tasks' own",
                flush=True,
            )
            if len(writes) > 1:  # the first write is the whole document
                print(
                    f"{label}: a save after the first, median {statistics.median(writes[1:]) * 1e6:.0f} us "
                    f"({len(writes) - 1} saves; the least a save can do: {least * 1e6:.0f} us)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
