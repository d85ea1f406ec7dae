"""The batch view's paging, with real ipywidgets controls: which requests are drawn, what a turn shows,
what a filter lets through, where the keyboard goes after an answer, and that left pages free their widgets."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import ipywidgets as widgets
import ipywidgets.widgets.widget as widget_registry
import pytest
from pydantic import BaseModel, Field

from graflow_nb._frontends.notebook.controls import RequestControl
from graflow_nb._frontends.notebook.request_pages import RequestPages
from graflow_nb._frontends.notebook.shown_request import ShownRequest
from graflow_nb._model.answer_checks import make_response
from graflow_nb._model.feedback import FeedbackRequest, FeedbackResponse, LiveParts
from graflow_nb._model.feedback_kinds import FeedbackType
from tests.helpers import review_batch_cell
from tests.kernel_harness import Kernel

pytestmark = pytest.mark.timeout(60)


def batch(count: int, page_size: int = 10) -> tuple[RequestPages, list[FeedbackResponse]]:
    """``count`` approval requests kept as a panel keeps them; answers given through them are collected."""
    pages = RequestPages(page_size)
    given: list[FeedbackResponse] = []

    def submit(feedback_id: str, **answer: Any) -> FeedbackResponse:
        response = make_response(pages.entries[feedback_id].request, via="widget", **answer)
        given.append(response)
        pages.entries[feedback_id].settle(response)
        return response

    for index in range(count):
        entry = ShownRequest(row_request(index), submit, LiveParts(), None)
        if pages.add(entry):
            entry.draw()
    return pages, given


def row_request(index: int) -> FeedbackRequest:
    """The approval request of row ``index`` of a review batch."""
    return FeedbackRequest(
        feedback_id=f"fb-{index:04d}",
        feedback_type=FeedbackType.APPROVAL,
        prompt=f"Keep row {index}?",
        workflow="review",
        run_id="run-1",
        task_id=f"row{index:04d}",
        call_index=0,
    )


def open_models() -> list[widgets.Widget]:
    """Every widget model the kernel holds open."""
    return list(widget_registry._instances.values())


def drawn(pages: RequestPages) -> list[str]:
    return [f for f, entry in pages.entries.items() if entry.control is not None]


def turn(pages: RequestPages, page: list[str]) -> None:
    """What the panel does after a turn: close the controls that left, draw those that came."""
    for entry in pages.entries.values():
        if entry.control is not None and entry.feedback_id not in page:
            entry.undraw()
    for feedback_id in page:
        pages.entries[feedback_id].draw()


def test_only_the_first_page_is_drawn_and_a_turn_frees_the_widgets_it_leaves() -> None:
    pages, _ = batch(25)
    assert pages.paged
    assert drawn(pages) == [f"fb-{i:04d}" for i in range(10)]
    first_control = pages.entries["fb-0000"].control
    assert first_control is not None
    first_button = first_control.submit_buttons[0]
    assert first_button.comm is not None
    open_before = len(open_models())
    turn(pages, pages.next_page())
    assert drawn(pages) == [f"fb-{i:04d}" for i in range(10, 20)]
    assert first_button.comm is None
    assert first_button.layout.comm is not None, "the layout is shared with the controls still drawn"
    assert len(open_models()) == open_before, "a turn to a page as long leaves as many models open"
    assert pages.span() == "#11-#20 of 25"
    turn(pages, pages.next_page())
    assert pages.page == [f"fb-{i:04d}" for i in range(20, 25)]
    turn(pages, pages.previous_page())
    assert pages.page == [f"fb-{i:04d}" for i in range(10, 20)]


class Labels(BaseModel):
    label: Literal["cat", "dog"] = "cat"
    confidence: float = Field(0.5, ge=0, le=1)
    keep: bool = True
    note: str = ""


EVERY_KIND: list[tuple[dict[str, Any], LiveParts]] = [
    ({"feedback_type": FeedbackType.APPROVAL, "timeout": 60}, LiveParts()),
    ({"feedback_type": FeedbackType.TEXT}, LiveParts()),
    ({"feedback_type": FeedbackType.SELECTION, "options": ["a", "b"]}, LiveParts()),
    ({"feedback_type": FeedbackType.SELECTION, "options": list("abcdefg")}, LiveParts()),
    ({"feedback_type": FeedbackType.MULTI_SELECTION, "options": ["a", "b", "c"]}, LiveParts()),
    ({"feedback_type": FeedbackType.MULTI_SELECTION, "options": list("abcdefgh")}, LiveParts()),
    ({"feedback_type": FeedbackType.NUMBER, "min": 0, "max": 1}, LiveParts(preview=lambda value: f"at {value}")),
    ({"feedback_type": FeedbackType.NUMBER, "min": 0, "max": 10, "integer": True, "value_range": True}, LiveParts()),
    ({"feedback_type": FeedbackType.NUMBER}, LiveParts()),
    ({"feedback_type": FeedbackType.FORM}, LiveParts(model=Labels)),
    ({"feedback_type": FeedbackType.CUSTOM}, LiveParts()),
]


@pytest.mark.parametrize(
    ("fields", "live"),
    EVERY_KIND,
    ids=[f"{fields['feedback_type'].value}-{n}" for n, (fields, _) in enumerate(EVERY_KIND)],
)
def test_a_control_of_every_kind_opens_no_layout_or_style_of_its_own(fields: dict[str, Any], live: LiveParts) -> None:
    """A page turn opens and closes a page of controls: each message saved is one the kernel's IOPub
    queue need not hold. Every layout and style is one shared by all controls, left open on close."""

    def build() -> RequestControl:
        request = FeedbackRequest(
            feedback_id="fb-1", prompt="Which?", workflow="w", run_id="r", task_id="t", call_index=0, **fields
        )
        return RequestControl(request, lambda *_args, **_answer: make_response(request, via="widget"), live)

    build().close()  # the shared layouts and styles are made by a first control
    before = {id(model) for model in open_models()}
    control = build()
    opened = [model for model in open_models() if id(model) not in before]
    assert opened, "the control opened its widgets"
    own = [type(model).__name__ for model in opened if isinstance(model, (widgets.Layout, widgets.Style))]
    assert own == []
    control.close()
    assert {id(model) for model in open_models()} == before, "closing it closes every model it opened"
    assert all(model.comm is not None for model in open_models()), "and leaves the shared ones open"


def test_an_answered_control_hides_its_submit_by_a_class_not_by_its_shared_layout() -> None:
    pages, _ = batch(3)
    entry = pages.entries["fb-0001"]
    control = entry.draw()
    entry.respond(approved=True)
    assert "gnb-hidden" in control.more_time._dom_classes
    assert control.more_time.layout.display is None, "the layout is every control's"


def test_an_answer_off_the_page_shows_when_its_page_comes_back() -> None:
    pages, given = batch(15)
    pages.entries["fb-0012"].respond(approved=False, reason="duplicate")  # not drawn: straight to the run
    assert given[-1].approved is False
    assert pages.entries["fb-0012"].control is None
    pages.showing = "all"  # (waiting, the default, would pass it by)
    turn(pages, pages.next_page())
    control = pages.entries["fb-0012"].control
    assert control is not None
    assert control.answered
    assert "rejected: duplicate" in control.status.value
    assert all(button.disabled for button in control.submit_buttons)


def test_waiting_skips_the_answered_and_comes_back_for_the_skipped() -> None:
    pages, _ = batch(30)
    for index in (0, 1, 2):
        pages.entries[f"fb-{index:04d}"].respond(approved=True)
    assert pages.page[:3] == ["fb-0000", "fb-0001", "fb-0002"]  # answered, still where they were answered
    turn(pages, pages.first_page())
    assert pages.page[0] == "fb-0003"
    turn(pages, pages.next_page())
    turn(pages, pages.next_page())
    assert pages.page == [f"fb-{i:04d}" for i in range(23, 30)]
    turn(pages, pages.next_page())  # past the end: back to the first waiting ones
    assert pages.page[0] == "fb-0003"


def test_the_filter_finds_by_prompt_task_or_id_and_answered_shows_only_the_answered() -> None:
    pages, _ = batch(120)
    pages.entries["fb-0007"].respond(approved=True)
    pages.words = "row 11"
    turn(pages, pages.first_page())
    assert pages.page == ["fb-0011", *(f"fb-{i:04d}" for i in range(110, 119))]
    pages.words = "fb-0099"
    assert pages.first_page() == ["fb-0099"]
    pages.words, pages.showing = "", "answered"
    assert pages.first_page() == ["fb-0007"]
    pages.words = "nothing like this"
    assert pages.first_page() == []
    assert pages.span() == "none of 120 matches"


def test_after_an_answer_the_keyboard_goes_to_the_next_waiting_request_of_the_page() -> None:
    pages, _ = batch(12)
    pages.entries["fb-0001"].respond(approved=True)
    following = pages.after_on_page("fb-0000")
    assert following is not None
    assert following.feedback_id == "fb-0002"
    for index in range(10):
        if not pages.entries[f"fb-{index:04d}"].answered:
            pages.entries[f"fb-{index:04d}"].respond(approved=True)
    assert pages.after_on_page("fb-0009") is None  # the page is done: the panel focuses Next


def test_a_new_request_joins_a_page_with_room_only_where_the_list_ends() -> None:
    pages, _ = batch(5)
    assert not pages.paged
    assert len(pages.page) == 5
    pages_full, _ = batch(10)
    assert len(pages_full.page) == 10
    extra, _ = batch(11)
    assert extra.paged
    assert len(extra.page) == 10
    assert "fb-0010" not in extra.page
    assert isinstance(extra.entries["fb-0000"].draw().widget, widgets.VBox)


BIG_BATCH = review_batch_cell("big-batch", 250)


def test_a_batch_in_a_kernel_draws_one_page_answers_every_request_in_code_and_sums_up_its_recap(
    tmp_path: Path,
) -> None:
    kernel = Kernel(sys.executable, tmp_path, {"GRAFLOW_NB_CHECKPOINT_DIR": str(tmp_path / "ck")})
    try:
        mark = kernel.mark()
        cell = kernel.submit(BIG_BATCH)
        kernel.reply(cell)
        kernel.wait_for(lambda: kernel.run("print(len(run.pending))").strip() == "250", 60, "250 requests pending")

        def approve_buttons() -> list[str]:
            states = list(kernel.widget_states.items())[mark:]
            return [c for c, s in states if s.get("description") == "Approve" and c not in kernel.closed_widgets]

        assert len(approve_buttons()) == 20  # a page of controls, not 250
        kernel.run("for pending in list(run.pending): pending.respond(approved=True)")
        result = kernel.run("print(sum((await run).values()))", timeout=120)
        assert result.strip() == "250"
        recap = kernel.wait_for(
            lambda: "more requests" in kernel.text_of(cell) and kernel.text_of(cell), 60, "the recap"
        )
    finally:
        kernel.shutdown()
    final = recap.rsplit("graflow_nb: workflow 'big-batch'", 1)[1]
    assert final.startswith(" completed, 250/250 tasks done")
    assert len(final.strip().splitlines()) == 1 + 200 + 1
    assert final.strip().splitlines()[-1] == "- ... and 50 more requests (0 waiting)"


def test_what_was_typed_but_not_sent_comes_back_with_its_page() -> None:
    pages, given = batch(25)
    reason = pages.entries["fb-0003"].draw()._inputs[0]
    reason.value = "blurry, but"  # typed, not sent
    turn(pages, pages.next_page())
    assert pages.entries["fb-0003"].control is None
    assert pages.entries["fb-0000"].draft is None, "an untouched control keeps no draft"
    turn(pages, pages.previous_page())
    control = pages.entries["fb-0003"].control
    assert control is not None
    assert control._inputs[0].value == "blurry, but"
    control._inputs[0].value = "blurry, but readable"
    control._clicked(control.submit_buttons[0])  # Approve
    assert [(r.feedback_id, r.approved, r.reason) for r in given] == [("fb-0003", True, "blurry, but readable")]
    turn(pages, pages.next_page())
    assert pages.entries["fb-0003"].draft is None, "an answered request keeps no draft"


def test_a_dozen_page_turns_in_a_row_reach_the_frontend_whole(tmp_path: Path) -> None:
    """Each page turn closes a page of controls and opens the next: a burst of comm messages, which the
    kernel's IOPub socket drops past its high-water mark. One turn sends at most half of that; twelve
    more clicked at once, every model the kernel holds open is one the frontend was told of, and none it
    was told to close."""
    kernel = Kernel(sys.executable, tmp_path, {"GRAFLOW_NB_CHECKPOINT_DIR": str(tmp_path / "ck")})
    try:
        kernel.reply(kernel.submit(BIG_BATCH))
        kernel.wait_for(lambda: kernel.run("print(len(run.pending))").strip() == "250", 60, "250 requests pending")
        next_button = kernel.find_widget("ButtonModel", description="Next")
        kernel.run("pass")  # (what the first page sent has come)
        before = len(kernel.messages)
        kernel.click(next_button)
        kernel.run("pass")  # the turn is done once the next cell has run
        one_turn = [m["msg_type"] for m in kernel.messages[before:] if m["msg_type"].startswith("comm_")]
        for _ in range(11):
            kernel.click(next_button)
        span, kept = json.loads(
            kernel.run(
                "import json, ipywidgets.widgets.widget as registry\n"
                "print(json.dumps([run.panel.pages.span(), list(registry._instances)]))"
            )
        )
        kernel_open = set(kept)

        def frontend_open() -> set[str]:
            return set(kernel.widget_states) - set(kernel.closed_widgets)

        kernel.wait_for(lambda: frontend_open() == kernel_open, 30, "the frontend's models to match the kernel's")
    finally:
        kernel.shutdown()
    assert span.startswith("#241-#250 of 250"), span  # 12 turns of 20 from the first page, to the last
    # a turn's burst stays well under the socket's high-water mark (1,000): it was 1,443 messages with a
    # layout and a style per widget and classes set after each was made
    assert len(one_turn) <= 500, Counter(one_turn)


def test_a_task_not_yet_started_is_called_so_not_waiting_beside_the_requests_waiting() -> None:
    from graflow_nb._frontends.notebook.panel import _task_label

    assert "title='row0001: not started'" in _task_label("row0001", "waiting", 0)
    assert "class='gnb-task gnb-waiting'" in _task_label("row0001", "waiting", 0)  # the colour stays
    assert "title='row0001: running'" in _task_label("row0001", "running", 0)


def test_once_nothing_on_the_page_waits_a_new_request_is_turned_to() -> None:
    pages, _ = batch(10)
    for entry in list(pages.entries.values()):
        entry.settle(make_response(entry.request, via="widget", approved=True))
    newcomer = ShownRequest(
        row_request(10),
        lambda feedback_id, **answer: make_response(pages.entries[feedback_id].request, via="widget", **answer),
        LiveParts(),
        None,
    )
    assert not pages.add(newcomer)  # no room on the page
    assert pages.goes_on_to(newcomer)
    assert pages.next_page() == ["fb-0010"]
    pages.entries["fb-0000"].answered = False  # had one still waited on the page, it would stay put
    pages.first_page()
    assert not pages.goes_on_to(newcomer)


SEQUENTIAL = """
from graflow_nb import TaskExecutionContext, task, workflow

with workflow("one-after-another") as wf:
    @task(inject_context=True)
    def ask_in_turn(ctx: TaskExecutionContext) -> int:
        return sum(ctx.request_feedback("approval", f"item {n}?").approved for n in range(25))

run = wf.start()
"""


def test_a_task_asking_25_questions_in_turn_shows_each_as_it_comes(tmp_path: Path) -> None:
    kernel = Kernel(sys.executable, tmp_path, {"GRAFLOW_NB_CHECKPOINT_DIR": str(tmp_path / "ck")})
    try:
        mark = kernel.mark()
        kernel.reply(kernel.submit(SEQUENTIAL))
        for _ in range(25):  # the 21st comes after a page of 20 answered ones: the page goes on to it
            button = kernel.find_widget("ButtonModel", after=mark, description="Approve")
            mark = kernel.mark()
            kernel.click(button)
        assert kernel.run("print(await run)", timeout=60).strip() == "25"
        assert kernel.run("print(run.panel.pages.span())").strip() == "#21-#25 of 25"
    finally:
        kernel.shutdown()
