"""Script mode: pending requests are announced on stderr and, in a terminal, answered at a prompt."""

from __future__ import annotations

import json
import os
import queue
import re
import select
import shlex
import shutil
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .._model.errors import FeedbackAlreadySettledError, InvalidAnswerError
from .._model.feedback import FeedbackRequest, FeedbackResponse, FeedbackType

if TYPE_CHECKING:
    from .._engine.engine import Engine, TaskState

_YES = {"y", "yes", "a", "approve", "approved", "true", "1"}
_NO = {"n", "no", "r", "reject", "rejected", "false", "0"}


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
        return {"text": line.rstrip("\n")}
    if kind in (FeedbackType.SELECTION, FeedbackType.MULTI_SELECTION):
        options = request.options or []
        picks = [p.strip() for p in text.split(",") if p.strip()] if text else []
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
    try:
        return {"data": json.loads(text)}
    except ValueError:
        raise ValueError('type the form as a JSON object, e.g. {"field": 1}') from None


def plain_prompt(prompt: str) -> str:
    """A markdown prompt as one line of plain text (for the text stand-in): no ``**``, ``>`` or line breaks."""
    text = re.sub(r"(\*\*|__|`)", "", prompt)
    text = re.sub(r"^\s*(>|#+)\s?", "", text, flags=re.MULTILINE)
    return " ".join(text.split())


def prompt_text(request: FeedbackRequest) -> str:
    """The question as shown at the prompt."""
    lines = [f"[{request.workflow} / {request.task_id}] {plain_prompt(request.prompt)}"]
    kind = request.feedback_type
    if kind is FeedbackType.APPROVAL:
        lines.append("approve? [y/n] (a reason may follow)")
    elif kind in (FeedbackType.SELECTION, FeedbackType.MULTI_SELECTION):
        lines += [f"  {i}. {option}" for i, option in enumerate(request.options or [], start=1)]
        lines.append(
            "choose one (number or name)"
            if kind is FeedbackType.SELECTION
            else "choose any, separated by commas (empty for none)"
        )
    elif kind is FeedbackType.NUMBER:
        bounded = request.min is not None and request.max is not None
        bounds = f" in [{request.min:g}, {request.max:g}]" if bounded else ""
        lines.append(f"a {'whole ' if request.integer else ''}number{bounds}")
    elif kind is FeedbackType.FORM:
        lines.append(f"{request.form_title} as JSON; fields: {list((request.form_schema or {}).get('properties', {}))}")
    return "\n".join(lines) + "\n> "


def cli_program() -> list[str]:
    """How a person runs the CLI from here: ``graflow-nb`` when it is on the PATH, else this Python's
    ``python -m graflow_nb`` (a virtualenv that is not activated, a kernel started by papermill)."""
    if shutil.which("graflow-nb"):
        return ["graflow-nb"]
    return [sys.executable, "-m", "graflow_nb"]


def cli_commands(request: FeedbackRequest, directory: str | os.PathLike[str]) -> list[str]:
    """Complete commands that answer a request from another terminal, one per choice, safe to paste.

    Every word is shell-quoted and the folder is absolute, so a command pasted anywhere does what it
    says and nothing else; placeholder values (a reason, a text) are plain words to replace.
    """
    start = [*cli_program(), "answer", request.feedback_id]
    end = ["--dir", str(Path(directory).resolve())]
    choices: list[list[str]]
    kind = request.feedback_type
    options = request.options or []
    if kind is FeedbackType.APPROVAL:
        choices = [["--approve"], ["--reject", "--reason", "why not"]]
    elif kind is FeedbackType.TEXT:
        choices = [["--text", "your answer"]]
    elif kind is FeedbackType.SELECTION:
        choices = [["--select", option] for option in options[:_SPELLED_OUT]]
    elif kind is FeedbackType.MULTI_SELECTION:
        choices = [[word for option in options[:2] for word in ("--select", option)]]
    elif kind is FeedbackType.NUMBER:
        choices = [[word for number in _example_numbers(request) for word in ("--value", _number(number))]]
    else:
        choices = [["--json", json.dumps(_example_form(request), separators=(",", ":"))]]
    return [shlex.join([*start, *choice, *end]) for choice in choices]


def cli_hint(request: FeedbackRequest, directory: str | os.PathLike[str]) -> str:
    """:func:`cli_commands` as lines of text (with the options left out, when there are many)."""
    lines = cli_commands(request, directory)
    hidden = (request.options or [])[_SPELLED_OUT:]
    if request.feedback_type is FeedbackType.SELECTION and hidden:
        lines.append(f"(or --select any of: {', '.join(shlex.quote(option) for option in hidden)})")
    return "\n".join(lines)


#: A selection's options spelled out as commands of their own, at most.
_SPELLED_OUT = 6


def _example_numbers(request: FeedbackRequest) -> list[float]:
    default = request.default
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return [default]
    if isinstance(default, (list, tuple)) and len(default) == 2:
        return [float(default[0]), float(default[1])]
    low = request.min if request.min is not None else 0.0
    high = request.max if request.max is not None else low
    return [low, high] if request.value_range else [low]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _example_form(request: FeedbackRequest) -> dict[str, Any]:
    if isinstance(request.default, dict):
        return request.default
    properties = (request.form_schema or {}).get("properties", {})
    return {name: spec.get("default") for name, spec in properties.items() if "default" in spec}


class ConsolePresenter:
    """Announces requests on a stream; with ``interactive`` it also asks them at a terminal prompt."""

    def __init__(self, interactive: bool, output: IO[str] | None = None, source: IO[str] | None = None) -> None:
        self.interactive = interactive
        self.output = output or sys.stderr
        self.source = source or sys.stdin
        self._queue: queue.Queue[tuple[Engine, FeedbackRequest] | None] = queue.Queue()
        self._settled: set[str] = set()
        self._reader: threading.Thread | None = None
        self._closed = threading.Event()

    def _say(self, text: str) -> None:
        self.output.write(text)
        self.output.flush()

    def task_changed(self, engine: Engine, task_id: str, state: TaskState) -> None:
        """Nothing to show."""

    def show(self, engine: Engine, request: FeedbackRequest) -> None:
        """Announce the request; queue it for the prompt when interactive."""
        commands = cli_hint(request, engine.store.directory).replace("\n", "\n    ")
        self._say(
            f"graflow_nb: waiting for {request.feedback_type.value} {request.feedback_id} "
            f"({request.task_id}): {plain_prompt(request.prompt)}\n  answer from elsewhere:\n    {commands}\n"
        )
        if self.interactive:
            self._queue.put((engine, request))
            if self._reader is None:
                self._reader = threading.Thread(target=self._prompt_loop, name="graflow-nb-console", daemon=True)
                self._reader.start()

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        """Report an answer (or a close) and drop the request from the prompt."""
        self._settled.add(request.feedback_id)
        if response is None:
            self._say(f"graflow_nb: {request.feedback_id} closed without an answer\n")
        else:
            self._say(
                f"graflow_nb: {request.feedback_id} {response.summary()} "
                f"(by {response.responded_by} via {response.via})\n"
            )

    def deadline_moved(self, request: FeedbackRequest, deadline: datetime) -> None:
        """Say until when the request now waits."""
        when = deadline.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        self._say(f"graflow_nb: {request.feedback_id} now waits until {when} (more time was given)\n")

    def run_ended(self, engine: Engine) -> None:
        """Stop prompting."""
        self._closed.set()
        self._queue.put(None)

    def _prompt_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            engine, request = item
            if request.feedback_id not in self._settled:
                self._ask(engine, request)

    def _ask(self, engine: Engine, request: FeedbackRequest) -> None:
        self._say(prompt_text(request))
        while request.feedback_id not in self._settled and not self._closed.is_set():
            line = self._read_line()
            if line is None:
                continue
            if line == "":  # end of input: leave the request to other answerers
                return
            try:
                answer = parse_console_answer(request, line)
                engine.feedback.submit_threadsafe(request.feedback_id, via="console", **answer)
                return
            except FeedbackAlreadySettledError as error:
                self._say(f"{error}\n")
                return
            except (InvalidAnswerError, ValueError) as error:
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
