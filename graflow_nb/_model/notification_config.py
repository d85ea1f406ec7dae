"""Validation and redaction of the guide's ``notification_config``.

The URL in a config is a secret (Slack's carry a token). Only the redacted form is ever stored.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidFeedbackRequestError

#: The URL key each notification type uses, as the guide writes them.
URL_KEYS = {"webhook": "url", "slack": "webhook_url"}

_seen_urls: set[str] = set()
_seen_lock = threading.Lock()


def validate_notification_config(config: Any) -> dict[str, Any] | None:
    """Check a ``notification_config`` and return it as a plain dict (None stays None)."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise InvalidFeedbackRequestError(
            f"notification_config must be a dict like {{'type': 'webhook', 'url': ...}}, not {type(config).__name__}"
        )
    kind = config.get("type")
    if kind not in URL_KEYS:
        raise InvalidFeedbackRequestError(
            f"notification_config type {kind!r} is unknown; use one of {sorted(URL_KEYS)}"
        )
    url_key = URL_KEYS[kind]
    url = config.get(url_key)
    if not isinstance(url, str) or not url:
        raise InvalidFeedbackRequestError(f"notification_config of type {kind!r} needs {url_key!r}")
    with _seen_lock:
        _seen_urls.add(url)
    problem = _url_problem(url)
    if problem:
        raise InvalidFeedbackRequestError(
            f"notification_config {url_key!r} must be an http(s) URL with a host: {problem} in {redact_url(url)!r}"
        )
    message = config.get("message")
    if message is not None and not isinstance(message, str):
        raise InvalidFeedbackRequestError("notification_config 'message' must be a string")
    return dict(config)


def _url_problem(url: str) -> str | None:
    """What makes ``url`` unusable for a POST (the URL itself is a secret: never part of the answer)."""
    if any(character.isspace() or ord(character) < 0x20 or ord(character) == 0x7F for character in url):
        return "spaces or control characters"
    if not url.isascii():
        return "characters outside ASCII (percent-encode them)"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r}"
    if not parts.hostname:
        return "no host"
    try:
        parts.port  # noqa: B018 - parsing the port raises for a non-numeric or out-of-range one
    except ValueError:
        return "a port that is not a number from 0 to 65535"
    return None


def redact_url(url: str) -> str:
    """Keep a URL's scheme and host; drop the path, query and credentials that hold tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}/…(redacted)"


def redact_notification_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The form of a validated config that may be written to disk or logs."""
    if config is None:
        return None
    url_key = URL_KEYS[config["type"]]
    redacted = dict(config)
    redacted[url_key] = redact_url(config[url_key])
    return redacted


def scrub_secrets(text: str) -> str:
    """``text`` with every notification URL this process has seen replaced by its redacted form.

    For text graflow_nb stores or shows that may quote a task's code or arguments (error messages,
    tracebacks).
    """
    with _seen_lock:
        urls = sorted(_seen_urls, key=len, reverse=True)
    for url in urls:
        if url in text:
            text = text.replace(url, redact_url(url))
    return text
