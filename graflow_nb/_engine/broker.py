"""The feedback broker of a run: asks a task's questions, waits, and takes answers from every source.

Widgets, the console, the API in this process (:meth:`FeedbackBroker.submit`) and the answers folder
that other processes write (polled while tasks wait) all go through one path: the first valid answer
is filed exclusively, recorded, and wakes the waiting task.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from pydantic import BaseModel

from .._io.answer_handoff import encode_reply, read_message
from .._io.decision_log import RefusalLog
from .._io.store import CheckpointStore
from .._io.wake_signal import Message, WakeListener, listening
from .._model.answer_checks import make_response
from .._model.checkpoint import RequestRecord
from .._model.errors import FeedbackNotFoundError, FeedbackTimeoutError, InvalidAnswerError
from .._model.feedback import (
    FeedbackAlreadySettledError,
    FeedbackRequest,
    FeedbackResponse,
    LiveParts,
    already_settled,
    given_fields,
)
from .._model.feedback_kinds import ANSWER_FIELDS, MAIN_ANSWER_FIELD, AnswerSource
from .._model.status import RunStatus
from .._util.clock import utc_now
from .._util.worker_pool import run_in_shared_pool
from .deadline_keeper import DeadlineKeeper
from .filed import file_first, filed_ids, read_filed, read_filed_deadlines
from .presenting import FeedbackPresenter, NobodyWatching, RunView
from .request_events import RequestEvents
from .state import RunEndedError, RunState
from .waiting import Waiting, given_to_task, seconds_until

T = TypeVar("T")


class BrokerHost(Protocol):
    """What the broker needs of its run (the engine)."""

    @property
    def view(self) -> RunView: ...
    @property
    def state(self) -> RunState: ...
    @property
    def store(self) -> CheckpointStore: ...
    @property
    def unattended(self) -> NobodyWatching | None: ...

    @property
    def presenters(self) -> Sequence[FeedbackPresenter]: ...
    @property
    def stopping(self) -> bool: ...
    def mark_dirty(self) -> None: ...
    async def save_changes(self) -> None: ...
    def request_stop(self, status: RunStatus, reason: str | None) -> None: ...
    def run_on_loop(self, func: Callable[[], T]) -> T: ...
    def on_loop_thread(self) -> bool: ...
    def spawn(
        self, func: Callable[[FeedbackResponse], Coroutine[Any, Any, object]], response: FeedbackResponse, /
    ) -> bool: ...


class FeedbackBroker:
    """The requests of one run and the tasks waiting for their answers."""

    def __init__(self, engine: BrokerHost, poll_interval: float = 0.1) -> None:
        self._engine = engine
        self.poll_interval = poll_interval
        self._waiting: dict[str, Waiting] = {}
        self._filing: set[str] = set()  # requests whose answer is being filed now (one at a time)
        self._timeouts_as_written: set[str] = set()  # an answers file lets these time out as written
        self.events = RequestEvents(engine.store)
        self.deadlines = DeadlineKeeper(engine, self._waiting, self.events)

    def extend(self, feedback_id: str, seconds: float, *, by: str, via: AnswerSource) -> datetime:
        """Give a waiting request ``seconds`` more (on the loop); see :class:`DeadlineKeeper`."""
        return self.deadlines.extend(feedback_id, seconds, by=by, via=via)

    def extend_threadsafe(self, feedback_id: str, seconds: float, *, by: str, via: AnswerSource) -> datetime:
        """:meth:`extend` from any thread (a control's button, the API)."""
        return self.deadlines.extend_threadsafe(feedback_id, seconds, by=by, via=via)

    def refuse(self, feedback_id: str, error: Exception) -> None:
        """Make the task waiting for this request raise ``error`` (e.g. a replay has no answer for it)."""
        waiting = self._waiting.get(feedback_id)
        if waiting is not None:
            waiting.failure = error
            waiting.event.set()

    def let_time_out(self, feedback_id: str) -> None:
        """Let this request's timeout run as written, even where nobody can answer (an answers file's
        ``let_time_out``: the run then pauses as it would in a live session)."""
        self._timeouts_as_written.add(feedback_id)

    def interrupt_all(self) -> None:
        """Wake every waiting task without an answer (the run is stopping)."""
        for waiting in self._waiting.values():
            waiting.interrupted = True
            waiting.event.set()

    async def ask(self, request: FeedbackRequest, live: LiveParts) -> FeedbackResponse | None:
        """Return the answer to a task's request, waiting for it; None when the run is stopping."""
        model = live.model
        if self._engine.stopping:
            return None
        record, fresh = self._record_for(request)
        feedback_id = record.feedback_id
        if record.response is not None:  # answered, or closed by a person, before
            checked = self._checked(record, record.response, model)
            if checked is not None:
                return given_to_task(checked)
            record = self._engine.state.records[feedback_id]
        waiting = self._waiting[feedback_id] = Waiting(live)
        unseen = False  # nobody can know of the request where the run is shown
        try:
            # A request asked before may have been answered meanwhile (filed on disk, or kept in Redis while
            # the run was paused: this run files it); nobody knows a new one's id yet. (A batch of thousands
            # would otherwise wait in line for two worker threads each before its first control shows.)
            filed = None if fresh else await anyio.to_thread.run_sync(self._engine.store.read_answer, feedback_id)
            if filed is not None:
                self._accept(feedback_id, filed)
            elif not fresh:
                await self._adopt(feedback_id)
            if waiting.response is None:
                if request.timeout is not None:
                    waiting.deadline = utc_now() + timedelta(seconds=request.timeout)
                    self.deadlines.record(feedback_id, waiting.deadline)
                for presenter in self._engine.presenters:
                    presenter.show(self._engine.view, record.request)
                self.events.tell_handler(live.handler, "on_request_created", record.request)
                await self._engine.save_changes()  # so that other processes (the CLI) can answer it
                if waiting.response is None and feedback_id not in self._filing:  # nobody answered yet
                    self.events.waiting(record.request, live.notification, waiting.deadline)
                    unseen = (
                        self._engine.unattended is not None
                        and feedback_id not in self._timeouts_as_written
                        and not self._engine.unattended.waits(
                            record.request, live.notification, self._engine.store.directory
                        )
                    )
                if unseen:  # nobody can know of it: it times out now
                    waiting.deadline = utc_now()
                with anyio.move_on_after(seconds_until(waiting.deadline)) as waiting.timeout_scope:
                    await waiting.event.wait()
                waiting.timeout_scope, waiting.deadline_final = None, True  # from here on, it cannot move
                timed_out = waiting.response is None and not waiting.interrupted and waiting.failure is None
                if timed_out:
                    unseen_why = "nobody could answer it where the notebook ran" if unseen else None
                    self.events.timed_out(record.request, live.notification, unseen_why)
                    self.events.tell_handler(live.handler, "on_request_timeout", record.request)
                    if request.on_timeout == "default":
                        await self._answer_with_default(record.request)  # accepted: sets waiting.response
        finally:
            del self._waiting[feedback_id]
            if waiting.deadline is not None:  # no task waits for it any more: no deadline runs
                self.deadlines.record(feedback_id, None)
        return self._handed_to_task(record.request, waiting, unseen)

    def _handed_to_task(self, request: FeedbackRequest, waiting: Waiting, unseen: bool) -> FeedbackResponse | None:
        """What the asking task gets once its wait is over: the answer, an error, or None (it stops)."""
        if waiting.failure is not None:
            raise waiting.failure
        if waiting.response is not None:
            return given_to_task(waiting.response)
        if waiting.interrupted:
            return None
        feedback_id = request.feedback_id
        if unseen:
            why = (
                f"nobody could answer {feedback_id} where this notebook ran (no one at its controls): answer "
                "it from a terminal, then run the notebook again to continue this run"
            )
            self._engine.request_stop(RunStatus.PAUSED, why)
            return None
        why = f"no answer to {feedback_id} ({request.task_id}) within {request.timeout:g} s"
        if request.on_timeout == "pause":  # the task may catch it and go on; uncaught, the run pauses
            raise FeedbackTimeoutError(feedback_id, request.timeout or 0.0, why)
        status = RunStatus.CANCELLED if request.on_timeout == "cancel" else RunStatus.FAILED
        self._engine.request_stop(status, why)
        return None

    def close_timed_out(self, feedback_id: str) -> None:
        """A task caught its request's FeedbackTimeoutError and completed: the request is closed, unanswered."""
        record = self._engine.state.records.get(feedback_id)
        if record is None or record.state != "pending":  # answered meanwhile (the answer is kept), or closed
            return
        self._engine.state.records[feedback_id] = record.model_copy(update={"state": "closed"})
        reason = "timed out; its task caught FeedbackTimeoutError and went on without an answer"
        self.events.closed(record.request, reason)
        self.tell_settled(record.request, None)
        self._engine.mark_dirty()

    async def _answer_with_default(self, request: FeedbackRequest) -> None:
        """Answer a timed-out request with its default, filed and logged as any answer (by "timeout");
        an answer that came first meanwhile wins, as always."""
        answer = {MAIN_ANSWER_FIELD[request.feedback_type.value]: request.default}
        try:
            response = self._checked_answer(request.feedback_id, "timeout", "timeout", answer)
        except (FeedbackAlreadySettledError, InvalidAnswerError):
            return  # answered meanwhile, or the default no longer fits: the run pauses instead
        try:
            with anyio.CancelScope(shield=True):
                filed = await anyio.to_thread.run_sync(file_first, self._engine.store, response)
        except BaseException:
            self._filing.discard(request.feedback_id)
            raise
        with contextlib.suppress(FeedbackAlreadySettledError):
            self._settle_filed(response, *filed)

    def _record_for(self, request: FeedbackRequest) -> tuple[RequestRecord, bool]:
        """The saved record for this call of the task, or a new one when the question changed (and
        whether it is new)."""
        state = self._engine.state
        earlier = state.request_ids_of(request.task_id, request.visit)
        known = [state.records[f] for f in earlier if state.records[f].request.call_index == request.call_index]
        if known and known[0].request.same_question(request):
            if known[0].response is not None:  # answered, or closed by a person: final for this call
                return known[0], False
            saved = known[0].request
            refreshed = known[0].model_copy(
                update={
                    "request": request.model_copy(
                        update={"feedback_id": saved.feedback_id, "created_at": saved.created_at}
                    )
                }
            )
            state.records[saved.feedback_id] = refreshed
            return refreshed, False
        if known:
            state.records[known[0].feedback_id] = known[0].model_copy(update={"state": "closed"})
        record = RequestRecord(request=request)  # named by the task's context: kept as it is, not copied
        state.records[record.feedback_id] = record
        self.events.requested(record.request)
        return record, True

    async def _adopt(self, feedback_id: str) -> None:
        """File and accept the answer kept where this run's requests are also kept (Redis), if any."""
        self._filing.add(feedback_id)  # so that the poll, seeing it filed, leaves it to this adoption
        try:
            adopted = await anyio.to_thread.run_sync(self._engine.store.adopt_answer, feedback_id)
        finally:
            self._filing.discard(feedback_id)
        if adopted is not None:
            self._accept(feedback_id, adopted, filed_here=True)

    def _checked(
        self, record: RequestRecord, response: FeedbackResponse, model: type[BaseModel] | None
    ) -> FeedbackResponse | None:
        """A filed or recorded response checked against its request as any answer is (and a form's data
        by the task's model); None if refused: the answer is set aside, the refusal logged, and the
        request stays answerable. Answers read from disk may have been written by anyone."""
        given = given_fields(response)
        try:
            if response.feedback_type != record.request.feedback_type:
                raise InvalidAnswerError(
                    record.feedback_id,
                    f"the answer is for a {response.feedback_type.value} request, "
                    f"this one is {record.request.feedback_type.value}",
                )
            checked = make_response(
                record.request, **given, via=response.via, responded_by=response.responded_by, model=model
            )
        except InvalidAnswerError as error:
            self._engine.store.set_answer_aside(record.feedback_id, str(error))
            refused = RefusalLog(self.events.log, record.request, given, response.via, response.responded_by)
            refused(error)
            self._engine.state.records[record.feedback_id] = record.model_copy(
                update={"state": "pending", "response": None}
            )
            return None
        return checked.model_copy(update={"responded_at": response.responded_at})

    def _accept(self, feedback_id: str, response: FeedbackResponse, *, filed_here: bool = False) -> bool:
        """Record a filed answer and wake the task waiting for it; return whether it was accepted.

        ``filed_here``: this process filed the answer (so it, and no other, logs it as the decision).
        """
        record = self._engine.state.records.get(feedback_id)
        if record is None or record.state != "pending":
            return False
        if not filed_here and feedback_id in self._filing:  # our own answer, seen on disk: its filer accepts it
            return False
        waiting = self._waiting.get(feedback_id)
        checked = self._checked(record, response, waiting.model if waiting else None)
        if checked is None:
            return False
        state = "closed" if checked.closed else "answered"
        self._engine.state.records[feedback_id] = record.model_copy(update={"state": state, "response": checked})
        if waiting is not None:
            waiting.response = checked
            waiting.event.set()
        notification = waiting.live.notification if waiting else None
        self.events.answered(record.request, checked, notification, filed_here=filed_here)
        if waiting is not None:
            self.events.tell_handler(waiting.live.handler, "on_response_received", record.request, checked)
        self.tell_settled(record.request, checked)
        self._engine.mark_dirty()
        return True

    def tell_settled(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        for presenter in self._engine.presenters:
            presenter.settle(request, response)

    def live_parts(self, feedback_id: str) -> LiveParts:
        """The model and preview function of a request a task waits for now."""
        waiting = self._waiting.get(feedback_id)
        return waiting.live if waiting else LiveParts()

    def submit(
        self,
        feedback_id: str,
        *,
        via: AnswerSource = "api",
        responded_by: str | None = None,
        **answer: Any,
    ) -> FeedbackResponse:
        """Answer a request of this run (on the loop thread, filing it there); the first valid answer wins."""
        return self._file_here(self._checked_answer(feedback_id, via, responded_by, answer))

    def _file_here(self, response: FeedbackResponse) -> FeedbackResponse:
        """File a checked answer on this thread (the loop's) and accept it, or say who answered first."""
        try:
            filed = file_first(self._engine.store, response)
        except BaseException:
            self._filing.discard(response.feedback_id)
            raise
        return self._settle_filed(response, *filed)

    def submit_soon(
        self, feedback_id: str, *, via: AnswerSource = "api", responded_by: str | None = None, **answer: Any
    ) -> FeedbackResponse:
        """Answer from any thread without making the event loop wait on the disk (a widget's click).

        The answer is checked at once (an invalid one raises here). On the loop's thread it is then
        filed in a worker thread and accepted once filed; if another answer won meanwhile, that one
        settles the control. Elsewhere this is :meth:`submit_threadsafe`.
        """
        if not self._engine.on_loop_thread():
            return self.submit_threadsafe(feedback_id, via=via, responded_by=responded_by, **answer)
        response = self._checked_answer(feedback_id, via, responded_by, answer)
        if not self._engine.spawn(self._file_soon, response):  # the run is not going: file it here
            return self._file_here(response)
        return response

    async def _file_soon(self, response: FeedbackResponse) -> None:
        with contextlib.suppress(FeedbackAlreadySettledError):  # the first answer settles the control
            await self._file_in_worker(response)

    async def _file_in_worker(self, response: FeedbackResponse) -> FeedbackResponse:
        """File a checked answer in a worker thread (the loop never waits on the disk), then accept it
        on the loop, or say who answered first."""
        try:
            with anyio.CancelScope(shield=True):  # an answer being filed is never abandoned half-way
                filed = await anyio.to_thread.run_sync(file_first, self._engine.store, response)
        except BaseException:
            self._filing.discard(response.feedback_id)
            raise
        return self._settle_filed(response, *filed)

    def submit_threadsafe(
        self, feedback_id: str, *, via: AnswerSource = "api", responded_by: str | None = None, **answer: Any
    ) -> FeedbackResponse:
        """:meth:`submit` from any thread (console readers, other threads, the API): checked and accepted
        on the loop, filed in the calling thread."""
        if self._engine.on_loop_thread():
            return self.submit(feedback_id, via=via, responded_by=responded_by, **answer)
        response = self._on_loop(feedback_id, lambda: self._checked_answer(feedback_id, via, responded_by, answer))
        try:
            filed = file_first(self._engine.store, response)
        except BaseException:
            with contextlib.suppress(FeedbackAlreadySettledError):
                self._on_loop(feedback_id, lambda: self._filing.discard(feedback_id))
            raise
        try:
            return self._on_loop(feedback_id, lambda: self._settle_filed(response, *filed))
        except FeedbackAlreadySettledError:
            if filed[0]:  # filed as its run paused: the run takes it when resumed
                return response
            raise

    def _on_loop(self, feedback_id: str, call: Callable[[], T]) -> T:
        """``call()`` on the run's loop thread, waiting for it; FeedbackAlreadySettledError once the run has ended."""
        try:
            return self._engine.run_on_loop(call)
        except RunEndedError as ended:  # e.g. a stale second tab, or an answer as the run paused
            raise FeedbackAlreadySettledError(
                feedback_id,
                f"its run has ended ({ended.status.value}); re-run the workflow's cell to start or resume one",
            ) from None

    def _checked_answer(
        self, feedback_id: str, via: AnswerSource, responded_by: str | None, answer: dict[str, Any]
    ) -> FeedbackResponse:
        """The answer as a response to the pending request, marked as being filed (on the loop); raises,
        logging the refusal, if it does not fit or the request is settled or being answered now."""
        record = self._engine.state.records.get(feedback_id)
        if record is None:
            raise FeedbackNotFoundError(feedback_id, self._engine.store.directory)
        refused = RefusalLog(self.events.log, record.request, answer, via, responded_by)
        if record.state != "pending" or record.response is not None:
            raise refused(already_settled(feedback_id, record.response))
        if feedback_id in self._filing:
            raise refused(FeedbackAlreadySettledError(feedback_id, "an answer to it is being recorded right now"))
        waiting = self._waiting.get(feedback_id)
        try:
            response = make_response(
                record.request,
                via=via,
                responded_by=responded_by,
                model=waiting.model if waiting else None,
                **answer,
            )
        except InvalidAnswerError as error:
            raise refused(error) from None
        self._filing.add(feedback_id)
        return response

    def _settle_filed(
        self, response: FeedbackResponse, filed: bool, first: FeedbackResponse | None
    ) -> FeedbackResponse:
        """Accept an answer this process has just filed, or say who answered first (on the loop)."""
        feedback_id = response.feedback_id
        self._filing.discard(feedback_id)
        if filed:
            self._accept(feedback_id, response, filed_here=True)
            return response
        if first is not None:
            self._accept(feedback_id, first)
        request = self._engine.state.records[feedback_id].request
        refused = RefusalLog(self.events.log, request, given_fields(response), response.via, response.responded_by)
        raise refused(already_settled(feedback_id, first))

    async def poll_filed_answers(self) -> None:
        """Pick up answers other processes filed (CLI, API) while tasks wait: at once when the filer
        nudges this run (``_io/wake_signal``), else at the next poll."""
        while not self._waiting:  # most runs never ask: they need no port
            await anyio.sleep(self.poll_interval)
        async with listening(self._engine.store.directory, self._engine.state.run_id) as listener:
            while True:
                await self._read_filed()
                if listener is None:
                    await anyio.sleep(self.poll_interval)
                    continue
                message = await listener.wait(self.poll_interval)
                if message is not None and message.content:  # a message, not a nudge: answered here
                    await self._serve(listener, message)

    async def _serve(self, listener: WakeListener, message: Message) -> None:
        """Reply to a message another process handed this run (``_io/answer_handoff.py``)."""
        asked = read_message(message.content, listener.token)
        if asked is None:
            return
        feedback_id = str(asked.get("feedback_id", ""))
        if asked.get("ask") == "describe":
            await listener.reply(message, encode_reply(self._describe(feedback_id)))
        elif asked.get("ask") == "answer" and isinstance(asked.get("answer"), dict):
            outcome = await self._handed_answer(feedback_id, asked["answer"], str(asked.get("responded_by") or ""))
            await listener.reply(message, encode_reply(outcome))

    def _describe(self, feedback_id: str) -> dict[str, Any]:
        record = self._engine.state.records.get(feedback_id)
        if record is None or record.state != "pending" or feedback_id not in self._waiting:
            return {"mine": False}
        state = self._engine.state
        return {"feedback_type": record.request.feedback_type.value, "run_id": state.run_id, "workflow": state.workflow}

    async def _handed_answer(self, feedback_id: str, answer: dict[str, Any], responded_by: str) -> dict[str, Any]:
        """Check, file and accept an answer handed over by another process (the CLI); what to reply."""
        given = {name: answer[name] for name in ANSWER_FIELDS if answer.get(name) is not None}
        try:
            response = self._checked_answer(feedback_id, "cli", responded_by or None, given)
            settled = await self._file_in_worker(response)
        except (InvalidAnswerError, FeedbackAlreadySettledError, FeedbackNotFoundError) as error:
            return {"refused": str(error), "invalid": isinstance(error, InvalidAnswerError)}
        return {"summary": settled.summary(), "responded_by": settled.responded_by}

    async def _read_filed(self) -> None:
        """Take the answers and deadlines filed for waiting requests. Each step costs what is on disk,
        not what waits (a batch has thousands), and goes through the shared pool: anyio's to_thread
        looks for its root task among all the loop's tasks at every call in a kernel."""
        if not self._waiting:
            return
        store = self._engine.store
        answered, extended = await run_in_shared_pool(partial(filed_ids, store))
        wanted = [feedback_id for feedback_id in answered if feedback_id in self._waiting]
        if wanted:
            for feedback_id, response in (await run_in_shared_pool(partial(read_filed, store, wanted))).items():
                self._accept(feedback_id, response)
        timed = [
            feedback_id
            for feedback_id in extended
            if (waiting := self._waiting.get(feedback_id)) is not None and waiting.deadline_runs
        ]
        if timed:
            self.deadlines.take_filed(await run_in_shared_pool(partial(read_filed_deadlines, store, timed)))
