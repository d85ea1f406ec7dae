"""Script mode: pending requests are announced on stderr and, in a terminal, answered at a prompt."""

from __future__ import annotations

import itertools
import json
import queue
import select
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from .._io.hints import cli_hint, plain_prompt
from .._model.errors import InvalidAnswerError
from .._model.feedback_kinds import FeedbackType
from .._model.task_order import request_rank

if TYPE_CHECKING:
    from .._engine.presenting import RunView, TaskState
    from .._model.feedback import FeedbackRequest, FeedbackResponse

#: Requests arriving together are gathered until this many seconds pass with none, or at most
#: GATHER_SECONDS, then asked in the workflow's order of tasks.
QUIET_SECONDS = 0.2
GATHER_SECONDS = 0.5

_YES = {"y", "yes", "a", "approve", "approved", "true", "1"}
_NO = {"n", "no", "r", "reject", "rejected", "false", "0"}


#: What a person types at the prompt to choose none of a multi-selection's options.
_NONE = "none"
_CHOOSE_ANY = f"choose any (numbers or names, separated by commas), or type {_NONE} to choose none"


def parse_console_answer(request: FeedbackRequest, line: str) -> dict[str, Any]:
    """Turn a line typed at the prompt into answer fields; raise ValueError with a hint if it cannot."""
    text = line.strip()
    kind = request.feedback_type
    if kind is FeedbackType.APPROVAL:
        word, _, reason = text.partition(" ")
        if word.lower() in _YES | _NO:
            return {"approved": word.lower() in _YES, "reason": reason.strip() or None}
        raise ValueError("type y (approve) or n (reject), optionally followed by a reason")
    if kind is FeedbackType.TEXT:
        if not text:  # (an Enter pressed by mistake; the CLI refuses an empty --text too)
            raise ValueError("type the answer (an empty line is not one)")
        return {"text": line.rstrip("\n")}
    if kind in (FeedbackType.SELECTION, FeedbackType.MULTI_SELECTION):
        options = request.options or []
        if kind is FeedbackType.MULTI_SELECTION and text.lower() == _NONE and _NONE not in options:
            return {"selected": []}
        if not text:
            raise ValueError("type one option's number or name" if kind is FeedbackType.SELECTION else _CHOOSE_ANY)
        picks = [p.strip() for p in text.split(",") if p.strip()]
        chosen = [options[int(p) - 1] if p.isdigit() and 0 < int(p) <= len(options) else p for p in picks]
        if kind is FeedbackType.SELECTION:
            if len(chosen) != 1:
                raise ValueError("type one option's number or name")
            return {"selected": chosen[0]}
        return {"selected": chosen}
    if kind is FeedbackType.NUMBER:
        try:
            numbers = [float(part) for part in text.split(",")]
        except ValueError:
            raise ValueError(f"{text!r} is not a number" + (" pair like 2, 8" if request.value_range else "")) from None
        whole = [int(n) if n.is_integer() and request.integer else n for n in numbers]
        return {"value": whole if request.value_range else whole[0]}
    what = "the answer" if kind is FeedbackType.CUSTOM else "the form"
    try:
        return {"data": json.loads(text)}
    except ValueError:
        raise ValueError(f'type {what} as a JSON object, e.g. {{"field": 1}}') from None


def prompt_text(request: FeedbackRequest, deadline: datetime | None = None) -> str:
    """The question as shown at the prompt (with when it times out, if it does)."""
    until = f" (times out at {deadline.astimezone():%H:%M:%S %Z})" if deadline is not None else ""
    lines = [f"[{request.workflow} / {request.task_id} / {request.feedback_id}]{until} {plain_prompt(request.prompt)}"]
    kind = request.feedback_type
    if kind is FeedbackType.APPROVAL:
        lines.append("approve? [y/n] (a reason may follow)")
    elif kind in (FeedbackType.SELECTION, FeedbackType.MULTI_SELECTION):
        lines += [f"  {i}. {option}" for i, option in enumerate(request.options or [], start=1)]
        lines.append("choose one (number or name)" if kind is FeedbackType.SELECTION else _CHOOSE_ANY)
    elif kind is FeedbackType.NUMBER:
        bounded = request.min is not None and request.max is not None
        bounds = f" in [{request.min:g}, {request.max:g}]" if bounded else ""
        lines.append(f"a {'whole ' if request.integer else ''}number{bounds}")
    elif kind is FeedbackType.FORM:
        lines.append(f"{request.form_title} as JSON; fields: {list((request.form_schema or {}).get('properties', {}))}")
    elif kind is FeedbackType.CUSTOM:
        lines.append("a JSON object, on one line")
    return "\n".join(lines) + "\n> "


def _waiting(request: FeedbackRequest) -> str:
    """A request in one line: its type, id, task and prompt."""
    return f"{request.feedback_type.value} {request.feedback_id} ({request.task_id}): {plain_prompt(request.prompt)}"


def _still_asking(asking: FeedbackRequest | None) -> str:
    """What a prompt drawn again asks, as a line (empty if nothing is asked)."""
    return "" if asking is None else f"still asking {asking.task_id}: {plain_prompt(asking.prompt)}\n"


#: A request for the prompt: its run, itself, and when it times out.
_Asked = tuple["RunView", "FeedbackRequest", "datetime | None"]


class ConsolePresenter:
    """Announces requests on a stream; with ``interactive`` it also asks them at a terminal prompt."""

    def __init__(self, interactive: bool, output: IO[str] | None = None, source: IO[str] | None = None) -> None:
        self.interactive = interactive
        self.output = output or sys.stderr
        self.source = source or sys.stdin
        # what waits for the prompt, the workflow's first task first (parallel tasks ask in any order);
        # None (last) stops the prompt
        self._queue: queue.PriorityQueue[tuple[tuple[int, ...], int, _Asked | None]] = queue.PriorityQueue()
        self._arrivals = itertools.count()
        self._lock = threading.Lock()  # guards the three below (the run's loop and the prompt's thread)
        self._settled: set[str] = set()  # the requests answered or closed
        self._asking: FeedbackRequest | None = None  # the request asked at the prompt now
        self._typed_here: set[str] = set()  # the requests answered at the prompt
        self._told_how_else = False  # (under the lock) whether a person at the prompt was told of the CLI
        self._unannounced: list[tuple[tuple[int, ...], int, _Asked]] = []  # (under the lock) queued, not yet said
        self._reader: threading.Thread | None = None
        self._closed = threading.Event()
        self._prompting = threading.Event()  # set while a request is asked at the prompt
        self._ranked: tuple[object, int, Callable[[FeedbackRequest], tuple[int, int, int]]] | None = None

    def _say(self, text: str) -> None:
        self.output.write(text)
        self.output.flush()

    def task_changed(self, run: RunView, task_id: str, state: TaskState) -> None:
        """Nothing to show."""

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        """Announce the request (at a terminal: with those arriving with it, in the workflow's order of
        tasks, just before the prompt); queue it for the prompt when interactive."""
        if not self.interactive:
            commands = cli_hint(request, run.store.directory, redis=run.workers_redis).replace("\n", "\n    ")
            self._say(f"graflow_nb: waiting for {_waiting(request)}\n  answer from elsewhere:\n    {commands}\n")
            return
        record = run.state.records.get(request.feedback_id)  # (on the run's loop: its state is ours to read)
        deadline = record.deadline if record is not None else None
        item = (self._rank(run)(request), next(self._arrivals), (run, request, deadline))
        with self._lock:
            if self._prompting.is_set():  # a person is at the prompt: one line now, asked there in its turn
                self._discard_typed(keep_entered=True)  # the prompt is drawn again under the line (see _note)
                how = "`graflow-nb list` shows how to answer it"
                self._say(f"\ngraflow_nb: also waiting: {_waiting(request)} ({how})\n{_still_asking(self._asking)}> ")
            else:
                self._unannounced.append(item)
            self._queue.put(item)
        if self._reader is None:
            self._reader = threading.Thread(target=self._prompt_loop, name="graflow-nb-console", daemon=True)
            self._reader.start()

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """Report an answer (or a close) and drop the request from the prompt."""
        with self._lock:
            self._settled.add(request.feedback_id)
        which = f"{request.feedback_id} ({request.task_id})"
        if response is None:
            self._note(request, f"graflow_nb: {which} closed without an answer\n")
        else:
            self._note(
                request, f"graflow_nb: {which} {response.summary()} (by {response.responded_by} via {response.via})\n"
            )

    def deadline_moved(self, request: FeedbackRequest, deadline: datetime) -> None:
        """Say until when the request now waits."""
        when = deadline.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        self._note(
            request,
            f"graflow_nb: {request.feedback_id} ({request.task_id}) now waits until {when} (more time was given)\n",
        )

    def _note(self, request: FeedbackRequest, line: str) -> None:
        """Say ``line``; while a person is at the prompt, on a line of its own, and the prompt drawn again
        under it (unless it is the answer just typed there, or the request asked leaves the prompt)."""
        with self._lock:
            asking, typed_here = self._asking, request.feedback_id in self._typed_here
        if asking is None or (asking.feedback_id == request.feedback_id and typed_here):
            self._say(line)
            return
        leaves = asking.feedback_id == request.feedback_id
        # the prompt is left, or drawn again under the line: what was typed there is no longer on screen
        # (a line entered just now for the prompt drawn again is still its answer)
        self._discard_typed(keep_entered=not leaves)
        self._say(f"\n{line}" if leaves else f"\n{line}{_still_asking(asking)}> ")

    def _discard_typed(self, *, keep_entered: bool = False) -> None:
        """Drop what a person typed at a terminal and has not entered (the terminal holds it until Enter,
        and would add it to the next line read: to another request's answer, or to the shell's), and
        lines entered but not yet read unless ``keep_entered``."""
        try:
            import fcntl
            import termios

            if not self.source.isatty():
                return
            descriptor = self.source.fileno()
            if keep_entered:  # (at a terminal's prompt, what can be read is the lines entered)
                entered = int.from_bytes(fcntl.ioctl(descriptor, termios.FIONREAD, bytes(4)), sys.byteorder)
                if entered:
                    return
            termios.tcflush(descriptor, termios.TCIFLUSH)
        except (ImportError, OSError, ValueError, AttributeError):  # no terminal here (Windows, a pipe)
            pass

    def _rank(self, run: RunView) -> Callable[[FeedbackRequest], tuple[int, int, int]]:
        """The sort key of the run's requests (made again only when its tasks change: on the loop)."""
        tasks = run.graph.tasks
        if self._ranked is None or self._ranked[0] is not tasks or self._ranked[1] != len(tasks):
            self._ranked = (tasks, len(tasks), request_rank(list(tasks)))
        return self._ranked[2]

    def run_ended(self, run: RunView) -> None:
        """Stop prompting (a prompt on screen is ended by a newline, so what the run says next starts on a
        line of its own)."""
        self._closed.set()
        if self._prompting.is_set():
            self._discard_typed()
            self._say("\n")
        self._queue.put(((sys.maxsize,), next(self._arrivals), None))

    def _prompt_loop(self) -> None:
        while (item := self._next_to_ask()) is not None:
            run, request, deadline = item
            if not self._is_settled(request) and not self._closed.is_set():
                with self._lock:  # (show() decides under it whether to announce a request itself)
                    self._announce_arrived()
                    self._prompting.set()
                    self._asking = request
                try:
                    self._ask(run, request, deadline)
                finally:
                    with self._lock:
                        self._asking = None
                    self._prompting.clear()

    def _announce_arrived(self) -> None:
        """Say, in the workflow's order of tasks, one line for each request that arrived since the prompt
        was last free and still waits (under the lock)."""
        for _rank, _arrival, (_run, request, _deadline) in sorted(self._unannounced, key=lambda item: item[:2]):
            if request.feedback_id in self._settled:
                continue
            how_else = "" if self._told_how_else else " (asked below; `graflow-nb list` shows how to answer elsewhere)"
            self._told_how_else = True
            self._say(f"graflow_nb: waiting for {_waiting(request)}{how_else}\n")
        self._unannounced.clear()

    def _is_settled(self, request: FeedbackRequest) -> bool:
        with self._lock:
            return request.feedback_id in self._settled

    def _next_to_ask(self) -> _Asked | None:
        """The waiting request of the workflow's first task (None: stop). After a quiet spell, requests
        that arrive together are let in first (until :data:`QUIET_SECONDS` pass with no arrival, at most
        :data:`GATHER_SECONDS`): parallel tasks ask in whatever order their threads get to it."""
        first = self._queue.get()
        if first[2] is not None and self._queue.empty():
            gathered, until = [first], time.monotonic() + GATHER_SECONDS
            while (left := until - time.monotonic()) > 0:
                try:
                    gathered.append(self._queue.get(timeout=min(QUIET_SECONDS, left)))
                except queue.Empty:
                    break
            for item in gathered:
                self._queue.put(item)
            first = self._queue.get()
        return first[2]

    def _ask(self, run: RunView, request: FeedbackRequest, deadline: datetime | None) -> None:
        from .._model.feedback import FeedbackAlreadySettledError  # loaded with the request already

        self._say(prompt_text(request, deadline))
        while True:
            if self._is_settled(request) or self._closed.is_set():
                self._discard_typed()  # answered elsewhere, or the run ended: nothing typed here goes on
                return
            line = self._read_line()
            if line is None:
                continue
            if line == "":  # end of input: leave the request to other answerers
                return
            try:
                answer = parse_console_answer(request, line)
            except ValueError as error:
                self._say(f"{error}\n> ")
                continue
            with self._lock:
                self._typed_here.add(request.feedback_id)
            try:
                run.answer(request.feedback_id, via="console", **answer)
                return
            except FeedbackAlreadySettledError as error:
                self._say(f"{error}\n")
                return
            except InvalidAnswerError as error:  # refused: asked again, as if nothing had been typed
                with self._lock:
                    self._typed_here.discard(request.feedback_id)
                self._say(f"{error}\n> ")
            except RuntimeError:  # the run ended while the person typed
                return

    def _read_line(self) -> str | None:
        """A line, '' at end of input, or None after a short wait so settled requests are noticed."""
        try:
            ready, _, _ = select.select([self.source], [], [], 0.1)
        except (OSError, ValueError, TypeError):  # no selectable descriptor (e.g. Windows)
            ready = [self.source]
        if not ready:
            return None
        return self.source.readline()
