"""Background delivery of notification POSTs, with bounded retries; never blocks or fails a run.

Each destination URL has its own queue and daemon thread, so its messages arrive in order and a
destination that never answers delays nobody else. Connection errors, timeouts, 429 and 5xx are
retried with exponential backoff; other 4xx are final. A delivery that finally fails is logged once,
with the reason and the redacted URL (the URL itself is a secret: Slack's carry a token).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from .._model.notification_config import redact_url, scrub_secrets

logger = logging.getLogger("graflow_nb.notifications")

#: Environment variable that turns sending off (``off``), e.g. for CI runs of notebooks that notify Slack.
NOTIFICATIONS_ENV = "GRAFLOW_NB_NOTIFICATIONS"


def notifications_enabled() -> bool:
    """False when ``$GRAFLOW_NB_NOTIFICATIONS`` is ``off`` (or ``0``, ``false``, ``no``)."""
    return os.environ.get(NOTIFICATIONS_ENV, "").strip().lower() not in ("off", "0", "false", "no")


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard to try: ``attempts`` POSTs at most, waiting ``first_backoff`` s, then doubling, between."""

    attempts: int = 4
    first_backoff: float = 0.5
    max_backoff: float = 8.0
    timeout: float = 5.0  #: seconds for one POST (connect + answer)
    exit_wait: float = 5.0  #: seconds the interpreter waits at exit for deliveries still under way
    idle_exit: float = 30.0  #: seconds a destination's thread waits for more before it ends


@dataclass(frozen=True)
class Delivery:
    """One JSON body to POST to one URL; ``label`` says what it is in logs (e.g. the event and feedback id)."""

    url: str
    body: dict[str, Any]
    label: str


class _RetryableError(Exception):
    """A failed POST worth another try (connection, timeout, 429, 5xx)."""


class _FinalError(Exception):
    """A failed POST that another try would not mend (4xx)."""


class NotificationSender:
    """Posts deliveries in the background; one ordered queue and daemon thread per destination, which
    ends once the destination has been idle for ``policy.idle_exit`` seconds (many one-off URLs do not
    leave as many threads behind)."""

    def __init__(self, policy: DeliveryPolicy | None = None) -> None:
        self.policy = policy or DeliveryPolicy()
        self._queues: dict[str, queue.Queue[Delivery]] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._unfinished = 0

    def send(self, delivery: Delivery) -> None:
        """Queue a delivery and return at once."""
        with self._lock:  # the put too: a destination's thread retires under this lock, never with work queued
            self._unfinished += 1
            destination = self._queues.get(delivery.url)
            if destination is None:
                destination = self._queues[delivery.url] = queue.Queue()
                threading.Thread(
                    target=self._serve, args=(delivery.url, destination), name="graflow-nb-notify", daemon=True
                ).start()
            destination.put(delivery)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued delivery succeeded or was given up; return False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def _serve(self, url: str, destination: queue.Queue[Delivery]) -> None:
        while True:
            try:
                delivery = destination.get(timeout=self.policy.idle_exit)
            except queue.Empty:
                with self._lock:
                    if destination.empty():
                        del self._queues[url]
                        return
                continue
            try:
                self._deliver(delivery)
            except Exception as error:  # noqa: BLE001 - whatever goes wrong, say so (URL redacted) and go on
                self._give_up(delivery, 1, scrub_secrets(f"{type(error).__name__}: {error}"))
            finally:
                with self._idle:
                    self._unfinished -= 1
                    self._idle.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        policy = self.policy
        data = json.dumps(delivery.body, default=str).encode()
        backoff = policy.first_backoff
        for attempt in range(1, policy.attempts + 1):
            try:
                _post(delivery.url, data, policy.timeout)
                return
            except _RetryableError as error:
                reason = str(error)
            except _FinalError as error:
                self._give_up(delivery, attempt, str(error))
                return
            if attempt < policy.attempts:
                time.sleep(min(backoff, policy.max_backoff))
                backoff *= 2
        self._give_up(delivery, policy.attempts, reason)

    @staticmethod
    def _give_up(delivery: Delivery, attempts: int, reason: str) -> None:
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        logger.warning(
            "notification %s to %s not delivered after %s: %s",
            delivery.label,
            redact_url(delivery.url),
            tries,
            reason,
        )


def _post(url: str, data: bytes, timeout: float) -> None:
    """POST once; raise _RetryableError or _FinalError with a reason free of the URL."""
    import urllib.error  # here, not at the top: urllib.request (with ssl) is slow to import
    import urllib.request

    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "graflow-nb"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # http(s) only: checked at request time
            answer.read()
    except urllib.error.HTTPError as error:
        reason = f"HTTP {error.code} {error.reason}"
        if error.code == 429 or error.code >= 500:
            raise _RetryableError(reason) from None
        raise _FinalError(reason) from None
    except urllib.error.URLError as error:
        raise _RetryableError(f"cannot connect ({error.reason})") from None
    except TimeoutError:
        raise _RetryableError(f"no answer within {timeout:g} s") from None
    except OSError as error:
        raise _RetryableError(error.strerror or type(error).__name__) from None


_sender: NotificationSender | None = None
_sender_lock = threading.Lock()


def notification_sender() -> NotificationSender:
    """The process's sender, started on first use; at exit it waits briefly for deliveries under way."""
    global _sender  # noqa: PLW0603 - one sender per process, created lazily
    with _sender_lock:
        if _sender is None:
            _sender = NotificationSender()
            atexit.register(_finish_at_exit, _sender)
        return _sender


def configure_notifications(
    *,
    attempts: int | None = None,
    first_backoff: float | None = None,
    timeout: float | None = None,
    exit_wait: float | None = None,
) -> DeliveryPolicy:
    """Change how notifications are delivered (attempts, backoff, per-POST timeout, wait at exit)."""
    sender = notification_sender()
    current = sender.policy
    changes = {"attempts": attempts, "first_backoff": first_backoff, "timeout": timeout, "exit_wait": exit_wait}
    for name, value in changes.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    if attempts is not None and attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    given: dict[str, Any] = {name: value for name, value in changes.items() if value is not None}
    if attempts is not None:
        given["attempts"] = int(attempts)
    sender.policy = dataclasses.replace(current, **given)
    return sender.policy


def _finish_at_exit(sender: NotificationSender) -> None:
    if not sender.flush(sender.policy.exit_wait):
        logger.warning("notifications still being delivered at exit were abandoned")
