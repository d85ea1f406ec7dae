"""The Voilà app (notebooks/07_voila_app.ipynb) in Chromium: the page shows at once, a visitor answers in
the panel, the panel shows the result, and each visitor has a run of their own."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import ROOT, chromium_page, require_chromium, screenshot

require_chromium()
pytestmark = pytest.mark.timeout(300)

APP = ROOT / "notebooks" / "07_voila_app.ipynb"


@contextlib.contextmanager
def voila(notebook: Path, **env: str) -> Iterator[str]:
    """``voila <notebook>`` on 127.0.0.1, as an author serves an app; yields its URL."""
    from tests.kernel_harness import _free_port

    port = _free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRAFLOW_NB_")}
    log = (notebook.parent / ".voila.log").open("wb")
    command = [
        str(Path(sys.executable).parent / "voila"),
        notebook.name,
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--ServerApp.port_retries=0",
    ]
    with log, subprocess.Popen(command, cwd=notebook.parent, env={**clean, **env}, stdout=log, stderr=log) as server:
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 90
            while True:
                try:  # any answer means it listens (GET / would start a kernel: a visitor of its own)
                    urllib.request.urlopen(f"{url}voila/static/", timeout=5).close()
                    break
                except urllib.error.HTTPError:
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise TimeoutError(f"voila did not start; see {log.name}") from None
                    time.sleep(0.2)  # nothing to wait on but the port
            yield url
        finally:  # also when it did not start: Popen's own exit would wait for it for ever
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    shutil.copy(APP, tmp_path)
    with voila(tmp_path / APP.name) as url:
        yield url, tmp_path


def panel(page: Any) -> Any:
    return page.locator(".graflow-nb-panel")


def run_id_shown(page: Any) -> str:
    return str(page.locator(".gnb-title").get_attribute("title")).removeprefix("run ")


def test_a_visitor_signs_off_in_the_page_and_sees_the_result(app: tuple[str, Path]) -> None:
    url, folder = app
    with chromium_page(height=1400) as page:
        try:
            page.goto(url)
            stable = page.get_by_role("button", name="stable")
            stable.wait_for(timeout=120_000)  # the page showed while the run waits for the visitor
            page.get_by_role("button", name="canary").click()
            stable.click()  # a change of mind: the answer is what the screen shows when Submit is pressed
            page.locator(".graflow-nb-request", has_text="to which channel").get_by_role(
                "button", name="Submit"
            ).click()
            approve = page.get_by_role("button", name="Approve")
            approve.wait_for(timeout=30_000)
            page.get_by_role("textbox", name="Reason").press_sequentially("looks good", delay=25)
            approve.click()
            panel(page).get_by_text("completed").wait_for(timeout=30_000)
            shown = panel(page).locator(".gnb-result").inner_text()
            run_id = run_id_shown(page)
        finally:
            screenshot(page, "voila-signed-off")
    assert "'channel': 'stable'" in shown
    assert "'signed_off': True" in shown
    saved = json.loads((folder / "07_voila_app.graflow_nb" / f"{run_id}.json").read_text())  # beside the app
    assert saved["status"] == "completed"
    answers = [record["response"] for record in saved["requests"]]
    assert [(a.get("selected"), a.get("approved"), a.get("reason")) for a in answers] == [
        ("stable", None, None),
        (None, True, "looks good"),
    ]


def test_each_visitor_gets_a_run_of_their_own(app: tuple[str, Path]) -> None:
    url, _folder = app
    with chromium_page(height=1400) as first:
        second = first.context.browser.new_page()  # another visitor: another page load, another kernel
        first.goto(url)
        first.get_by_role("button", name="stable").wait_for(timeout=120_000)
        first_run = run_id_shown(first)
        second.goto(url)
        second.get_by_role("button", name="stable").wait_for(timeout=120_000)
        second_run = run_id_shown(second)
        screenshot(second, "voila-second-visitor")
        assert second.locator(".graflow-nb-panel", has_text="resuming").count() == 0
    assert first_run != second_run


ASK = """\
from graflow_nb import TaskExecutionContext, task, workflow

with workflow("voila-blocking") as wf:
    @task(inject_context=True)
    def ask(ctx: TaskExecutionContext) -> str:
        return "yes" if ctx.request_feedback(feedback_type="approval", prompt="Go ahead?").approved else "no"
"""

BLOCKING_FORMS = {
    "execute": ["result = wf.execute()", 'print("after the run cell:", result)'],
    "await": ["run = wf.start()", "await run", 'print("after the run cell")'],
}


@pytest.mark.parametrize("form", list(BLOCKING_FORMS))
def test_a_blocking_run_cell_does_not_hold_the_page_back(tmp_path: Path, form: str) -> None:
    from tests.browser import write_notebook

    notebook = write_notebook(tmp_path / f"blocking_{form}.ipynb", [ASK, *BLOCKING_FORMS[form]])
    with voila(notebook) as url, chromium_page(height=1000) as page:
        try:
            page.goto(url)
            page.get_by_role("button", name="Approve").click(timeout=120_000)
            panel(page).get_by_text("completed").wait_for(timeout=30_000)
            shown = panel(page).locator(".gnb-result").inner_text()
            after = page.get_by_text("after the run cell").inner_text()
        finally:
            screenshot(page, f"voila-{form}")
    assert "'yes'" in shown
    assert after.startswith("after the run cell")  # the cells below ran: the page was not held back


def test_the_app_is_served_beside_jupyterlab(tmp_path: Path) -> None:
    """As the README says: with JupyterLab running (./scripts/lab, Binder), the app is at /voila/render/."""
    from tests.browser import jupyter_server

    shutil.copy(APP, tmp_path)
    with jupyter_server(tmp_path) as server, chromium_page(height=1200) as page:
        try:
            page.goto(f"{server.url}/voila/render/{APP.name}?token={server.token}")
            page.get_by_role("button", name="stable").wait_for(timeout=120_000)
        finally:
            screenshot(page, "voila-beside-lab")
