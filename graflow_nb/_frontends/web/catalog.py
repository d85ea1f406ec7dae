"""The requests of the runs whose checkpoints lie under a folder (a Jupyter server's root): found, not
changed. Checkpoints sit beside their notebooks, ``analysis.ipynb``'s in ``analysis.graflow_nb/``
(``_io/notebook_path.py``), a script's in ``.graflow_nb/`` (``_io/store.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ..._io.notebook_path import FOLDER_SUFFIX
from ..._io.store import CheckpointStore
from ..._model.checkpoint import CheckpointDocument, RequestRecord
from ..._model.task_order import in_task_order

#: Folders never looked into for checkpoints (environments, caches, build output).
_SKIPPED = {"node_modules", "__pycache__", "site-packages", "venv", "env"}
#: How deep below the root checkpoint folders are looked for.
MAX_DEPTH = 8


@dataclass(frozen=True)
class FoundRequest:
    """A request, its run, and where it was asked: the notebook (or, for a script's run, the folder)
    relative to the root."""

    record: RequestRecord
    document: CheckpointDocument
    store: CheckpointStore
    folder: str

    def reread(self) -> FoundRequest:
        """The same request as its run's checkpoint says now (one file read, not a scan of the root)."""
        document = self.store.load_run(self.document.run_id)
        return replace(self, record=document.record(self.record.feedback_id) or self.record, document=document)

    @property
    def answerable(self) -> bool:
        return self.record.state == "pending" and not self.document.status.finished


def checkpoint_folders(root: Path) -> Iterator[Path]:
    """Every checkpoint folder under ``root`` (not following links, nor into other hidden folders)."""
    root = root.resolve()
    for current, folders, _files in os.walk(root):
        depth = len(Path(current).relative_to(root).parts)
        for name in folders:
            if name.endswith(FOLDER_SUFFIX):
                yield Path(current) / name
        folders[:] = [
            name
            for name in folders
            if depth < MAX_DEPTH
            and not name.startswith(".")
            and not name.endswith(FOLDER_SUFFIX)
            and name not in _SKIPPED
            and not name.startswith("venv")
        ]


def found_requests(root: Path) -> list[FoundRequest]:
    """Every request of every readable run under ``root``: the newest run's first, each run's in the
    workflow's order of tasks (a batch's parallel tasks ask in whatever order their threads run)."""
    runs = [
        (document, store, _asked_in(folder, root.resolve()))
        for folder in checkpoint_folders(root)
        for store in [CheckpointStore(folder)]
        for document in store.readable_documents()
    ]
    runs.sort(key=lambda run: run[0].created_at, reverse=True)
    return [
        FoundRequest(record, document, store, where)
        for document, store, where in runs
        for record in in_task_order(document.requests, document.tasks, lambda record: record.request)
    ]


def _asked_in(folder: Path, root: Path) -> str:
    """The notebook beside a checkpoint folder (``analysis.graflow_nb`` -> ``analysis.ipynb``), else its folder."""
    parent = str(folder.parent.relative_to(root))
    if folder.name == FOLDER_SUFFIX:  # a script's (or a notebook's whose name was unknown)
        return parent
    notebook = folder.name.removesuffix(FOLDER_SUFFIX) + ".ipynb"
    return notebook if parent == "." else f"{parent}/{notebook}"


def find_request(root: Path, feedback_id: str) -> FoundRequest | None:
    """The request with that id under ``root``, if any."""
    return next((item for item in found_requests(root) if item.record.feedback_id == feedback_id), None)
