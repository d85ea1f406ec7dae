"""A local HTTP server that records the JSON POSTed to it: try notifications without Slack."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

#: How the receiver answers one POST: an HTTP status, or ``"hang"`` (never answer).
Reply = int | Literal["hang"]


@dataclass(frozen=True)
class ReceivedPost:
    """One POST the receiver got."""

    path: str
    body: Any  #: the parsed JSON (None if the body was not JSON)
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many senders connect at once; the default backlog of 5 resets some


class WebhookReceiver:
    """Listens on 127.0.0.1 (a free port) and records every POST.

    ``replies`` answer the first POSTs in order (e.g. ``[500, 500]``; ``"hang"`` holds the
    connection without answering); later POSTs get 200. Use it as a context manager, or call
    :meth:`close`.
    """

    def __init__(self, replies: Iterable[Reply] = (), host: str = "127.0.0.1") -> None:
        self._replies = list(replies)
        self._changed = threading.Condition()
        self._released = threading.Event()
        self.received: list[ReceivedPost] = []
        self._server = _Server((host, 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:8765``; any path below it is accepted."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedPost]:
        """The POSTs received once there are at least ``count``; TimeoutError after ``timeout`` s."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} of {count} POSTs arrived within {timeout} s")
            return list(self.received)

    def close(self) -> None:
        """Release held connections and stop listening."""
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _record(self, post: ReceivedPost) -> Reply:
        with self._changed:
            self.received.append(post)
            self._changed.notify_all()
            return self._replies.pop(0) if self._replies else 200

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                reply = receiver._record(ReceivedPost(self.path, body, dict(self.headers.items())))
                if reply == "hang":
                    receiver._released.wait()
                    return
                self.send_response(reply)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
                """Quiet: the receiver's record is ``received``."""

        return Handler
