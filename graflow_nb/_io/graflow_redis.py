"""Graflow's HITL requests kept in Redis (its ``RedisFeedbackBackend``): list them, and answer them.

A Graflow workflow whose feedback backend is Redis (its distributed mode, or a single process set up
so) keeps each request as JSON under ``feedback:request:<id>`` and waits for ``feedback:response:<id>``,
woken by a message on ``feedback:<id>``. graflow_nb reads those requests as its own
:class:`FeedbackRequest` (so every control and check it has applies), and answers as Graflow's own
feedback manager does: the response, the request marked completed, the message. Among graflow_nb's
answerers the first answer wins (an optimistic transaction on both keys). Needs the ``redis`` client
(``pip install graflow-nb[graflow]``); a server that cannot be reached is one clear error, not a hang.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .._model.answer_checks import make_response
from .._model.errors import FeedbackNotFoundError, GraflowRedisError
from .._model.feedback import (
    AnswerSource,
    FeedbackAlreadySettledError,
    FeedbackRequest,
    FeedbackResponse,
    FeedbackType,
    utc_now,
)

if TYPE_CHECKING:
    import redis

REQUEST_KEY = "feedback:request:{}"
RESPONSE_KEY = "feedback:response:{}"
NOTICE_CHANNEL = "feedback:{}"
#: A request Graflow's manager still takes an answer for (it accepts one after a timeout too: the run
#: then resumes from its checkpoint with it).
ANSWERABLE = ("pending", "timeout")
#: Seconds to connect to, and to wait on, Redis before saying it cannot be reached.
REDIS_TIMEOUT = 3.0


class GraflowRedisRequests:
    """The Graflow HITL requests in one Redis database."""

    def __init__(self, url: str, *, timeout: float = REDIS_TIMEOUT) -> None:
        try:
            import redis
        except ImportError:
            raise GraflowRedisError(
                "answering Graflow's requests in Redis needs the redis client: pip install 'graflow-nb[graflow]'"
            ) from None
        self.url = url
        try:
            self._client: redis.Redis = redis.Redis.from_url(
                url, decode_responses=True, socket_connect_timeout=timeout, socket_timeout=timeout
            )
            self._client.ping()
        except (redis.RedisError, ValueError) as error:
            raise GraflowRedisError(f"cannot reach Redis at {redacted_url(url)}: {error}") from None

    def requests(self, session_id: str | None = None, *, answerable_only: bool = True) -> list[GraflowRequest]:
        """The requests kept there (of one Graflow session if given), oldest first."""
        found = []
        keys = list(self._call(self._client.scan_iter, match=REQUEST_KEY.format("*"), count=500))
        for stored in self._call(self._client.mget, keys) if keys else []:  # one round trip for all of them
            request = _parsed(stored)
            if request is None or (session_id is not None and request.session_id != session_id):
                continue
            if answerable_only and request.status not in ANSWERABLE:
                continue
            found.append(request)
        return sorted(found, key=lambda request: request.request.created_at)

    def request(self, feedback_id: str) -> GraflowRequest:
        """One request, or FeedbackNotFoundError."""
        request = _parsed(self._call(self._client.get, REQUEST_KEY.format(feedback_id)))
        if request is None:
            raise FeedbackNotFoundError(feedback_id, redis_url=redacted_url(self.url))
        return request

    def response(self, feedback_id: str) -> dict[str, Any] | None:
        """The response stored for a request (Graflow's JSON), if any."""
        stored = self._call(self._client.get, RESPONSE_KEY.format(feedback_id))
        return json.loads(stored) if stored else None

    def answer(
        self, feedback_id: str, *, via: AnswerSource = "api", responded_by: str | None = None, **answer: Any
    ) -> FeedbackResponse:
        """Answer a request as Graflow's feedback manager does; the first answer wins.

        The answer is checked against the request as every answer is (InvalidAnswerError); one for a
        request already answered raises FeedbackAlreadySettledError naming who answered first.
        """
        import redis

        request_key, response_key = REQUEST_KEY.format(feedback_id), RESPONSE_KEY.format(feedback_id)
        with self._client.pipeline() as pipe:
            try:
                pipe.watch(request_key, response_key)  # type: ignore[no-untyped-call]
                stored_request = _text(pipe.get(request_key))
                found = _parsed(stored_request)
                if found is None or stored_request is None:
                    raise FeedbackNotFoundError(feedback_id, redis_url=redacted_url(self.url))
                self._refuse_if_settled(found, _text(pipe.get(response_key)))
                response = make_response(found.request, via=via, responded_by=responded_by, **answer)
                stored = json.loads(stored_request)
                pipe.multi()
                pipe.set(response_key, json.dumps(graflow_response(response)))
                pipe.set(request_key, json.dumps({**stored, "status": "completed"}))
                pipe.publish(NOTICE_CHANNEL.format(feedback_id), "completed")
                pipe.execute()
            except redis.WatchError:  # another answer came between our read and our write: it won
                raise self._settled(feedback_id, self.response(feedback_id)) from None
            except redis.RedisError as error:
                raise GraflowRedisError(f"cannot use Redis at {redacted_url(self.url)}: {error}") from None
        return response

    def _refuse_if_settled(self, found: GraflowRequest, stored_response: str | None) -> None:
        if stored_response:
            raise self._settled(found.request.feedback_id, json.loads(stored_response))
        if found.status not in ANSWERABLE:
            raise FeedbackAlreadySettledError(
                found.request.feedback_id, f"Graflow marks the request {found.status} (its run no longer waits)"
            )

    @staticmethod
    def _settled(feedback_id: str, first: dict[str, Any] | None) -> FeedbackAlreadySettledError:
        if first is None:
            return FeedbackAlreadySettledError(feedback_id, "another answer is being stored now")
        who = first.get("responded_by") or "someone"
        when = first.get("responded_at") or "an unknown time"
        return FeedbackAlreadySettledError(feedback_id, f"already answered by {who} at {when}")

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        import redis

        try:
            return method(*args, **kwargs)
        except redis.RedisError as error:
            raise GraflowRedisError(f"cannot use Redis at {redacted_url(self.url)}: {error}") from None


class GraflowRequest:
    """A Graflow request as graflow_nb's FeedbackRequest, with Graflow's session and status."""

    __slots__ = ("request", "session_id", "status")

    def __init__(self, request: FeedbackRequest, session_id: str, status: str) -> None:
        self.request = request
        self.session_id = session_id
        self.status = status


def _text(stored: bytes | str | None) -> str | None:
    """A stored value as text (the client decodes responses; bytes only from a client that does not)."""
    return stored.decode() if isinstance(stored, bytes) else stored


def _parsed(stored: str | None) -> GraflowRequest | None:
    """A stored Graflow request as ours; None for a key that holds something else."""
    if not stored:
        return None
    try:
        data = json.loads(stored)
        kind = FeedbackType(data["feedback_type"])
        if kind not in (
            FeedbackType.APPROVAL,
            FeedbackType.TEXT,
            FeedbackType.SELECTION,
            FeedbackType.MULTI_SELECTION,
            FeedbackType.CUSTOM,
        ):
            return None
        request = FeedbackRequest(
            feedback_id=str(data["feedback_id"]),
            feedback_type=kind,
            prompt=str(data["prompt"]),
            workflow="graflow",
            run_id=str(data["session_id"]),
            task_id=str(data["task_id"]),
            call_index=0,
            options=data.get("options"),
            timeout=data.get("timeout"),
            metadata=data.get("metadata") or {},
            channel_key=data.get("channel_key"),
            write_to_channel=bool(data.get("write_to_channel")),
            created_at=_graflow_time(data.get("created_at")),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return GraflowRequest(request, str(data["session_id"]), str(data.get("status", "pending")))


def graflow_response(response: FeedbackResponse) -> dict[str, Any]:
    """Our response in the JSON Graflow's ``FeedbackResponse`` reads."""
    multi = response.feedback_type is FeedbackType.MULTI_SELECTION
    return {
        "feedback_id": response.feedback_id,
        "response_type": response.feedback_type.value,
        "approved": response.approved,
        "reason": response.reason,
        "text": response.text,
        "selected": None if multi else response.selected,
        "selected_multiple": response.selected if multi else None,
        "custom_data": response.data if response.feedback_type is FeedbackType.CUSTOM else None,
        "responded_at": response.responded_at.astimezone().replace(tzinfo=None).isoformat(),
        "responded_by": response.responded_by,
    }


def _graflow_time(text: Any) -> datetime:
    """Graflow writes local times without a zone (``datetime.now().isoformat()``)."""
    if not isinstance(text, str):
        return utc_now()
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(timezone.utc) if parsed.tzinfo is None else parsed


def redacted_url(url: str) -> str:
    """A Redis URL without its password (it may be printed)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
