"""JupyterLab in a real browser (Debian's Chromium driven by Playwright): a person's click resumes a run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright import sync_api as playwright_api

from tests.browser import (
    ARTIFACTS,
    ROOT,
    JupyterServer,
    chromium_page,
    jupyter_server,
    require_chromium,
    run_all,
    wait_for_kernel,
)

require_chromium()
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """JupyterLab on 127.0.0.1 (random port, token) serving copies of the approval notebook."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "01_approval_gate.ipynb", root)
    shutil.copy(ROOT / "notebooks" / "01_approval_gate.ipynb", root / "restart_demo.ipynb")
    with jupyter_server(root) as server:
        yield server


@pytest.fixture
def page() -> Iterator[object]:
    with chromium_page(height=4200) as opened:
        yield opened


def open_notebook(page: object, server: JupyterServer, name: str) -> None:
    page.goto(server.lab_url(name))  # type: ignore[attr-defined]
    wait_for_kernel(page)


def test_run_all_then_approve_and_reject_in_the_rendered_widgets(lab: JupyterServer, page: object) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    open_notebook(page, lab, "01_approval_gate.ipynb")
    run_all(page)
    approve = page.get_by_role("button", name="Approve").first  # type: ignore[attr-defined]
    try:
        approve.wait_for(timeout=60_000)
    except playwright_api.TimeoutError:
        page.screenshot(path=str(ARTIFACTS / "approval-missing.png"), full_page=True)  # type: ignore[attr-defined]
        raise
    page.screenshot(path=str(ARTIFACTS / "approval-pending.png"))  # type: ignore[attr-defined]
    approve.click()
    try:
        page.get_by_text("deployed: deploy-1").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    finally:
        page.screenshot(path=str(ARTIFACTS / "approval-after-click.png"), full_page=True)  # type: ignore[attr-defined]
    reject = page.locator(".graflow-nb-request").nth(1).get_by_role("button", name="Reject")  # type: ignore[attr-defined]
    reject.wait_for(timeout=60_000)
    reject.click()
    page.get_by_text("cancelled: Deployment rejected").first.wait_for(timeout=60_000)  # type: ignore[attr-defined]
    page.screenshot(path=str(ARTIFACTS / "approval-done.png"), full_page=True)  # type: ignore[attr-defined]


def test_restart_the_kernel_from_the_ui_rerun_and_resume_by_clicking(lab: JupyterServer, page: object) -> None:
    root = lab.root
    ARTIFACTS.mkdir(exist_ok=True)
    open_notebook(page, lab, "restart_demo.ipynb")
    run_all(page)
    page.get_by_role("button", name="Approve").first.wait_for(timeout=60_000)  # type: ignore[attr-defined]
    checkpoints = root / "restart_demo.graflow_nb"
    assert checkpoints.is_dir()

    page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").first.click()  # type: ignore[attr-defined]
    page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel…").first.click()  # type: ignore[attr-defined]
    page.locator(".jp-Dialog-button.jp-mod-accept").click()  # type: ignore[attr-defined]
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)  # type: ignore[attr-defined]

    run_all(page)
    page.get_by_text("resuming run deploy-").first.wait_for(timeout=60_000)  # type: ignore[attr-defined]
    approve = page.get_by_role("button", name="Approve").first  # type: ignore[attr-defined]
    approve.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "restart-resumed-pending.png"), full_page=True)  # type: ignore[attr-defined]
    approve.click()
    page.get_by_text("deployed: deploy-1 | deployments made: 1").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    page.screenshot(path=str(ARTIFACTS / "restart-resumed-done.png"), full_page=True)  # type: ignore[attr-defined]
