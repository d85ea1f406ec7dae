"""Answers that arrive late, from other threads, through the call a widget makes (``submit_soon``).

ScriptedAnswers answers as a request is shown, so the task never really waits; here each answer comes
from a thread of its own once the request is on disk as pending (the task is then waiting, or about
to), as a person's click would: the wait, the wake-up, the timeout and first-answer-wins are exercised.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from graflow_nb import (
    FeedbackAlreadySettledError,
    FeedbackRequest,
    FeedbackResponse,
    RunStatus,
    TaskExecutionContext,
    Workflow,
    decision_log,
    task,
    workflow,
)
from graflow_nb._engine.engine import Engine, live_engines
from graflow_nb._engine.presenting import RunView, TaskState
from tests.helpers import wait_until


class LatePeople:
    """For every request shown, ``people`` threads wait until it is saved as pending, then all answer
    it at once through the widget's call; what each got back is kept."""

    def __init__(self, people: int, answer: dict[str, Any]) -> None:
        self.people = people
        self.answer = answer
        self.threads: list[threading.Thread] = []
        self.outcomes: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        # look for answers on disk all the time: an answer being filed by this process must still be
        # accepted (and logged) once, by its filer, not picked up half-way by the folder's poll
        _engine_of(run).feedback.poll_interval = 0
        together = threading.Barrier(self.people)
        for person in range(self.people):
            thread = threading.Thread(target=self._answer, args=(run, request, together, person))
            self.threads.append(thread)
            thread.start()

    def _answer(self, run: RunView, request: FeedbackRequest, together: threading.Barrier, person: int) -> None:
        store, feedback_id = run.store, request.feedback_id
        wait_until(lambda: any(r.feedback_id == feedback_id for r in _pending(store, run.run_id)), timeout=30)
        together.wait(timeout=30)
        try:
            run.answer(feedback_id, via="widget", responded_by=f"person {person}", **self.answer)
        except FeedbackAlreadySettledError:
            result = "too late"
        else:
            result = "taken"
        with self._lock:
            self.outcomes.setdefault(feedback_id, []).append(result)

    def task_changed(self, run: RunView, task_id: str, state: TaskState) -> None:
        pass

    def settle(self, request: FeedbackRequest, response: FeedbackResponse | None) -> None:
        pass

    def run_ended(self, run: RunView) -> None:
        pass


def _engine_of(run: RunView) -> Engine:
    """The engine behind a presenter's view (to tune its answers poll)."""
    return next(engine for engine in live_engines if engine.run_id == run.run_id)


def _pending(store: Any, run_id: str) -> list[Any]:
    try:
        return list(store.load_run(run_id).pending)
    except FileNotFoundError:
        return []


def fan_out(width: int, timeout: float | None = None) -> Workflow:
    with workflow(f"late-{width}") as wf:
        asks = []
        for index in range(width):

            @task(id=f"ask{index}", inject_context=True)
            def ask(ctx: TaskExecutionContext) -> bool:
                return ctx.request_feedback(feedback_type="approval", prompt="Go?", timeout=timeout).approved

            asks.append(ask)
        for ask in asks[1:]:
            asks[0] | ask
    return wf


@pytest.mark.timeout(180)
@pytest.mark.parametrize("round_", range(5))
def test_late_answers_from_other_threads_wake_each_waiting_task_and_the_first_wins(round_: int) -> None:
    wf = fan_out(12)
    people = LatePeople(people=3, answer={"approved": True})
    outcome = wf.run(presenters=[people])
    for thread in people.threads:
        thread.join(timeout=30)
    assert outcome.status is RunStatus.COMPLETED, outcome.reason
    assert all(value is True for value in outcome.result.values())
    # exactly one of the three people answering each request at once was taken
    assert sorted(Counter(results)["taken"] for results in people.outcomes.values()) == [1] * 12
    assert all(len(results) == 3 for results in people.outcomes.values())
    log = decision_log(wf.store.directory, run_id=outcome.run_id).entries
    answered = Counter(entry["feedback_id"] for entry in log if entry["event"] == "answered")
    assert sorted(answered.values()) == [1] * 12, "one decision per request"
    refused = [entry for entry in log if entry["event"] == "refused"]
    assert len(refused) == 24, "each answer that came too late is logged as refused"


class RacingTheTimeout(LatePeople):
    """One person who answers around the moment the request times out."""

    def __init__(self, jitter: float) -> None:
        super().__init__(people=1, answer={"approved": False})
        self.jitter = jitter

    def _answer(self, run: RunView, request: FeedbackRequest, together: threading.Barrier, person: int) -> None:
        threading.Event().wait(self.jitter)  # deliberately around the deadline: any interleaving must hold
        super()._answer(run, request, together, person)


@pytest.mark.timeout(180)
def test_an_answer_racing_the_timeout_is_used_now_or_on_resume_and_never_lost() -> None:
    wf = fan_out(1, timeout=0.05)
    seen: Counter[tuple[str, str]] = Counter()
    for trial in range(20):
        person = RacingTheTimeout(jitter=trial * 0.005)
        outcome = wf.run(presenters=[person])
        for thread in person.threads:
            thread.join(timeout=30)
        ((feedback_id, (result,)),) = person.outcomes.items()
        filed = wf.store.read_answer(feedback_id)
        seen[(result, outcome.status.value)] += 1
        if outcome.status is RunStatus.COMPLETED:
            assert (result, outcome.result) == ("taken", False)
            continue
        assert outcome.status is RunStatus.PAUSED
        if result == "taken":  # accepted as the run paused: filed, and the resumed run uses it without asking
            assert filed is not None
            assert filed.approved is False
            resumed = wf.run(run_id=outcome.run_id, presenters=[])
            assert (resumed.status, resumed.result) == (RunStatus.COMPLETED, False)
        else:  # refused with a reason: nothing filed, the request still open
            assert filed is None
            wf.cancel_run(outcome.run_id, reason="trial over")
    assert sum(seen.values()) == 20  # all three endings occur here: taken in time, taken as it paused, too late


class AnswerOnTheLoop(LatePeople):
    """Answers as the request is shown, on the run's loop thread, as a click in a started run (and a
    replayed answers file) does: filed in a worker thread while the folder's poll looks on."""

    def show(self, run: RunView, request: FeedbackRequest) -> None:
        _engine_of(run).feedback.poll_interval = 0
        run.answer(request.feedback_id, via="widget", **self.answer)


@pytest.mark.timeout(120)
def test_an_answer_filed_from_the_loop_is_accepted_and_logged_once_by_its_filer() -> None:
    wf = fan_out(30)
    outcome = wf.run(presenters=[AnswerOnTheLoop(people=1, answer={"approved": True})])
    assert outcome.status is RunStatus.COMPLETED, outcome.reason
    log = decision_log(wf.store.directory, run_id=outcome.run_id).entries
    answered = Counter(entry["feedback_id"] for entry in log if entry["event"] == "answered")
    assert sorted(answered.values()) == [1] * 30, "one decision per request, logged by the process that filed it"
    assert [entry for entry in log if entry["event"] == "refused"] == []
