"""Handing an answer to the live run that asks for it, over the port it listens on (``wake_signal.py``).

The run has everything loaded: it checks the answer, files it and replies with what happened, so
``graflow-nb answer`` never loads pydantic nor reads the checkpoints when a run is waiting live. Two
exchanges, each a JSON datagram on 127.0.0.1 carrying the token of the run's wake file:

1. ``{"ask": "describe", "feedback_id"}`` to every live listener; the run that waits for the request
   replies ``{"feedback_type", "run_id", "workflow"}``, the others ``{"mine": false}``;
2. ``{"ask": "answer", "feedback_id", "answer", "responded_by"}`` to that run, which replies
   ``{"summary", "responded_by"}`` once the answer is filed, or ``{"refused", "invalid"}``.

Whatever goes wrong (no listener, no reply in time, an answer too large for a datagram), the caller
falls back to reading the folder as before; an answer is never filed twice (the first filed wins).
"""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .wake_signal import LOCALHOST, MESSAGE_LIMIT, Listener, live_listeners

#: Seconds to wait for the runs to say whose request it is (each replies within a loop turn).
DESCRIBE_SECONDS = 0.5
#: Seconds to wait for the run to file the answer (a write and an fsync in a worker thread).
ANSWER_SECONDS = 5.0


@dataclass(frozen=True)
class LiveRequest:
    """A request a live run waits for, as it described it."""

    listener: Listener
    feedback_id: str
    feedback_type: str
    run_id: str
    workflow: str


@dataclass(frozen=True)
class HandedAnswer:
    """What the run did with the answer: filed (``summary``, ``responded_by``) or refused."""

    summary: str = ""
    responded_by: str = ""
    refused: str = ""  #: why, when refused
    invalid: bool = False  #: refused because the answer does not fit the request


def find_live_request(checkpoint_dir: Path, feedback_id: str) -> LiveRequest | None:
    """The live run waiting for ``feedback_id``, as it describes the request; None if none says so."""
    listeners = [listener for listener in live_listeners(checkpoint_dir) if listener.token]
    if not listeners:
        return None
    with _socket() as channel:
        for listener in listeners:
            _send(channel, listener, {"ask": "describe", "feedback_id": feedback_id})
        deadline = time.monotonic() + DESCRIBE_SECONDS
        unanswered = {listener.port: listener for listener in listeners}
        while unanswered:
            reply = _receive(channel, deadline)
            if reply is None:
                return None
            port, content = reply
            owner = unanswered.pop(port) if port in unanswered else None
            if owner is None or not content.get("mine", True):
                continue
            try:
                return LiveRequest(
                    owner,
                    feedback_id,
                    str(content["feedback_type"]),
                    str(content["run_id"]),
                    str(content["workflow"]),
                )
            except KeyError:
                return None
    return None


def hand_answer(request: LiveRequest, answer: dict[str, Any], responded_by: str) -> HandedAnswer | None:
    """Give the answer to the run that waits for it; what it did, or None when it did not reply in time
    (or the answer is too large to send): the caller then files it on disk."""
    message = {"ask": "answer", "feedback_id": request.feedback_id, "answer": answer, "responded_by": responded_by}
    with _socket() as channel:
        if not _send(channel, request.listener, message):
            return None
        reply = _receive(channel, time.monotonic() + ANSWER_SECONDS)
    if reply is None or reply[0] != request.listener.port:
        return None
    content = reply[1]
    if "refused" in content:
        return HandedAnswer(refused=str(content["refused"]), invalid=bool(content.get("invalid")))
    if "summary" not in content:
        return None
    return HandedAnswer(summary=str(content["summary"]), responded_by=str(content.get("responded_by", "")))


def read_message(content: bytes, token: str) -> dict[str, Any] | None:
    """A message for the run holding ``token``; None for a nudge, a stranger's datagram or garbage."""
    if not content or not token:
        return None
    try:
        message = json.loads(content)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or message.pop("token", None) != token:
        return None
    return message


def encode_reply(content: dict[str, Any]) -> bytes:
    """A reply's datagram."""
    return json.dumps(content).encode()


def _socket() -> socket.socket:
    channel = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    channel.bind((LOCALHOST, 0))
    return channel


def _send(channel: socket.socket, listener: Listener, message: dict[str, Any]) -> bool:
    data = json.dumps({**message, "token": listener.token}).encode()
    if len(data) > MESSAGE_LIMIT:
        return False
    try:
        channel.sendto(data, (LOCALHOST, listener.port))
    except OSError:
        return False
    return True


def _receive(channel: socket.socket, deadline: float) -> tuple[int, dict[str, Any]] | None:
    """The next reply before ``deadline``: the port it came from and its content; None at the deadline."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([channel], [], [], remaining)
        if not ready:
            return None
        try:
            data, (host, port) = channel.recvfrom(MESSAGE_LIMIT)
        except OSError:
            return None
        if host != LOCALHOST:
            continue
        try:
            content = json.loads(data)
        except ValueError:
            continue
        if isinstance(content, dict):
            return port, content
