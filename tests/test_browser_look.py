"""How the panel reads, in Chromium, in JupyterLab's light and dark themes.

Screenshots of every control type before and after answering go to test-artifacts/ (look at them);
the assertions check what a glance must tell: a rejection is not shown as a success, the chosen button
stays marked, answers read as a person writes them, status text keeps a 4.5:1 contrast, no glyph
needs an emoji font, and nothing is printed under the live panel.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import (
    JupyterServer,
    chromium_page,
    jupyter_server,
    require_chromium,
    run_all,
    screenshot,
    wait_for_kernel,
    write_notebook,
)

require_chromium()
pytestmark = pytest.mark.timeout(300)

NOTEBOOK = """\
from graflow_nb import TaskExecutionContext, task, workflow
from pydantic import BaseModel, Field

class Split(BaseModel):
    test_share: float = Field(0.2, ge=0.05, le=0.5)
    stratify: bool = True

QUESTIONS = {
    "ship": dict(feedback_type="approval", prompt="Ship **v2** to production?", metadata={"replicas": 3}),
    "veto": dict(feedback_type="approval", prompt="Delete the **old** bucket?"),
    "note": dict(feedback_type="text", prompt="A note for the log"),
    "env": dict(feedback_type="selection", prompt="Which environment?", options=["dev", "staging", "prod"]),
    "cols": dict(feedback_type="multi_selection", prompt="Drop which columns?", options=["age", "tenure", "city"]),
    "degree": dict(feedback_type="number", prompt="Polynomial degree", min=1, max=9, default=3),
    "split": dict(feedback_type="form", prompt="Train/test split", model=Split),
}

def asking(key):
    @task(id=key, inject_context=True)
    def ask(ctx: TaskExecutionContext):
        return ctx.request_feedback(**QUESTIONS[key]).model_dump(mode="json")
    return ask

with workflow("look") as wf:
    for key in QUESTIONS:
        asking(key)
run = wf.start()
"""

#: Every glyph the panel may show must be in ordinary text fonts (no emoji presentation).
EMOJI = re.compile("[\u231a-\u23ff\u2600-\u27bf\U0001f000-\U0001faff]")

CONTRAST = """
els => els.map(el => {
    const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
        const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    let background = null;
    for (let node = el; node; node = node.parentElement) {
        const value = rgb(getComputedStyle(node).backgroundColor);
        if (value.length >= 3 && (value.length === 3 || value[3] > 0.5)) { background = value; break; }
    }
    background = background || [255, 255, 255];
    const a = luminance(rgb(getComputedStyle(el).color)), b = luminance(background);
    return {text: el.innerText.trim().slice(0, 60), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
})
"""


#: The panel's parts that scroll sideways: a scrollbar under a control whose parts are 100% wide plus a margin.
SIDEWAYS = """() => [...document.querySelectorAll('.graflow-nb-panel, .graflow-nb-panel *')]
    .filter(el => el.scrollWidth > el.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))
    .map(el => `${el.className}: ${el.scrollWidth} > ${el.clientWidth}`)"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = tmp_path_factory.mktemp("look")
    write_notebook(root / "look_light.ipynb", [NOTEBOOK])
    write_notebook(root / "look_dark.ipynb", [NOTEBOOK])
    with jupyter_server(root) as running:
        yield running


def box(page: Any, key_prompt: str) -> Any:
    return page.locator(".graflow-nb-request", has_text=key_prompt)


def use_theme(page: Any, theme: str) -> None:
    """Settings ▸ Theme ▸ <theme>, from the menu bar as a person does."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=theme).first.click()
    page.wait_for_function(f"document.body.dataset.jpThemeName === {theme!r}")


def answer_everything(page: Any) -> None:
    box(page, "Ship").get_by_role("button", name="Approve").click()
    veto = box(page, "Delete the")
    veto.locator("input[type=text]").press_sequentially("still in use", delay=10)
    veto.get_by_role("button", name="Reject").click()
    note = box(page, "A note for the log")
    note.locator("textarea").press_sequentially("checked by hand", delay=10)
    note.get_by_role("button", name="Submit").click()
    env = box(page, "Which environment?")
    env.get_by_role("button", name="staging", exact=True).click()
    env.get_by_role("button", name="Submit").click()
    cols = box(page, "Drop which columns?")
    cols.get_by_role("checkbox", name="age").click()
    cols.get_by_role("checkbox", name="tenure").click()
    cols.get_by_role("button", name="Submit").click()
    degree = box(page, "Polynomial degree")
    degree.locator(".noUi-handle").focus()
    degree.locator(".noUi-handle").press("ArrowRight")
    degree.get_by_role("button", name="Submit").click()
    box(page, "Train/test split").get_by_role("button", name="Submit").click()
    page.locator(".gnb-state", has_text="completed").wait_for()


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_the_panel_reads_at_a_glance(server: JupyterServer, theme: str) -> None:
    shade = "dark" if "Dark" in theme else "light"
    with chromium_page(height=2600, dark=shade == "dark") as page:
        try:
            page.goto(server.lab_url(f"look_{shade}.ipynb"))
            wait_for_kernel(page)
            use_theme(page, theme)
            run_all(page)
            page.locator(".graflow-nb-request").nth(6).wait_for()
            page.wait_for_timeout(500)  # fonts and the countdown settle before the picture
            panel = page.locator(".graflow-nb-panel")
            panel.screenshot(path=str(screenshot_path(f"look-{shade}-pending")))

            assert page.evaluate(SIDEWAYS) == [], "no control scrolls sideways"
            empty_note = box(page, "A note for the log").get_by_role("button", name="Submit")
            assert empty_note.is_disabled(), "an empty text must not be sent by a stray click"
            empty_cols = box(page, "Drop which columns?").get_by_role("button", name="Submit")
            assert empty_cols.is_disabled(), "an empty multi-selection must not be sent by a stray click"
            cancel = page.get_by_role("button", name="Cancel run")
            assert cancel.is_enabled()
            assert cancel.locator("i").count() == 0, "no icon that makes Cancel look like a checkbox"

            answer_everything(page)
            page.wait_for_timeout(300)
            panel.screenshot(path=str(screenshot_path(f"look-{shade}-answered")))

            ship, veto = box(page, "Ship"), box(page, "Delete the")
            assert "gnb-approved" in ship.get_attribute("class")
            assert "gnb-rejected" in veto.get_attribute("class")
            assert "gnb-approved" not in veto.get_attribute("class")
            assert "gnb-chosen" in veto.get_by_role("button", name="Reject").get_attribute("class")
            assert "gnb-chosen" in ship.get_by_role("button", name="Approve").get_attribute("class")
            statuses = {
                prompt: box(page, prompt).locator(".gnb-status").inner_text()
                for prompt in (
                    "Ship",
                    "Delete the",
                    "A note",
                    "Which environment?",
                    "Drop which",
                    "Polynomial",
                    "Train",
                )
            }
            assert statuses["Ship"].startswith("approved\nby ")  # the answer, then who, how and when below it
            assert statuses["Delete the"].startswith("rejected: still in use\nby ")
            assert statuses["A note"].startswith("checked by hand\nby ")
            assert statuses["Which environment?"].startswith("staging\nby ")
            assert statuses["Drop which"].startswith("age, tenure\nby ")
            assert statuses["Polynomial"].startswith("4\nby ")
            assert statuses["Train"].startswith("test_share: 0.2, stratify: yes\nby ")
            assert not box(page, "A note").get_by_role("button", name="Submit").is_visible()

            text = panel.inner_text()
            assert not EMOJI.search(text), f"a glyph that needs an emoji font: {EMOJI.findall(text)}"
            ratios = page.locator(".gnb-status, .gnb-muted, .gnb-state, .gnb-task, .gnb-title").evaluate_all(CONTRAST)
            low = [r for r in ratios if r["text"] and r["ratio"] < 4.5]
            assert not low, f"status text below 4.5:1 in {theme}: {low}"
            assert not cancel.is_visible(), "once the run has ended there is nothing to cancel"
            header = panel.locator(".gnb-header").inner_text()
            assert re.fullmatch(r"look\s+completed\s+7/7 tasks(\s+\d+ s)?", header.strip()), header
            cell_text = page.locator(".jp-CodeCell").first.locator(".jp-Cell-outputArea").inner_text()
            assert "graflow_nb: workflow" not in cell_text, "the text stand-in must not show under the live panel"
        finally:
            screenshot(page, f"look-{shade}-page")


def screenshot_path(name: str) -> Any:
    from tests.browser import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"
