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
        if pages.add(entry) is not None:
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


def row_entry(pages: RequestPages, row: int) -> ShownRequest:
    """The request of ``row`` as the panel keeps it, answerable through ``pages``."""

    def submit(feedback_id: str, **answer: Any) -> FeedbackResponse:
        return make_response(pages.entries[feedback_id].request, via="widget", **answer)

    return ShownRequest(row_request(row), submit, LiveParts(), None)


def ranked_arrivals(pages: RequestPages, rows: list[int]) -> list[int | None]:
    """Add the requests of ``rows`` in that order, each ranked by its row (as the panel ranks by task);
    return where each joined the page."""
    return [pages.add(row_entry(pages, row), (row, 0, 0)) for row in rows]


def rows_of(feedback_ids: list[str]) -> list[int]:
    return [int(feedback_id.removeprefix("fb-")) for feedback_id in feedback_ids]


def test_requests_arriving_together_out_of_order_are_kept_in_the_order_of_their_tasks() -> None:
    pages = RequestPages(page_size=5)
    joined = ranked_arrivals(pages, [2, 9, 8, 1, 0, 4, 3, 7, 6, 5])
    assert rows_of(pages.page) == [0, 1, 2, 3, 4], "the first page holds the first tasks, in order"
    assert joined[:5] == [0, 1, 1, 0, 0], "each joined the page where its task's order put it"
    assert joined[8] is None, "row 6 comes after the full page's last: the next page"
    assert pages.span() == "#1-#5 of 10"
    assert rows_of(pages.next_page()) == [5, 6, 7, 8, 9]
    assert rows_of(pages.previous_page()) == [0, 1, 2, 3, 4]


def test_once_settled_the_order_stays_and_later_arrivals_go_after_it() -> None:
    pages = RequestPages(page_size=10)
    ranked_arrivals(pages, [3, 1, 2])
    pages.settle()  # a person answered one, or the arrivals are older than the panel's window
    joined = ranked_arrivals(pages, [0, 5, 4])
    assert rows_of(pages.page) == [1, 2, 3, 0, 4, 5], "row 0 came later: after what was on screen"
    assert joined == [3, 4, 4]
    assert ranked_arrivals(pages, [-1]) == [3], "still arriving with 0, 5, 4: first of them"


def test_an_unranked_arrival_settles_the_order_and_a_turned_page_is_never_joined_from_before() -> None:
    pages = RequestPages(page_size=3)
    ranked_arrivals(pages, [5, 4, 3, 2])
    assert rows_of(pages.page) == [2, 3, 4]
    turn(pages, pages.next_page())
    assert rows_of(pages.page) == [5]
    assert ranked_arrivals(pages, [0]) == [1], "after a turn: at the end, not before the page"
    assert pages.add(row_entry(pages, 1)) == 2, "unranked: at the end"
    assert rows_of(pages.page) == [5, 0, 1]


def test_a_thousand_arrivals_in_reverse_keep_at_most_fresh_most_in_order() -> None:
    from graflow_nb._frontends.notebook import request_pages

    pages = RequestPages(page_size=20)
    count = request_pages.FRESH_MOST + 10
    ranked_arrivals(pages, list(range(count, 0, -1)))
    order = rows_of(list(pages._order))
    assert order[: request_pages.FRESH_MOST] == sorted(order[: request_pages.FRESH_MOST])
    assert order[request_pages.FRESH_MOST :] == sorted(order[request_pages.FRESH_MOST :])
    assert [pages._position[f] for f in pages._order] == list(range(count)), "positions follow the order"


#: the later the row, the sooner it asks (each yields to the loop fewer times first)
ASKING_BACKWARDS = review_batch_cell("backwards", 8, "for _ in range(10 - index): await asyncio.sleep(0)")

SHOWN_ORDER = """
shown = [child.model_id for child in run.panel.requests.children]
drawn = [entry.control.widget.model_id for entry in run.panel._drawn]
assert shown == drawn, "what the page holds is what is drawn"
print(",".join(entry.request.task_id for entry in run.panel._drawn))
"""


@pytest.mark.parametrize(
    ("window", "expected"),
    [(0.5, [f"row{i:04d}" for i in range(8)]), (0.0, [f"row{i:04d}" for i in reversed(range(8))])],
    ids=["arriving-together-in-task-order", "no-window-arrival-order"],
)
def test_a_batch_asking_backwards_is_shown_in_the_order_of_its_tasks(
    tmp_path: Path, window: float, expected: list[str]
) -> None:
    kernel = Kernel(sys.executable, tmp_path, {"GRAFLOW_NB_CHECKPOINT_DIR": str(tmp_path / "ck")})
    try:
        kernel.run(f"from graflow_nb._frontends.notebook import panel; panel.ARRIVAL_SECONDS = {window}")
        kernel.reply(kernel.submit(ASKING_BACKWARDS))
        kernel.wait_for(lambda: kernel.run("print(len(run.pending))").strip() == "8", 60, "8 requests pending")
        assert kernel.run(SHOWN_ORDER).strip().split(",") == expected
        asked = kernel.run(
            "from graflow_nb import decision_log\n"
            f"entries = decision_log({str(tmp_path / 'ck')!r}, workflow='backwards').entries\n"
            "print(','.join(entry['task_id'] for entry in entries if entry['event'] == 'requested'))"
        )
        assert asked.strip().split(",") == [f"row{i:04d}" for i in reversed(range(8))], "they did ask backwards"
        listed = kernel.run("print(','.join(pending.request.task_id for pending in run.pending))")
        assert listed.strip().split(",") == expected, "run.pending lists them as the panel shows them"
    finally:
        kernel.shutdown()


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
    assert pages.add(newcomer) is None  # no room on the page
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
