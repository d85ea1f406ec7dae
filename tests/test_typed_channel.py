"""Channel values data scientists pass between tasks, saved as data and restored with their types."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pandas as pd
import pytest

from graflow_nb import (
    Channel,
    ChannelValueError,
    CorruptCheckpointError,
    RunStatus,
    TaskExecutionContext,
    task,
    workflow,
)
from graflow_nb._util.typed_values import INLINE_LIMIT

VALUES: dict[str, Any] = {
    "when": dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Berlin")),
    "naive": dt.datetime(2026, 1, 2, 3, 4, 5),
    "day": dt.date(2026, 12, 2),
    "at": dt.time(9, 30, 1, 5),
    "took": dt.timedelta(days=2, seconds=3, microseconds=7),
    "price": decimal.Decimal("19.990000000000000000001"),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "raw": b"\x00\xffbytes",
    "buffer": bytearray(b"grow"),
    "pair": (1, "a", (2.5, None)),
    "tags": {"x", "y"},
    "frozen": frozenset({1, 2}),
    "nan": float("nan"),
    "inf": [float("inf"), float("-inf")],
    "nested": {"when": [dt.date(2026, 1, 1)], "__graflow_nb__": "a user's own key"},
    "matrix": np.arange(12, dtype=np.int16).reshape(3, 4),
    "floats": np.array([0.1, np.nan, -0.0]),
    "stamps": np.array(["2026-01-01T00:00", "2026-06-01T12:30"], dtype="datetime64[m]"),
    "records": np.array([(1, 2.0), (3, 4.5)], dtype=[("a", "i4"), ("b", "f8")]),
    "scalar": np.float32(1.5),
    "count": np.int64(7),
}


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n": np.array([1, 2, 3], dtype="int32"),
            "x": [0.5, np.nan, 1e-300],
            "name": ["ada", "bob", None],
            "grade": pd.Categorical(["b", "a", "b"], categories=["a", "b", "c"], ordered=True),
            "seen": pd.to_datetime(["2026-01-01", "2026-02-01", None]).tz_localize("Asia/Tokyo"),
            "maybe": pd.array([1, None, 3], dtype="Int64"),
            "ok": [True, False, True],
        },
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )


def round_trip(values: dict[str, Any], tmp_path: Path) -> Channel:
    """Through JSON text and files, as a checkpoint and a resume do."""
    channel = Channel(values)
    text = orjson.dumps(channel.snapshot())
    blobs = channel.blobs()
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    for name, data in blobs.items():
        assert data is not None
        (folder / name).write_bytes(data)
    return Channel.restore(json.loads(text), lambda name: (folder / name).read_bytes())


def assert_same(restored: Any, original: Any, where: str) -> None:
    assert type(restored) is type(original), where
    if isinstance(original, np.ndarray):
        assert restored.dtype == original.dtype, where
        assert restored.shape == original.shape, where
        np.testing.assert_array_equal(restored, original, err_msg=where)
    elif isinstance(original, float) and math.isnan(original):
        assert math.isnan(restored), where
    elif isinstance(original, (list, tuple)):
        assert len(restored) == len(original), where
        for index, (left, right) in enumerate(zip(restored, original, strict=True)):
            assert_same(left, right, f"{where}[{index}]")
    elif isinstance(original, dict):
        assert restored.keys() == original.keys(), where
        for key in original:
            assert_same(restored[key], original[key], f"{where}[{key!r}]")
    else:
        assert restored == original, where


def test_every_kind_comes_back_with_its_type(tmp_path: Path) -> None:
    restored = round_trip(VALUES, tmp_path)
    for key, value in VALUES.items():
        assert_same(restored.get(key), value, key)
    assert restored.get("when").tzinfo == ZoneInfo("Europe/Berlin"), "the zone by name, not only its offset"


def test_dataframes_and_series_keep_dtypes_index_and_names(tmp_path: Path) -> None:
    data = frame()
    series = pd.Series([1.5, 2.5], index=pd.date_range("2026-01-01", periods=2, freq="D"), name="loss")
    restored = round_trip({"frame": data, "series": series, "labels": pd.Index([3, 1, 2], name="k")}, tmp_path)
    pd.testing.assert_frame_equal(restored.get("frame"), data, check_exact=True)
    assert list(restored.get("frame").dtypes.astype(str)) == list(data.dtypes.astype(str))
    pd.testing.assert_series_equal(restored.get("series"), series, check_exact=True, check_freq=False)
    pd.testing.assert_index_equal(restored.get("labels"), pd.Index([3, 1, 2], name="k"))


def test_what_cannot_be_saved_as_data_is_refused_naming_its_type() -> None:
    channel = Channel()
    with pytest.raises(ChannelValueError, match="dtype object"):
        channel.set("objects", np.array([object()], dtype=object))
    with pytest.raises(ChannelValueError, match="MultiIndex"):
        channel.set("multi", pd.DataFrame({"v": [1]}, index=pd.MultiIndex.from_tuples([("a", 1)])))

    class Model:  # an arbitrary object: never pickled
        pass

    with pytest.raises(ChannelValueError, match=r"\['m'\] of type Model"):
        channel.set("model", {"m": Model()})
    assert "objects" not in channel


def test_an_array_read_from_the_channel_cannot_be_changed_behind_its_back() -> None:
    channel = Channel({"weights": np.zeros(3)})
    with pytest.raises(ValueError, match="read-only"):
        channel.get("weights")[0] = 1.0
    source = np.ones(2)
    channel.set("copy", source)
    source[0] = 5  # the channel keeps what was set
    assert channel.get("copy").tolist() == [1.0, 1.0]


def big_array_workflow(name: str) -> Any:
    with workflow(name) as wf:

        @task(inject_context=True)
        def load(ctx: TaskExecutionContext) -> None:
            ctx.get_channel().set("features", np.arange(1_000_000, dtype=np.float64).reshape(1000, 1000))

        @task(inject_context=True)
        def steps(ctx: TaskExecutionContext) -> int:
            channel = ctx.get_channel()
            for step in range(30):  # many small changes, each a checkpoint of its own
                channel.set("step", step)
                ctx.request_feedback(feedback_type="approval", prompt=f"step {step}?")
            return int(channel.get("features").sum())

        load >> steps
    return wf


class BlobWatch:
    """A presenter that notes, at each request, which array files are beside the checkpoint (name, inode,
    mtime): a file written again is a new inode, as files are replaced atomically."""

    def __init__(self, wf: Any) -> None:
        self.wf = wf
        self.seen: list[list[tuple[str, int, int]]] = []

    def task_changed(self, run: Any, task_id: str, state: Any) -> None:
        return

    def show(self, run: Any, request: Any) -> None:
        folder = self.wf.store.data_directory(run.run_id)
        files = sorted(folder.glob("*.npy")) if folder.is_dir() else []
        self.seen.append([(p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in files])

    def settle(self, request: Any, response: Any) -> None:
        return

    def run_ended(self, run: Any) -> None:
        return


def test_a_large_array_is_written_once_beside_the_checkpoint(tmp_path: Path) -> None:
    from graflow_nb.testing import ScriptedAnswers

    wf = big_array_workflow("big-array")
    watch = BlobWatch(wf)
    answers = ScriptedAnswers({"steps": [{"approved": True}] * 30})
    outcome = wf.run(presenters=[watch, answers], resume=False)
    assert outcome.status is RunStatus.COMPLETED
    assert outcome.result == sum(range(1_000_000))
    (blob,) = wf.store.data_directory(outcome.run_id).glob("*.npy")
    assert blob.stat().st_size > INLINE_LIMIT
    assert len(outcome.checkpoint_path.read_bytes()) < 100_000, "the document names the 8 MB array; it does not hold it"
    later = [files for files in watch.seen[1:] if files]
    assert len(later) >= 28
    assert all(files == later[0] for files in later), "written once, not again at each of the 30 checkpoints"
    assert (blob.name, blob.stat().st_ino) == later[0][0][:2]


def test_a_paused_run_resumes_with_its_large_array_read_back() -> None:
    with workflow("array-pause") as paused:

        @task(inject_context=True)
        def keep(ctx: TaskExecutionContext) -> None:
            ctx.get_channel().set("grid", np.eye(300))

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> float:
            ctx.request_feedback(feedback_type="approval", prompt="go?", timeout=0.05)
            return float(ctx.get_channel().get("grid").trace())

        keep >> ask
    first = paused.run(resume=False)
    assert first.status is RunStatus.PAUSED
    from graflow_nb import provide_feedback

    provide_feedback(first.pending_feedback_ids[0], approved=True, checkpoint_dir=paused.store.directory)
    assert paused.resume() == 300.0


def test_a_damaged_or_missing_array_file_stops_the_resume_with_a_clear_error(tmp_path: Path) -> None:
    with workflow("damaged") as wf:

        @task(inject_context=True)
        def keep(ctx: TaskExecutionContext) -> None:
            ctx.get_channel().set("grid", np.eye(300))

        @task(inject_context=True)
        def ask(ctx: TaskExecutionContext) -> bool | None:
            return ctx.request_feedback(feedback_type="approval", prompt="go?", timeout=0.05).approved

        keep >> ask
    outcome = wf.run(resume=False)
    (blob,) = wf.store.data_directory(outcome.run_id).glob("*.npy")
    blob.write_bytes(blob.read_bytes()[:-8] + b"\x00" * 8)
    with pytest.raises(CorruptCheckpointError, match=r"a channel value cannot be read back.*damaged"):
        wf.resume()
    blob.unlink()
    with pytest.raises(CorruptCheckpointError, match="a channel value cannot be read back"):
        wf.resume()


def test_a_task_returning_a_dataframe_is_kept_and_not_run_again_on_resume() -> None:
    from graflow_nb import provide_feedback

    loads: list[int] = []

    with workflow("frame-result") as wf:

        @task
        def load() -> pd.DataFrame:
            loads.append(1)
            return frame()

        @task(inject_context=True)
        def review(ctx: TaskExecutionContext, load: pd.DataFrame) -> dict[str, str]:
            ctx.request_feedback(feedback_type="approval", prompt=f"{len(load)} rows fine?", timeout=0.05)
            return {str(name): str(dtype) for name, dtype in load.dtypes.items()}

        load >> review
    with _no_unsaved_result_warning():
        first = wf.run(resume=False)
    assert first.status is RunStatus.PAUSED
    provide_feedback(first.pending_feedback_ids[0], approved=True, checkpoint_dir=wf.store.directory)
    assert wf.resume() == {str(name): str(dtype) for name, dtype in frame().dtypes.items()}
    assert loads == [1], "its result was saved: the task did not run again"


def _no_unsaved_result_warning() -> Any:
    import contextlib
    import warnings

    from graflow_nb import UnsavedResultWarning

    @contextlib.contextmanager
    def watching() -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        assert not [w for w in caught if issubclass(w.category, UnsavedResultWarning)]

    return watching()
