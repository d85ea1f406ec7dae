"""In Chromium: an approver who is not in the notebook answers from the server's page (issue #20).

JupyterLab runs the notebook in one browser; the approver, on a phone-width screen in dark mode, in
another with no session: the request list sends them to the login page, where they type the token;
they follow the link, type a number beyond its bound (the page says why it is not recorded), then a
good one; then approve with a reason typed key by key (with a correction), while a second tab they
had open tries to reject and is told who answered first. The notebook's panel shows each answer, by
whom and via the web, and the run goes on with exactly what the approver's screen showed."""

from __future__ import annotations

from pathlib import Path

import pytest

from .browser import (
    chromium_page,
    jupyter_server,
    require_chromium,
    run_all,
    screenshot,
    type_with_a_correction,
    wait_for_kernel,
    write_notebook,
)

pytestmark = pytest.mark.timeout(240)

CELL = """
from graflow_nb import task, workflow

with workflow("web-release") as wf:
    @task(inject_context=True)
    def decide(ctx):
        replicas = ctx.request_feedback(feedback_type="number", prompt="How many **replicas**?", min=1, max=9,
                                        step=1, timeout=600)
        go = ctx.request_feedback(feedback_type="approval", prompt="Ship **2.4** to production?", timeout=600)
        return {"replicas": replicas.value, "approved": go.approved, "reason": go.reason, "by": go.via}

wf.execute(resume=False)
"""


def test_in_chromium_an_approver_answers_from_the_link_and_the_notebook_goes_on(tmp_path: Path) -> None:
    require_chromium()
    root = tmp_path / "lab"
    root.mkdir()
    write_notebook(root / "release.ipynb", [CELL])
    with jupyter_server(root) as server, chromium_page(height=1400) as lab:
        phone = lab.context.browser.new_context(viewport={"width": 390, "height": 900}, color_scheme="dark")
        approver = phone.new_page()
        approver.set_default_timeout(60_000)
        try:
            lab.goto(server.lab_url("release.ipynb"))
            wait_for_kernel(lab)
            run_all(lab)
            number_box = lab.locator(".graflow-nb-request", has_text="How many")
            number_box.wait_for(timeout=90_000)

            approver.goto(f"{server.url}/graflow-nb/requests")
            password = approver.get_by_role("textbox", name="Password or token:")  # the server's login page
            password.click()
            password.press_sequentially(server.token, delay=5)
            password.press("Enter")
            approver.get_by_role("link", name="How many replicas?").click()
            value = approver.locator("input[name=value]")
            value.click()
            value.press_sequentially("12", delay=40)
            approver.get_by_role("button", name="Submit").click()
            approver.get_by_text("Not recorded").wait_for()
            screenshot(approver, "web-page-refused")
            value = approver.locator("input[name=value]")
            value.fill("")
            value.press_sequentially("3", delay=40)
            shown_value = int(value.input_value())
            approver.get_by_role("button", name="Submit").click()
            approver.get_by_text("Recorded: 3").wait_for()
            number_box.get_by_text("via web").wait_for(timeout=30_000)  # the notebook's panel shows it

            approval_box = lab.locator(".graflow-nb-request", has_text="Ship 2.4")
            approval_box.wait_for(timeout=30_000)
            approver.goto(f"{server.url}/graflow-nb/requests")
            screenshot(approver, "web-list-phone-dark")
            approver.get_by_role("link", name="Ship 2.4 to production?").click()
            second_tab = phone.new_page()
            second_tab.goto(approver.url)  # the same request, open twice
            shown_reason = type_with_a_correction(approver.locator("input[name=reason]"), "canary is grene", 3, "een")
            approver.get_by_role("button", name="Approve").click()
            approver.get_by_text("Recorded: approved").wait_for()
            screenshot(approver, "web-page-recorded")
            second_tab.get_by_role("button", name="Reject").click()  # changed their mind, too late
            second_tab.get_by_text("already answered by").wait_for()
            screenshot(second_tab, "web-page-late")

            approval_box.get_by_text(f"approved: {shown_reason}").wait_for(timeout=30_000)
            lab.get_by_text("completed").first.wait_for(timeout=30_000)
            result = lab.locator(".jp-OutputArea-output", has_text="'replicas'").last.inner_text()
            screenshot(lab, "web-answers-in-notebook")
            lab.goto(f"{server.url}/graflow-nb/requests")  # the notebook's user is signed in too
            lab.get_by_text("Recently settled").wait_for()
            screenshot(lab, "web-list-light")
        finally:
            screenshot(lab, "web-answers-in-notebook-after")
            screenshot(approver, "web-approver-after")
            phone.close()
    assert shown_value == 3
    assert shown_reason == "canary is green"
    assert f"'replicas': {shown_value}" in result
    assert f"'reason': '{shown_reason}'" in result
    assert "'by': 'web'" in result
