"""How to answer a request from a terminal: complete commands, safe to paste, and prompts as plain text."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._model.feedback_kinds import FeedbackType

if TYPE_CHECKING:
    from .._model.feedback import FeedbackRequest


def plain_prompt(prompt: str) -> str:
    """A markdown prompt as one line of plain text (for the text stand-in): no ``**``, ``>`` or line breaks."""
    text = re.sub(r"(\*\*|__|`)", "", prompt)
    text = re.sub(r"^\s*(>|#+)\s?", "", text, flags=re.MULTILINE)
    return " ".join(text.split())


def cli_program() -> list[str]:
    """How a person runs the CLI from here: ``graflow-nb`` when it is on the PATH, else this Python's
    ``python -m graflow_nb`` (a virtualenv that is not activated, a kernel started by papermill)."""
    if shutil.which("graflow-nb"):
        return ["graflow-nb"]
    return [sys.executable, "-m", "graflow_nb"]


def cli_commands(request: FeedbackRequest, directory: str | os.PathLike[str], *, redis: str | None = None) -> list[str]:
    """Complete commands that answer a request from another terminal, one per choice, safe to paste.

    Every word is shell-quoted and the folder is absolute, so a command pasted anywhere does what it
    says and nothing else; placeholder values (a reason, a text) are plain words to replace. With
    ``redis`` (a URL without its password), the commands answer through that Redis (any machine).
    """
    start = [*cli_program(), "answer", request.feedback_id]
    end = ["--redis", redis] if redis else ["--dir", str(Path(directory).resolve())]
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


def cli_hint(request: FeedbackRequest, directory: str | os.PathLike[str], *, redis: str | None = None) -> str:
    """:func:`cli_commands` as lines of text (with the options left out, when there are many)."""
    lines = cli_commands(request, directory, redis=redis)
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
