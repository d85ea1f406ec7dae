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
from typing import TYPE_CHECKING, Any, get_args

from .._model.answer_checks import make_response
from .._model.errors import FeedbackNotFoundError, GraflowRedisError
from .._model.feedback import FeedbackAlreadySettledError, FeedbackRequest, FeedbackResponse
from .._model.feedback_kinds import MAIN_ANSWER_FIELD, AnswerSource, FeedbackType
from .._util.clock import utc_now
from .redis_connection import REDIS_TIMEOUT, redacted_url, redis_call, redis_client

if TYPE_CHECKING:
    import redis

REQUEST_KEY = "feedback:request:{}"
RESPONSE_KEY = "feedback:response:{}"
NOTICE_CHANNEL = "feedback:{}"
#: The feedback types Graflow has (graflow_nb's number and form travel as custom).
GRAFLOW_TYPES = (
    FeedbackType.APPROVAL,
    FeedbackType.TEXT,
    FeedbackType.SELECTION,
    FeedbackType.MULTI_SELECTION,
    FeedbackType.CUSTOM,
)
#: Where a request of a graflow_nb run keeps itself whole, in the metadata of Graflow's JSON.
OUR_REQUEST = "graflow_nb_request"
#: A request Graflow's manager still takes an answer for (it accepts one after a timeout too: the run
#: then resumes from its checkpoint with it).
ANSWERABLE = ("pending", "timeout")


class GraflowRedisRequests:
    """The Graflow HITL requests in one Redis database."""

    def __init__(self, url: str, *, timeout: float = REDIS_TIMEOUT) -> None:
        self.url = url
        self._client: redis.Redis = redis_client(url, timeout=timeout, why="answering Graflow's requests in Redis")

    def requests(
        self, session_id: str | None = None, *, workflow: str | None = None, answerable_only: bool = True
    ) -> list[GraflowRequest]:
        """The requests kept there (of one Graflow session, one workflow, if given), oldest first.

        Graflow's own requests do not name their workflow: they are workflow ``"graflow"``; those of
        graflow_nb runs on Graflow's workers name theirs."""
        found = []
        keys = list(self._call(self._client.scan_iter, match=REQUEST_KEY.format("*"), count=500))
        for stored in self._call(self._client.mget, keys) if keys else []:  # one round trip for all of them
            request = _parsed(stored)
            if request is None or (session_id is not None and request.session_id != session_id):
                continue
            if workflow is not None and request.request.workflow != workflow:
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

    def put(self, request: FeedbackRequest, status: str = "pending") -> None:
        """Keep one of our requests as Graflow keeps its own (its answer, if one is there, stays)."""
        self._call(
            self._client.set, REQUEST_KEY.format(request.feedback_id), json.dumps(request_for_graflow(request, status))
        )

    def claim(self, response: FeedbackResponse) -> FeedbackResponse | None:
        """Store ``response`` unless another answer is there: None (ours stands, or it was this very one),
        or the answer that came first, as ours. The request, if kept, is marked completed."""
        import redis

        request_key, response_key = REQUEST_KEY.format(response.feedback_id), RESPONSE_KEY.format(response.feedback_id)
        ours = graflow_response(response)
        with self._client.pipeline() as pipe:
            try:
                pipe.watch(request_key, response_key)  # type: ignore[no-untyped-call]
                stored_response = _text(pipe.get(response_key))
                stored_request = _text(pipe.get(request_key))
                if stored_response:
                    first = json.loads(stored_response)
                    if _same_answer(first, ours):
                        return None
                    found = _parsed(stored_request)
                    if found is None:
                        raise self._settled(response.feedback_id, first)
                    return response_from_graflow(found.request, first)
                pipe.multi()
                pipe.set(response_key, json.dumps(ours))
                if stored_request:
                    pipe.set(request_key, json.dumps({**json.loads(stored_request), "status": "completed"}))
                pipe.publish(NOTICE_CHANNEL.format(response.feedback_id), "completed")
                pipe.execute()
            except redis.WatchError:  # another answer came between our read and our write: it won
                return self.claim(response)
            except redis.RedisError as error:
                raise GraflowRedisError(f"cannot use Redis at {redacted_url(self.url)}: {error}") from None
        return None

    def responses(self, feedback_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The responses stored for these requests (Graflow's JSON), in one round trip."""
        if not feedback_ids:
            return {}
        stored = self._call(self._client.mget, [RESPONSE_KEY.format(f) for f in feedback_ids])
        return {f: json.loads(text) for f, text in zip(feedback_ids, stored, strict=True) if text}

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
        return redis_call(self.url, method, *args, **kwargs)


class GraflowRequest:
    """A Graflow request as graflow_nb's FeedbackRequest, with Graflow's session and status."""

    __slots__ = ("request", "session_id", "status")

    def __init__(self, request: FeedbackRequest, session_id: str, status: str) -> None:
        self.request = request
        self.session_id = session_id
        self.status = status


def _same_answer(stored: dict[str, Any], ours: dict[str, Any]) -> bool:
    """Whether a stored response is this answer (the same fields, by the same person)."""
    fields = ("approved", "reason", "text", "selected", "selected_multiple", "custom_data", "value", "responded_by")
    return all(stored.get(field) == ours.get(field) for field in fields)


def _text(stored: bytes | str | None) -> str | None:
    """A stored value as text (the client decodes responses; bytes only from a client that does not)."""
    return stored.decode() if isinstance(stored, bytes) else stored


def _parsed(stored: str | None) -> GraflowRequest | None:
    """A stored Graflow request as ours; None for a key that holds something else."""
    if not stored:
        return None
    try:
        data = json.loads(stored)
        ours = (data.get("metadata") or {}).get(OUR_REQUEST)
        if ours is not None:  # a request of a graflow_nb run on Graflow's workers: every check of ours applies
            request = FeedbackRequest.model_validate(ours)
            return GraflowRequest(request, request.run_id, str(data.get("status", "pending")))
        kind = FeedbackType(data["feedback_type"])
        if kind not in GRAFLOW_TYPES:
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
        "response_type": _as_graflow_type(response.feedback_type),
        "approved": response.approved,
        "reason": response.reason,
        "text": response.text,
        "selected": None if multi else response.selected,
        "selected_multiple": response.selected if multi else None,
        "custom_data": _custom_data(response),
        "responded_at": _graflow_time_text(response.responded_at),
        "responded_by": response.responded_by,
        # graflow_nb's own (Graflow's model ignores keys it does not have)
        "feedback_type": response.feedback_type.value,
        "value": response.value,
        "closed": response.closed,
        "via": response.via,
    }


def _custom_data(response: FeedbackResponse) -> dict[str, Any] | None:
    if response.feedback_type is FeedbackType.CUSTOM:
        return response.data  # type: ignore[no-any-return]
    if response.feedback_type is FeedbackType.FORM:
        return response.data if isinstance(response.data, dict) else {"data": response.data}
    if response.feedback_type is FeedbackType.NUMBER:
        return {"value": response.value}
    return None


def response_from_graflow(request: FeedbackRequest, stored: dict[str, Any]) -> FeedbackResponse:
    """A response kept in Graflow's JSON as ours to ``request`` (checked as any answer is)."""
    kind = request.feedback_type
    if stored.get("closed"):
        given: dict[str, Any] = {"closed": True}
    elif kind is FeedbackType.MULTI_SELECTION:
        given = {"selected": stored.get("selected_multiple")}
    elif kind is FeedbackType.NUMBER:
        given = {"value": stored.get("value", (stored.get("custom_data") or {}).get("value"))}
    elif kind in (FeedbackType.FORM, FeedbackType.CUSTOM):
        given = {"data": stored.get("custom_data")}
    else:
        field = MAIN_ANSWER_FIELD[kind.value]
        given = {field: stored.get(field)}
    if stored.get("reason") is not None:
        given["reason"] = stored["reason"]
    via: AnswerSource = stored["via"] if stored.get("via") in get_args(AnswerSource) else "api"
    response = make_response(request, via=via, responded_by=stored.get("responded_by") or "graflow", **given)
    return response.model_copy(update={"responded_at": _graflow_time(stored.get("responded_at"))})


def request_for_graflow(request: FeedbackRequest, status: str = "pending") -> dict[str, Any]:
    """Our request in the JSON Graflow's ``FeedbackRequest`` reads, ours whole in its metadata."""
    return {
        "feedback_id": request.feedback_id,
        "task_id": request.task_id,
        "session_id": request.run_id,
        "feedback_type": _as_graflow_type(request.feedback_type),
        "prompt": request.prompt,
        "options": request.options,
        "metadata": {**request.metadata, OUR_REQUEST: request.model_dump(mode="json")},
        "created_at": _graflow_time_text(request.created_at),
        "timeout": request.timeout if request.timeout is not None else 0.0,
        "status": status,
        "channel_key": request.channel_key,
        "write_to_channel": request.write_to_channel,
    }


def _as_graflow_type(kind: FeedbackType) -> str:
    """A feedback type as Graflow names it: graflow_nb's number and form travel as custom."""
    return (kind if kind in GRAFLOW_TYPES else FeedbackType.CUSTOM).value


def _graflow_time_text(moment: datetime) -> str:
    """A time as Graflow writes one: local, without a zone."""
    return moment.astimezone().replace(tzinfo=None).isoformat()


def _graflow_time(text: Any) -> datetime:
    """Graflow writes local times without a zone (``datetime.now().isoformat()``)."""
    if not isinstance(text, str):
        return utc_now()
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(timezone.utc) if parsed.tzinfo is None else parsed
