"""The journal beside a checkpoint: saves of a going run append what changed instead of rewriting the
document; every cut of the journal loads; a stale one is ignored; the document is rewritten whole when
the journal outgrows it, and once the run stops."""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graflow_nb import (
    CheckpointStore,
    CorruptCheckpointError,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    task,
    workflow,
)
from graflow_nb._engine import checkpoint_writer
from graflow_nb._engine.channel import Channel
from graflow_nb._io.journal import apply_entries, changes_between, journal_entries, journal_entry, journal_start
from tests.helpers import append_to_journal, saved_run, wait_until
from tests.test_properties import SETTINGS, json_values

#: A channel of ~2 MB: what a whole document write would cost each save.
BIG_CHANNEL = {f"row{index:05d}": {"text": "x" * 90, "index": index} for index in range(20_000)}


def journal_of(folder: Path) -> Path:
    (journal,) = folder.glob("*.journal")
    return journal


class TestAGoingRunAppendsWhatChanged:
    def test_each_task_over_a_large_channel_appends_a_small_entry_and_the_document_is_written_once(
        self, tmp_path: Path
    ) -> None:
        folder = tmp_path / "runs"
        seen: list[dict[str, Any]] = []  # what each task found on disk when it started

        def look(index: int) -> None:
            document = next(folder.glob("*.json"))
            seen.append(
                {
                    "inode": document.stat().st_ino,
                    "document_bytes": document.stat().st_size,
                    "journal": journal_of(folder).read_bytes(),
                    "loaded": saved_run(document),
                }
            )

        wf = chain_each_after_the_last_save(folder, 6, look)
        outcome = wf.run(presenters=[], channel=BIG_CHANNEL)

        assert outcome.status.value == "completed"
        assert len({entry["inode"] for entry in seen}) == 1, "the document was not rewritten while the run went"
        assert seen[0]["document_bytes"] > 2_000_000
        entries = seen[-1]["journal"].splitlines()[1:]
        assert len(entries) >= 5
        assert all(len(entry) < 1_000 for entry in entries), [len(entry) for entry in entries]
        last = seen[-1]["loaded"]
        assert last["completed"] == ["t0", "t1", "t2", "t3", "t4"]
        assert {key: last["channel"][key] for key in ("k0", "k4")} == {"k0": 0, "k4": 4}
        assert last["channel"]["row00007"] == BIG_CHANNEL["row00007"]
        # stopped: a document this large is not rewritten either; its journal ends with the stop
        assert outcome.checkpoint_path.stat().st_ino == seen[0]["inode"]
        final = saved_run(outcome.checkpoint_path)
        assert final["status"] == "completed"
        assert final["channel"]["k5"] == 5
        assert len(final["channel"]) == len(BIG_CHANNEL) + 6 + 6  # six keys and six results

    @pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads the process's open files in /proc")
    def test_the_journal_is_held_open_across_saves_and_let_go_when_the_run_ends(self, tmp_path: Path) -> None:
        folder = tmp_path / "runs"
        held: list[list[str]] = []  # the descriptors open on the journal, as each task found them
        wf = chain_each_after_the_last_save(folder, 5, lambda _: held.append(descriptors_on(journal_of(folder))))
        outcome = wf.run(presenters=[], channel=BIG_CHANNEL)

        assert outcome.status.value == "completed"
        assert held[0] == [], "no descriptor before the first append"
        assert len(held[1]) == 1, held
        assert all(found == held[1] for found in held[1:]), f"one descriptor for every save: {held}"
        assert journal_of(folder).exists(), "a document this large keeps its journal when the run stops"
        assert descriptors_on(journal_of(folder)) == []
        assert saved_run(outcome.checkpoint_path)["channel"]["k4"] == 4

    @pytest.mark.parametrize("how", ["removed", "replaced"])
    def test_a_journal_removed_or_replaced_while_the_run_goes_is_followed_by_a_whole_document(
        self, tmp_path: Path, how: str
    ) -> None:
        """The stop's save (synced) finds that the journal held open is no longer the one beside the
        document, and writes the document whole, with what went to the file held open meanwhile."""
        folder = tmp_path / "runs"

        def take_the_journal_away() -> None:
            journal = journal_of(folder)
            if how == "removed":
                journal.unlink()
            else:
                replace_by_a_copy(journal)

        wf = first_then_second(
            folder, lambda: b'"first"' in journal_of(folder).read_bytes(), before_second=take_the_journal_away
        )
        outcome = wf.run(presenters=[], channel=BIG_CHANNEL)

        final = saved_run(outcome.checkpoint_path)
        assert (final["status"], final["channel"]["first"], final["channel"]["second"]) == ("completed", 1, 2)
        assert final["channel"]["row00007"] == BIG_CHANNEL["row00007"]

    def test_progress_after_a_journal_was_replaced_reaches_the_disk_again_within_a_second_or_so(
        self, tmp_path: Path
    ) -> None:
        """Not only at the next synced save: the writer checks the journal's path at least once a second
        of saves, so a crash after a sync client replaced the journal costs about a second's progress."""
        folder = tmp_path / "runs"

        with workflow("swapped", checkpoint_dir=folder) as wf:
            previous = None
            for index in range(12):

                @task(id=f"t{index:02d}", inject_context=True)
                def step(ctx: TaskExecutionContext, index: int = index) -> None:
                    if index == 2:
                        wait_until(lambda: b'"k1"' in journal_of(folder).read_bytes(), 30)
                        replace_by_a_copy(journal_of(folder))
                    if index == 11:  # over two seconds of saves since
                        wait_until(lambda: "k2" in saved_run(next(folder.glob("*.json")))["channel"], 30)
                    time.sleep(0.25)
                    ctx.get_channel().set(f"k{index}", index)

                if previous is not None:
                    previous >> step
                previous = step

        outcome = wf.run(presenters=[], channel=BIG_CHANNEL)

        assert outcome.status.value == "completed", outcome.error
        assert saved_run(outcome.checkpoint_path)["channel"]["k11"] == 11

    def test_a_small_run_that_stops_is_one_whole_file_again(self, tmp_path: Path) -> None:
        folder = tmp_path / "runs"
        wf = first_then_second(folder, lambda: b'"first"' in journal_of(folder).read_bytes())  # in the journal
        outcome = wf.run(presenters=[])

        assert not list(folder.glob("*.journal"))
        final = json.loads(outcome.checkpoint_path.read_bytes())
        assert "journal" not in final
        assert (final["status"], final["channel"]["first"], final["channel"]["second"]) == ("completed", 1, 2)

    def test_a_journal_larger_than_its_document_is_folded_into_a_new_whole_document(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(checkpoint_writer, "JOURNAL_MIN_BYTES", 0)
        monkeypatch.setattr(checkpoint_writer, "COALESCE_SECONDS", 0.001)
        folder = tmp_path / "runs"
        observed: list[tuple[int, int, int]] = []  # document inode, document size, journal size

        with workflow("fold", checkpoint_dir=folder) as wf:
            previous = None
            for index in range(120):

                @task(id=f"t{index:03d}", inject_context=True)
                def step(ctx: TaskExecutionContext, index: int = index) -> None:
                    if index:  # the save after the task before is on disk
                        wait_until(lambda: f'"k{index - 1}"'.encode() in journal_text(folder), 30)
                    document = next(folder.glob("*.json"))
                    observed.append(
                        (document.stat().st_ino, document.stat().st_size, journal_of(folder).stat().st_size)
                    )
                    ctx.get_channel().set(f"k{index}", "v" * 200)

                if previous is not None:
                    previous >> step
                previous = step

        assert wf.run(presenters=[]).status.value == "completed"
        assert saved_run(next(folder.glob("*.json")))["channel"]["k119"] == "v" * 200

        rewrites = len({inode for inode, _, _ in observed})
        assert rewrites >= 3, "the document was rewritten whole as its journal outgrew it"
        assert all(journal <= document + 2_000 for _, document, journal in observed), observed

    def test_a_task_finishing_after_a_quiet_window_is_saved_before_the_next_one_runs_long(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A kill during the next task then costs no finished task (the window is set to 30 s here, so
        only a write at the window's start can save the first task in time)."""
        monkeypatch.setattr(checkpoint_writer, "COALESCE_SECONDS", 30.0)
        folder = tmp_path / "runs"
        wf = first_then_second(folder, lambda: saved_run(next(folder.glob("*.json")))["completed"] == ["first"])
        assert wf.run(presenters=[]).status.value == "completed"


def chain_each_after_the_last_save(folder: Path, count: int, look: Callable[[int], None]) -> Workflow:
    """A chain of ``count`` tasks t0, t1...; each waits until the save after the one before is on disk,
    then calls ``look(index)`` and sets the key ``k<index>`` to its index."""
    with workflow("chain", checkpoint_dir=folder) as wf:
        previous = None
        for index in range(count):

            @task(id=f"t{index}", inject_context=True)
            def step(ctx: TaskExecutionContext, index: int = index) -> None:
                if index:
                    wait_until(lambda: f'"k{index - 1}"'.encode() in journal_of(folder).read_bytes(), 30)
                look(index)
                ctx.get_channel().set(f"k{index}", index)

            if previous is not None:
                previous >> step
            previous = step

    return wf


def first_then_second(
    folder: Path, first_saved: Callable[[], bool], before_second: Callable[[], None] = lambda: None
) -> Workflow:
    """Two tasks setting a key each; the second starts by waiting (10 s at most) until ``first_saved()``,
    then calls ``before_second()``."""
    with workflow("two", checkpoint_dir=folder) as wf:

        @task(inject_context=True)
        def first(ctx: TaskExecutionContext) -> None:
            ctx.get_channel().set("first", 1)

        @task(inject_context=True)
        def second(ctx: TaskExecutionContext) -> None:
            wait_until(first_saved, 10)
            before_second()
            ctx.get_channel().set("second", 2)

        first >> second

    return wf


def descriptors_on(path: Path) -> list[str]:
    """This process's descriptors open on the file at ``path`` (Linux: read in /proc)."""
    found = []
    for descriptor in Path("/proc/self/fd").iterdir():
        try:
            target = descriptor.readlink()
        except FileNotFoundError:  # closed meanwhile (the listing's own, for one)
            continue
        if target == path:
            found.append(descriptor.name)
    return found


def replace_by_a_copy(path: Path) -> None:
    """Put the same bytes at ``path`` in another file, as an editor or a sync client saves it."""
    copy = path.with_name("copy")
    shutil.copyfile(path, copy)
    copy.replace(path)


def journal_text(folder: Path) -> bytes:
    """The journal with the document it continues (the key may be in either after a fold)."""
    return journal_of(folder).read_bytes() + next(folder.glob("*.json")).read_bytes()


def a_going_run(tmp_path: Path) -> tuple[CheckpointStore, Path, dict[str, Any]]:
    """A store holding one run's document data, as a going run writes it (whole, with a journal)."""
    folder = tmp_path / "seed"
    with workflow("cut", checkpoint_dir=folder) as wf:

        @task
        def only() -> int:
            return 1

    outcome = wf.run(presenters=[])
    data = json.loads(outcome.checkpoint_path.read_bytes())
    data["status"] = "running"
    store = CheckpointStore(tmp_path / "cut")
    store.write_data(data, journal="0123456789abcdef")
    return store, store.run_path(data["run_id"]), data


def states_appended(store: CheckpointStore, data: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Append ``count`` saves, each setting one more channel key; the states after each, first to last."""
    states = [data]
    for index in range(count):
        after = {**states[-1], "channel": {**states[-1]["channel"], f"k{index}": [index, "x" * index]}}
        append_to_journal(store, data["run_id"], journal_entry(changes_between(states[-1], after)))
        states.append(after)
    return states


class TestEveryFileLoads:
    def test_every_cut_of_the_journal_loads_the_state_of_the_last_whole_entry(self, tmp_path: Path) -> None:
        store, path, data = a_going_run(tmp_path)
        states = states_appended(store, data, 4)
        journal = store.journal_path(data["run_id"])
        whole = journal.read_bytes()
        ends = [index + 1 for index, byte in enumerate(whole) if byte == ord("\n")]  # after each line
        for cut in range(len(whole) + 1):
            journal.write_bytes(whole[:cut])
            complete = sum(1 for end in ends[1:] if end <= cut)  # entries wholly before the cut
            assert store.load(path).channel == states[complete]["channel"], f"cut at byte {cut}"

    def test_ints_beyond_64_bits_in_an_entry_come_back_exactly(self, tmp_path: Path) -> None:
        store, path, data = a_going_run(tmp_path)
        after = {**data, "channel": {**data["channel"], "big": 2**70 + 1, "small": -(2**64)}}
        append_to_journal(store, data["run_id"], journal_entry(changes_between(data, after)))
        loaded = store.load(path).channel
        assert (loaded["big"], loaded["small"]) == (2**70 + 1, -(2**64))
        assert isinstance(loaded["big"], int)

    def test_a_damaged_entry_ends_the_journal_there(self, tmp_path: Path) -> None:
        store, path, data = a_going_run(tmp_path)
        states = states_appended(store, data, 3)
        journal = store.journal_path(data["run_id"])
        lines = journal.read_bytes().splitlines(keepends=True)
        lines[2] = lines[2].replace(b'"k1"', b'"k9"')  # the second entry, its checksum now wrong
        journal.write_bytes(b"".join(lines))
        assert store.load(path).channel == states[1]["channel"]

    def test_a_journal_of_another_document_is_ignored(self, tmp_path: Path) -> None:
        store, path, data = a_going_run(tmp_path)
        states_appended(store, data, 2)
        journal = store.journal_path(data["run_id"])
        entries = journal.read_bytes().split(b"\n", 1)[1]
        journal.write_bytes(journal_start("fedcba9876543210") + entries)  # as a crash between the two writes leaves it
        assert store.load(str(path)).channel == data["channel"], "a path as a string loads too"

    def test_a_document_written_whole_without_a_token_stands_alone(self, tmp_path: Path) -> None:
        store, path, data = a_going_run(tmp_path)
        states_appended(store, data, 2)
        store.write(store.load(path).model_copy(update={"status": RunStatus.PAUSED}))  # e.g. graflow-nb cancel
        loaded = store.load(path)
        assert sorted(key for key in loaded.channel if key.startswith("k")) == ["k0", "k1"], "not applied twice"

    def test_an_entry_that_does_not_fit_its_document_is_refused_naming_the_journal(self, tmp_path: Path) -> None:
        store, path, data = a_going_run(tmp_path)
        append_to_journal(store, data["run_id"], journal_entry({"append": {"channel": [1]}}))
        with pytest.raises(CorruptCheckpointError, match=r"\.journal.*does not fit"):
            store.load(path)

    @SETTINGS
    @given(
        entries=st.lists(
            st.dictionaries(st.sampled_from(["fields", "append", "update", "remove", "requests"]), json_values),
            max_size=3,
        )
    )
    def test_any_journal_beside_a_document_loads_or_is_refused_clearly(
        self, tmp_path: Path, entries: list[dict[str, Any]]
    ) -> None:
        store, path, data = a_going_run(tmp_path)
        for entry in entries:
            append_to_journal(store, data["run_id"], journal_entry(entry))
        try:
            store.load(path)
        except CorruptCheckpointError as error:
            refusal = str(error)
            assert str(path.with_suffix("")) in refusal  # names the document or its journal


#: JSON data as a channel saves it (finite numbers; ints of any size)
json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20,
)
documents = st.fixed_dictionaries(
    {
        "channel": st.dictionaries(st.text(max_size=4), json_data, max_size=6),
        "completed": st.lists(st.text(max_size=3), max_size=5),
        "steps": st.integers(0, 10),
        "requests": st.lists(st.integers(0, 3), max_size=4, unique=True).map(
            lambda ids: [{"request": {"feedback_id": f"fb-{n}"}, "state": "pending"} for n in ids]
        ),
    }
)


@SETTINGS
@given(before=documents, after=documents)
def test_replaying_the_changes_between_two_documents_gives_the_second(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    replayed = copy.deepcopy(before)
    raw = journal_start("token") + journal_entry(changes_between(before, after))  # through the file's format
    apply_entries(replayed, journal_entries(raw, "token"))
    assert replayed == after


operations = st.lists(
    st.tuples(st.sampled_from(["set", "delete", "save"]), st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 3)),
    max_size=40,
)


@SETTINGS
@given(steps=operations)
def test_the_changes_a_channel_reports_since_a_save_rebuild_it_exactly(steps: list[tuple[str, str, int]]) -> None:
    channel = Channel({"a": 0})
    version, on_disk, _blobs = channel.saved_state()
    for action, key, value in steps:
        if action == "set":
            channel.set(key, [value])
        elif action == "delete":
            channel.delete(key)
        else:
            version, set_now, deleted, _blobs = channel.saved_since(version)
            on_disk = {key: data for key, data in on_disk.items() if key not in deleted}
            on_disk.update(set_now)
            assert on_disk == channel.snapshot()
    _version, set_now, deleted, _blobs = channel.saved_since(version)
    assert {**{k: v for k, v in on_disk.items() if k not in deleted}, **set_now} == channel.snapshot()


def test_a_large_value_set_since_a_save_comes_with_its_parts(tmp_path: Path) -> None:
    numpy = pytest.importorskip("numpy")
    channel = Channel({"small": 1})
    version, _saved, blobs = channel.saved_state()
    assert blobs == {}
    channel.set("array", numpy.arange(100_000))
    _version, set_now, _deleted, blobs = channel.saved_since(version)
    assert list(set_now) == ["array"]
    assert len(blobs) == 1
    assert all(isinstance(data, bytes) for data in blobs.values())
