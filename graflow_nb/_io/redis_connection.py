"""One way to reach Redis: a client for a URL, or one clear error (never a hang)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .._model.errors import GraflowRedisError

if TYPE_CHECKING:
    import redis

#: Seconds to connect to, and to wait on, Redis before saying it cannot be reached.
REDIS_TIMEOUT = 3.0


def redis_client(url: str, *, timeout: float = REDIS_TIMEOUT, decode: bool = True, why: str = "") -> redis.Redis:
    """A client of the Redis at ``url``, checked with a PING; GraflowRedisError if it cannot be had.

    ``why`` completes "… needs the redis client" when the package is missing.
    """
    try:
        import redis
    except ImportError:
        raise GraflowRedisError(
            f"{why or 'using Redis'} needs the redis client: pip install 'graflow-nb[graflow]'"
        ) from None
    try:
        client = redis.Redis.from_url(
            url, decode_responses=decode, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        client.ping()
    except (redis.RedisError, ValueError) as error:
        raise GraflowRedisError(f"cannot reach Redis at {redacted_url(url)}: {error}") from None
    return client


def redis_call(url: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``method(*args, **kwargs)`` on a client of the Redis at ``url``; its errors as one GraflowRedisError."""
    import redis

    try:
        return method(*args, **kwargs)
    except redis.RedisError as error:
        raise GraflowRedisError(f"cannot use Redis at {redacted_url(url)}: {error}") from None


def redacted_url(url: str) -> str:
    """A Redis URL without its password (it may be printed)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
