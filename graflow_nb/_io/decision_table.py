"""The decision log as a table: HTML in a notebook, aligned text in a terminal."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .decision_log import DecisionLog
from .hints import plain_prompt
from .store import CheckpointStore

_COLUMNS = ("when", "event", "workflow", "task", "feedback id", "who", "via", "what")


@dataclass(frozen=True)
class DecisionTable:
    """Entries of a decision log; display it in a notebook, print it in a terminal, or read ``entries``."""

    entries: list[dict[str, Any]]
    source: str

    def rows(self) -> list[tuple[str, ...]]:
        """One row of display text per entry, in the order of ``_COLUMNS``."""
        return [
            (
                _local_time(entry.get("at")),
                str(entry.get("event", "")),
                str(entry.get("workflow", "")),
                str(entry.get("task_id", "")),
                str(entry.get("feedback_id", "")),
                str(entry.get("by", "")),
                str(entry.get("via", "")),
                _what(entry),
            )
            for entry in self.entries
        ]

    def __str__(self) -> str:
        rows = self.rows()
        if not rows:
            return f"no decisions logged in {self.source}"
        widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS) - 1)]
        lines = []
        for row in [_COLUMNS, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
            lines.append("  ".join([*cells, row[-1]]))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        rows = self.rows()
        if not rows:
            return f"<p>No decisions logged in <code>{html.escape(self.source)}</code>.</p>"
        head = "".join(f"<th style='text-align:left'>{html.escape(name)}</th>" for name in _COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def decision_log(
    checkpoint_dir: str | os.PathLike[str] | None = None,
    *,
    workflow: str | None = None,
    run_id: str | None = None,
    feedback_id: str | None = None,
) -> DecisionTable:
    """Who decided what, when, through which channel: the decision log beside the checkpoints.

    In a notebook the result shows as a table; ``print()`` it in a terminal; ``.entries`` holds
    the raw entries. Filter by ``workflow``, ``run_id`` or ``feedback_id``.
    """
    log = DecisionLog(CheckpointStore(checkpoint_dir).directory)
    wanted = {"workflow": workflow, "run_id": run_id, "feedback_id": feedback_id}
    entries = [
        entry
        for entry in log.entries()
        if all(value is None or entry.get(key) == value for key, value in wanted.items())
    ]
    return DecisionTable(entries=entries, source=str(log.path))


def _local_time(stamp: Any) -> str:
    try:
        return datetime.fromisoformat(str(stamp)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(stamp)


def _what(entry: dict[str, Any]) -> str:
    event = entry.get("event")
    if event == "requested":
        options = entry.get("options")
        return plain_prompt(str(entry.get("prompt", ""))) + (f" {options}" if options else "")
    if event == "answered":
        return str(entry.get("answer", ""))
    if event == "refused":
        return f"{entry.get('value')}: {entry.get('reason', '')}"
    if event == "extended":
        return f"deadline moved to {_local_time(entry.get('deadline'))}"
    if event == "timed_out" and entry.get("reason"):
        return str(entry["reason"])
    if event == "timed_out":
        timeout = entry.get("timeout")
        return f"no answer within {timeout:g} s" if isinstance(timeout, (int, float)) else "no answer in time"
    return str(entry.get("reason") or "")
