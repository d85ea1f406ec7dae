"""A review batch of 1,000 requests in JupyterLab (Debian's Chromium): a page of controls at a time,
answered in sequence by keyboard, filtered by typing, paged; what the kernel recorded is what the page showed."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import (
    JupyterServer,
    chromium_page,
    jupyter_server,
    require_chromium,
    run_all,
    screenshot,
    type_with_a_correction,
    wait_for_kernel,
    write_notebook,
)
from tests.helpers import review_batch_cell

require_chromium()
pytestmark = pytest.mark.timeout(300)
ROWS = 1000

BATCH = review_batch_cell("review-batch", ROWS)
RECORDED = """
import json
from graflow_nb import decision_log
entries = decision_log("batch.graflow_nb", workflow="review-batch").entries
print("RECORDED", json.dumps({e["task_id"]: e["answer"] for e in entries if e["event"] == "answered"}))
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[JupyterServer]:
    write_notebook(tmp_path / "batch.ipynb", [BATCH])
    write_notebook(tmp_path / "recorded.ipynb", [RECORDED])
    with jupyter_server(tmp_path) as server:
        yield server


def request_box(page: Any, row: int) -> Any:
    """The control of the request about ``row`` (a Playwright locator)."""
    return page.locator(".graflow-nb-request", has_text=f"Keep row {row}?")


def recorded_in(lab: JupyterServer, notebook: str) -> Any:
    """What a notebook of the same folder prints after RECORDED (the decision log read in its kernel)."""
    with chromium_page(height=1200) as check:
        check.goto(lab.lab_url(notebook))
        wait_for_kernel(check)
        run_all(check)
        printed = check.locator(".jp-OutputArea-output", has_text="RECORDED").first
        printed.wait_for(timeout=60_000)
        return json.loads(printed.inner_text().split("RECORDED", 1)[1])


def wait_for_focus_on_approve(page: Any, row: int) -> None:
    """Wait until the keyboard's focus is on the Approve button of the request about ``row`` (the kernel
    moves it there once the answer before is taken)."""
    page.wait_for_function(
        """row => {
            const focused = document.activeElement;
            const box = focused && focused.closest('.graflow-nb-request');
            return box !== null && box.textContent.includes(`Keep row ${row}?`)
                && focused.textContent.includes('Approve');
        }""",
        arg=row,
        timeout=30_000,
    )


def test_a_thousand_requests_paged_filtered_and_answered_by_keyboard(lab: JupyterServer, tmp_path: Path) -> None:
    with chromium_page(height=2400) as page:
        page.goto(lab.lab_url("batch.ipynb"))
        wait_for_kernel(page)
        started = time.monotonic()
        run_all(page)
        where = page.locator(".gnb-page-where")
        where.get_by_text("requests #1-#20 of 1,000").wait_for(timeout=60_000)
        print(f"Run All -> first page of a 1,000-request batch: {time.monotonic() - started:.2f} s")
        assert page.locator(".graflow-nb-request").count() == 20  # one page drawn, not a thousand controls
        screenshot(page, "batch-first-page")

        # In sequence by keyboard: Enter approves and the focus goes on; Tab reaches Reject.
        prompts = page.locator(".graflow-nb-request .jp-RenderedMarkdown").all_inner_texts()
        first, second, third = (int(text.split("row ")[1].rstrip("?\n ")) for text in prompts[:3])
        request_box(page, first).get_by_role("button", name="Approve").focus()
        page.keyboard.press("Enter")
        request_box(page, first).and_(page.locator(".gnb-approved")).wait_for()
        wait_for_focus_on_approve(page, second)  # as a person waits to see the focus move on
        page.keyboard.press("Enter")
        request_box(page, second).and_(page.locator(".gnb-approved")).wait_for()
        wait_for_focus_on_approve(page, third)
        page.keyboard.press("Tab")  # from the third's Approve to its Reject
        page.keyboard.press("Enter")
        request_box(page, third).and_(page.locator(".gnb-rejected")).wait_for()
        where.get_by_text("997 waiting").wait_for()
        screenshot(page, "batch-answered-in-sequence")

        # A filter typed key by key, with a typo corrected, applied with Enter.
        filter_field = page.locator(".gnb-page-filter input")
        assert type_with_a_correction(filter_field, "row 9x", 1, "99?") == "row 999?"
        filter_field.press("Enter")
        request_box(page, 999).wait_for()
        page.wait_for_function("() => document.querySelectorAll('.graflow-nb-request').length === 1")
        request_box(page, 999).get_by_role("button", name="Reject").click()  # changed one's mind: reject it
        request_box(page, 999).and_(page.locator(".gnb-rejected")).wait_for()
        screenshot(page, "batch-filtered")

        # Filter cleared; the next page by keyboard: waiting requests only, after the first page.
        filter_field.fill("")
        filter_field.press("Enter")
        where.get_by_text("requests #4-#23 of 1,000").wait_for()  # rows 0-2 answered: not waiting
        page.locator(".gnb-next-page").focus()
        page.keyboard.press("Enter")
        where.get_by_text("requests #24-#43 of 1,000").wait_for()
        prompts = page.locator(".graflow-nb-request .jp-RenderedMarkdown").all_inner_texts()
        fourth = int(prompts[0].split("row ")[1].rstrip("?\n "))
        wait_for_focus_on_approve(page, fourth)  # the focus goes to the new page's first Approve
        page.keyboard.press("Enter")
        request_box(page, fourth).and_(page.locator(".gnb-approved")).wait_for()
        where.get_by_text("995 waiting").wait_for()
        screenshot(page, "batch-next-page")

    assert recorded_in(lab, "recorded.ipynb") == {
        f"row{first:04d}": "approved",
        f"row{second:04d}": "approved",
        f"row{third:04d}": "rejected",
        "row0999": "rejected",
        f"row{fourth:04d}": "approved",
    }


SYNC_BATCH = """
import json, os
from pathlib import Path
from graflow_nb import task, workflow

os.environ["GRAFLOW_NB_WAITING_THREADS"] = "4"  # beyond 4 waiting, a sync task is parked

with workflow("sync-batch") as wf:
    def review(index):
        @task(id=f"row{index:02d}", inject_context=True)
        def check(ctx):
            with Path(f"ran-{index}.txt").open("a") as ran:  # each execution of the task leaves a mark
                ran.write("x")
            response = ctx.request_feedback("approval", f"Keep row {index}?")
            Path(f"verdict-{index}.json").write_text(json.dumps([response.approved, response.reason]))
            return response.approved
        return check

    rows = [review(index) for index in range(10)]
    batch = rows[0]
    for row in rows[1:]:
        batch = batch | row

run = wf.start()
"""


def test_sync_tasks_parked_beyond_the_thread_budget_are_answered_in_the_page_like_any_other(tmp_path: Path) -> None:
    write_notebook(tmp_path / "sync.ipynb", [SYNC_BATCH])
    verdicts: dict[int, tuple[bool, str | None]] = {}
    with jupyter_server(tmp_path) as lab, chromium_page(height=2400) as page:
        page.goto(lab.lab_url("sync.ipynb"))
        wait_for_kernel(page)
        run_all(page)
        page.locator(".graflow-nb-request.gnb-asking").nth(9).wait_for(timeout=60_000)
        assert len(list(tmp_path.glob("ran-*.txt"))) == 10
        boxes = page.locator(".graflow-nb-request").all_inner_texts()
        shown = [int(match.group(1)) for text in boxes if (match := re.search(r"Keep row (\d+)\?", text))]
        assert shown == list(range(10)), "shown in the workflow's order of tasks, not the order their threads asked"
        for row in range(10):  # every other one rejected; row 7 with a reason typed key by key, a typo mended
            box = request_box(page, row)
            reason = None
            if row == 7:
                reason = type_with_a_correction(box.locator("input"), "too blurri", 1, "y")
                assert reason == "too blurry"
            verdict = "Approve" if row % 2 == 0 else "Reject"
            box.get_by_role("button", name=verdict).click()
            box.and_(page.locator(".gnb-approved" if row % 2 == 0 else ".gnb-rejected")).wait_for()
            verdicts[row] = (row % 2 == 0, reason)
        page.locator(".graflow-nb-panel", has_text="completed").wait_for(timeout=60_000)
        screenshot(page, "sync-batch-answered")
    recorded = {row: tuple(json.loads((tmp_path / f"verdict-{row}.json").read_text())) for row in range(10)}
    assert recorded == verdicts, "each task, parked or not, got the answer its control showed"
    executions = sorted(len((tmp_path / f"ran-{row}.txt").read_text()) for row in range(10))
    assert executions == [1] * 4 + [2] * 6, "4 waited in a thread; 6 were parked and ran again once answered"


DRAFTS_RECORDED = """
import json
from graflow_nb import decision_log
entries = decision_log("drafts.graflow_nb", workflow="drafts").entries
answered = [[e["task_id"], e["answer"]] for e in entries if e["event"] == "answered"]
print("RECORDED", json.dumps(answered))
"""


def test_a_reason_typed_then_paged_away_is_still_there_when_its_page_comes_back(tmp_path: Path) -> None:
    write_notebook(tmp_path / "drafts.ipynb", [review_batch_cell("drafts", 30)])
    write_notebook(tmp_path / "recorded.ipynb", [DRAFTS_RECORDED])
    with jupyter_server(tmp_path) as lab:
        with chromium_page(height=2400) as page:
            page.goto(lab.lab_url("drafts.ipynb"))
            wait_for_kernel(page)
            run_all(page)
            where = page.locator(".gnb-page-where")
            where.get_by_text("requests #1-#20 of 30").wait_for(timeout=60_000)
            reason = request_box(page, 4).locator("input")
            assert type_with_a_correction(reason, "cropped tooo", 1, " much") == "cropped too much"
            page.locator(".gnb-next-page").click()  # a look at the next page before deciding
            where.get_by_text("requests #21-#30 of 30").wait_for()
            page.locator(".gnb-previous-page").click()
            where.get_by_text("requests #1-#20 of 30").wait_for()
            reason = request_box(page, 4).locator("input")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.graflow-nb-request')].some(r => "
                "r.textContent.includes('Keep row 4?') && r.querySelector('input').value === 'cropped too much')"
            )
            screenshot(page, "batch-draft-back")
            reason.press("End")
            reason.press_sequentially(", reject", delay=25)
            request_box(page, 4).get_by_role("button", name="Reject").click()
            request_box(page, 4).and_(page.locator(".gnb-rejected")).wait_for()
            shown = request_box(page, 4).locator("input").input_value()
        recorded = recorded_in(lab, "recorded.ipynb")
    assert shown == "cropped too much, reject"
    assert recorded == [["row0004", "rejected: cropped too much, reject"]]
