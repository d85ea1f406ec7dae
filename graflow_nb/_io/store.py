"""The checkpoint directory: run documents and the answers given to their requests.

Layout::

    <checkpoint_dir>/
        <run_id>.json              one checkpoint document per run (see _model/checkpoint.py)
        <run_id>.journal           the changes saved since the document was written whole (see journal.py)
        answers/<feedback_id>.json  the first valid answer to each request, created exclusively
        deadlines/<feedback_id>.json a later deadline for a request a live run waits for (see _deadlines.py)

Everything here is JSON read with pydantic: nothing in the folder is ever imported or unpickled.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import secrets
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .._model.checkpoint_format import FEEDBACK_ID_PATTERN, RUN_ID_PATTERN, SCHEMA_NAME, SCHEMA_VERSION
from .._model.errors import (
    CheckpointDirectoryError,
    CheckpointError,
    CheckpointVersionError,
    CorruptCheckpointError,
    FeedbackNotFoundError,
    RunNotFoundError,
)
from .._util import exact_json
from .._util.atomic import (
    create_exclusively,
    is_temporary,
    read_regular_file,
    sweep_stale_temporaries,
    write_atomically,
)
from .journal import JournalAppender, apply_entries, journal_beside, journal_entries, journal_start
from .notebook_path import notebook_checkpoint_dir

if TYPE_CHECKING:  # the models need pydantic: loaded when a document or an answer is first read
    from pydantic import ValidationError

    from .._model.checkpoint import CheckpointDocument, RequestRecord
    from .._model.feedback import FeedbackResponse

#: Environment variable naming the default checkpoint directory.
CHECKPOINT_DIR_ENV = "GRAFLOW_NB_CHECKPOINT_DIR"
#: The default checkpoint directory, relative to the working directory, when nothing else is set.
DEFAULT_CHECKPOINT_DIR = ".graflow_nb"
#: The largest answer file read (answers are small; a form's data is a few kB).
ANSWER_FILE_LIMIT = 16 * 2**20


#: The largest saved value read back from beside a document (an array, a frame's column).
BLOB_LIMIT = 16 * 2**30
_BLOB_NAME = re.compile(r"[0-9a-f]{64}")
#: How a finished run's document begins, as both of graflow_nb's writers order its fields.
_FINISHED_START = re.compile(
    rb'\{"schema":"graflow_nb\.checkpoint","schema_version":[12],"workflow":"(?:[^"\\]|\\.)*",'
    rb'"run_id":"[A-Za-z0-9._-]+","status":"(?:completed|cancelled)"'
)


def _checked_blob_name(name: str) -> str:
    """A blob's name, checked: a SHA-256 in hex, so a document cannot point at a file elsewhere."""
    if not isinstance(name, str) or not _BLOB_NAME.fullmatch(name):
        raise ValueError(f"{str(name)[:80]!r} is not the name of a saved value")
    return name


def default_checkpoint_dir() -> Path:
    """``$GRAFLOW_NB_CHECKPOINT_DIR``, else the folder beside the running notebook, else ``./.graflow_nb``."""
    configured = os.environ.get(CHECKPOINT_DIR_ENV)
    if configured:
        return Path(configured)
    return notebook_checkpoint_dir() or Path(DEFAULT_CHECKPOINT_DIR)


class CheckpointStore:
    """Reads and writes the checkpoint directory."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_checkpoint_dir()

    @property
    def answers_directory(self) -> Path:
        """Where answers are filed, one file per feedback id."""
        return self.directory / "answers"

    def check_writable(self) -> None:
        """Raise CheckpointDirectoryError now, before any task runs, if checkpoints cannot be written here."""
        probe = self.directory / f".write-probe-{os.getpid()}-{secrets.token_hex(6)}"  # one per call: threads race
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise CheckpointDirectoryError(self.directory, error.strerror or str(error)) from None
        sweep_stale_temporaries(self.directory)
        sweep_stale_temporaries(self.answers_directory)

    def run_path(self, run_id: str) -> Path:
        """The checkpoint file of a run."""
        return self.directory / f"{run_id}.json"

    # -- large values beside a run's document --------------------------------------------------

    def data_directory(self, run_id: str) -> Path:
        """Where a run's large channel values (arrays, frames' columns) are kept: one ``.npy`` file each."""
        return self.directory / f"{run_id}.data"

    def write_blobs(self, run_id: str, blobs: Mapping[str, bytes | None]) -> None:
        """Write each large value not yet on disk (a value already there is never written again)."""
        folder = self.data_directory(run_id)
        for name, data in blobs.items():
            path = folder / f"{_checked_blob_name(name)}.npy"
            if data is None or path.exists():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)

    def blob_loader(self, run_id: str) -> Callable[[str], bytes]:
        """How a run's saved large values are read back (a missing or damaged one raises OSError/ValueError)."""
        folder = self.data_directory(run_id)

        def load(name: str) -> bytes:
            path = folder / f"{_checked_blob_name(name)}.npy"
            data = read_regular_file(path, BLOB_LIMIT)
            if hashlib.sha256(data).hexdigest() != name:
                raise ValueError(f"{path} does not hold the value saved under that name (damaged)")
            return data

        return load

    # -- run documents ---------------------------------------------------------------------

    def journal_path(self, run_id: str) -> Path:
        """The journal continuing a run's document (see ``journal.py``)."""
        return journal_beside(self.run_path(run_id))

    def write(self, document: CheckpointDocument) -> Path:
        """Save a run's document atomically, whole (a journal beside it no longer counts), and return its path."""
        path = self.run_path(document.run_id)
        self.directory.mkdir(parents=True, exist_ok=True)
        from .._model.checkpoint import encode_document

        write_atomically(path, encode_document(document))
        return path

    def write_data(self, data: Mapping[str, object], journal: str | None) -> int:
        """Save a run's document data (JSON data, as a run snapshots itself) atomically and whole; then
        start its journal anew under the token ``journal``, or remove it (None). Return the document's
        size in bytes."""
        run_id = str(data["run_id"])
        encoded = exact_json.dumps({**data, "journal": journal} if journal is not None else data)
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomically(self.run_path(run_id), encoded)
        # A crash here leaves the journal of the document before: the document names another token
        # (or none), so that journal is ignored and the new document stands alone.
        if journal is None:
            self.journal_path(run_id).unlink(missing_ok=True)
        else:
            write_atomically(self.journal_path(run_id), journal_start(journal))
        return len(encoded)

    def open_journal(self, run_id: str) -> JournalAppender:
        """A run's journal, held open to append each save's changes (FileNotFoundError if there is none)."""
        return JournalAppender(self.journal_path(run_id))

    def load(self, path: str | os.PathLike[str]) -> CheckpointDocument:
        """Load and check one document, with the changes its journal holds; raise a CheckpointError naming
        the file if it is unusable.

        Only a regular file within the size limit is read (see ``read_regular_file``), and its run id
        must be the one its file name says: a document from elsewhere cannot point outside the folder.
        """
        from pydantic import ValidationError

        from .._model.checkpoint import CheckpointDocument, parse_document

        path = Path(path)
        read_before = None
        for _attempt in range(3):
            raw = self._read_document(path)
            try:
                data = parse_document(raw)
            except (ValueError, RecursionError) as error:
                raise CorruptCheckpointError(path, f"not valid JSON ({error})") from None
            token = data.pop("journal", None) if isinstance(data, dict) else None
            if token is None or self._replay_journal(path, data, token) or token == read_before:
                break  # (the same token twice: the journal is older than the document, which stands alone)
            read_before = token  # the journal continues another document: this one was just rewritten
        try:
            document = CheckpointDocument.model_validate(data)
        except ValidationError as error:
            raise self._explain_invalid(path, data, error) from None
        if document.run_id != path.stem:
            raise CorruptCheckpointError(
                path, f"its run_id {document.run_id!r} is not its file name (the file was renamed or edited)"
            )
        return document

    @staticmethod
    def _read_document(path: Path) -> bytes:
        try:
            return read_regular_file(path)
        except OSError as error:
            raise CorruptCheckpointError(path, f"cannot be read ({error.strerror})") from None

    @staticmethod
    def _replay_journal(path: Path, data: dict[str, object], token: object) -> bool:
        """Apply the journal beside ``path`` to its document's data; False when that journal continues
        another document (an older one, or a newer one written since ``path`` was read)."""
        if not isinstance(token, str):
            raise CorruptCheckpointError(path, "its journal token is not a string (the file was edited or damaged)")
        journal = journal_beside(path)
        try:
            raw = read_regular_file(journal)
        except FileNotFoundError:
            return True  # a crash came between the document and its journal's first line: nothing to add
        except OSError as error:
            raise CorruptCheckpointError(journal, f"cannot be read ({error.strerror})") from None
        if not raw.startswith(journal_start(token)):
            return False
        try:
            apply_entries(data, journal_entries(raw, token))
        except ValueError as error:
            raise CorruptCheckpointError(journal, f"{error} (the file was edited or damaged)") from None
        return True

    @staticmethod
    def _explain_invalid(path: Path, data: object, error: ValidationError) -> CheckpointError:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_NAME:
            return CorruptCheckpointError(path, "not a graflow_nb checkpoint (no 'schema' marker)")
        version = data.get("schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            return CheckpointVersionError(path, version, SCHEMA_VERSION)
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        return CorruptCheckpointError(path, f"{where}: {first['msg']} (the file was edited or damaged)")

    def load_run(self, run_id: str) -> CheckpointDocument:
        """Load a run's document by run id (RunNotFoundError if the folder holds none)."""
        self.check_run_exists(run_id)
        return self.load(self.run_path(run_id))

    def check_run_exists(self, run_id: str) -> None:
        """Raise RunNotFoundError unless the folder holds a document of run ``run_id``."""
        if not RUN_ID_PATTERN.fullmatch(run_id) or not self.run_path(run_id).is_file():
            raise RunNotFoundError(run_id, self.directory)

    def documents(self) -> Iterator[tuple[Path, CheckpointDocument | CheckpointError]]:
        """Every run document in the directory, oldest first, with an error in place of an unusable one."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            if is_temporary(path):
                continue
            try:
                yield path, self.load(path)
            except CheckpointError as error:
                yield path, error

    def newest_unfinished_first(self, prefix: str) -> Iterator[CheckpointDocument]:
        """Loadable run documents whose run id starts with ``prefix``, newest first (read lazily), but
        those that say at their start that they completed or were cancelled (not read further)."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob(f"{glob.escape(prefix)}*.json"), reverse=True):
            if self._finished_at_a_glance(path):
                continue
            try:
                yield self.load(path)
            except CheckpointError as error:
                warnings.warn(f"skipping {error}", stacklevel=2)

    def _finished_at_a_glance(self, path: Path) -> bool:
        """Whether the document at ``path`` begins as graflow_nb writes a finished run, with no journal
        beside it (anything else is read whole)."""
        try:
            with path.open("rb") as file:
                start = file.read(1024)
        except OSError:
            return False
        found = _FINISHED_START.match(start)
        return found is not None and not journal_beside(path).exists()

    def readable_documents(self) -> Iterator[CheckpointDocument]:
        """Every loadable run document; unusable files are skipped with a warning naming them."""
        for _path, document in self.documents():
            if isinstance(document, CheckpointError):
                warnings.warn(f"skipping {document}", stacklevel=2)
                continue
            yield document

    def find_request(self, feedback_id: str) -> tuple[CheckpointDocument, RequestRecord]:
        """The run and request that a feedback id belongs to."""
        for document in self.readable_documents():
            record = document.record(feedback_id)
            if record is not None:
                return document, record
        raise FeedbackNotFoundError(feedback_id, self.directory)

    # -- answers ---------------------------------------------------------------------------

    @property
    def deadlines_directory(self) -> Path:
        """Where other processes file later deadlines, one file per feedback id."""
        return self.directory / "deadlines"

    def deadline_path(self, feedback_id: str) -> Path:
        """The file that moves a waiting request's deadline later (written by other processes)."""
        return self.deadlines_directory / self.answer_path(feedback_id).name

    def answer_path(self, feedback_id: str) -> Path:
        """The file holding the answer to a request (only ids graflow_nb writes: nothing outside the folder)."""
        if not FEEDBACK_ID_PATTERN.fullmatch(feedback_id):
            raise FeedbackNotFoundError(feedback_id, self.directory)
        return self.answers_directory / f"{feedback_id}.json"

    def file_answer(self, response: FeedbackResponse) -> bool:
        """Record an answer unless one is already filed; return whether this one was recorded."""
        self.answers_directory.mkdir(parents=True, exist_ok=True)
        data = response.model_dump_json(indent=1).encode()
        return create_exclusively(self.answer_path(response.feedback_id), data)

    def read_answer(self, feedback_id: str, *, set_aside: bool = False) -> FeedbackResponse | None:
        """The filed answer to a request, or None if there is none or it is unusable.

        Reading changes nothing; only the run that waits for the answer passes ``set_aside=True``, so
        that an unusable answer file is moved out of the way and the request can be answered again.
        """
        path = self.answer_path(feedback_id)
        try:
            raw = read_regular_file(path, ANSWER_FILE_LIMIT)
        except FileNotFoundError:
            return None
        except OSError as error:
            problem = f"unreadable answer file: {error.strerror}"
        else:
            from pydantic import ValidationError

            from .._model.feedback import FeedbackResponse

            try:
                response = FeedbackResponse.model_validate_json(raw)
            except ValidationError as error:
                problem = f"unreadable answer file: {error.errors()[0]['msg']}"
            else:
                if response.feedback_id == feedback_id:
                    return response
                problem = f"the answer file holds an answer to {response.feedback_id!r}"
        if set_aside:
            self.set_answer_aside(feedback_id, problem)
        return None

    def adopt_answer(self, feedback_id: str) -> FeedbackResponse | None:
        """An answer given where else the run's requests are kept, filed here now (this folder keeps its
        requests nowhere else: None)."""
        return None

    def set_answer_aside(self, feedback_id: str, reason: str) -> None:
        """Move a filed answer that was refused out of the way, so the request can be answered again."""
        path = self.answer_path(feedback_id)
        stamp = os.urandom(3).hex()
        try:
            path.replace(path.with_name(f"{feedback_id}.rejected-{stamp}.json"))
        except FileNotFoundError:
            return
        warnings.warn(f"answer to {feedback_id} refused: {reason}", stacklevel=2)
