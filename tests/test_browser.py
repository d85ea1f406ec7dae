"""JupyterLab in a real browser (Debian's Chromium driven by Playwright): a person's click resumes a run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not Path(CHROMIUM).exists():
    pytest.fail(f"{CHROMIUM} is missing: ./scripts/test installs Debian's chromium", pytrace=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """JupyterLab on 127.0.0.1 (random port, token) serving a copy of the approval notebook."""
    from tests.kernel_harness import _free_port

    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "01_approval_gate.ipynb", root)
    shutil.copy(ROOT / "notebooks" / "01_approval_gate.ipynb", root / "restart_demo.ipynb")
    port, token = _free_port(), os.urandom(12).hex()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAFLOW_NB_")}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_root=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env={**env, "JUPYTER_RUNTIME_DIR": str(root / ".runtime")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as server:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise TimeoutError("JupyterLab did not start") from None
                time.sleep(0.2)  # nothing to wait on but the port
        try:
            yield url, token, root
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def page(lab: tuple[str, str, Path]) -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 4200})
        finally:
            browser.close()


def run_all(page: object) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()  # type: ignore[attr-defined]
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()  # type: ignore[attr-defined]


def open_notebook(page: object, url: str, token: str, name: str) -> None:
    page.goto(f"{url}/lab/workspaces/{name.split('.', maxsplit=1)[0]}/tree/{name}?reset&token={token}")  # type: ignore[attr-defined]
    page.locator(".jp-Notebook").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    # the status bar says Idle only once the kernel has started and connected
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)  # type: ignore[attr-defined]


def test_run_all_then_approve_and_reject_in_the_rendered_widgets(lab: tuple[str, str, Path], page: object) -> None:
    url, token, _root = lab
    ARTIFACTS.mkdir(exist_ok=True)
    open_notebook(page, url, token, "01_approval_gate.ipynb")
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


def test_restart_the_kernel_from_the_ui_rerun_and_resume_by_clicking(lab: tuple[str, str, Path], page: object) -> None:
    url, token, root = lab
    ARTIFACTS.mkdir(exist_ok=True)
    open_notebook(page, url, token, "restart_demo.ipynb")
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
