"""A Jupyter server and Debian's Chromium (driven by Playwright), for tests that act as a person does."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

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
IPYKERNEL6_PYTHON = ROOT / ".venv-ipykernel6" / "bin" / "python"
#: The kernelspec that starts ipykernel 6 (installed in the server's JUPYTER_PATH when that venv exists).
IPYKERNEL6_SPEC = "ipykernel6"
GRAFLOW_PYTHON = ROOT / ".venv-graflow" / "bin" / "python"
#: The kernelspec of the venv with Graflow beside graflow_nb (runs whose tasks go to Graflow's workers).
GRAFLOW_SPEC = "graflow-venv"
KERNEL_DISPLAY_NAMES = {
    "python3": "Python 3 (ipykernel)",
    IPYKERNEL6_SPEC: "Python 3 (ipykernel 6)",
    GRAFLOW_SPEC: "Python 3 (with Graflow)",
}


def require_chromium() -> None:
    """Fail (not skip) without a browser: ./scripts/test installs it, so its absence is a broken set-up."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/test installs Debian's chromium", pytrace=False)


@dataclass
class JupyterServer:
    """A running JupyterLab / Notebook 7 server on 127.0.0.1 with a token."""

    url: str
    token: str
    root: Path

    def lab_url(self, name: str) -> str:
        """Open ``name`` in JupyterLab, in a workspace of its own (reset, so nothing carries over)."""
        return f"{self.url}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={self.token}"

    def notebook7_url(self, name: str) -> str:
        """Open ``name`` in Notebook 7's single-document page."""
        return f"{self.url}/notebooks/{name}?token={self.token}"


def _kernelspecs(directory: Path) -> Path:
    """A JUPYTER_PATH with kernelspecs for ipykernel 6 and for the Graflow venv beside the default one
    (each when its venv exists)."""
    kernels = directory / "kernels"
    for name, python in ((IPYKERNEL6_SPEC, IPYKERNEL6_PYTHON), (GRAFLOW_SPEC, GRAFLOW_PYTHON)):
        if not python.exists():
            continue
        spec = kernels / name
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": KERNEL_DISPLAY_NAMES[name],
                    "language": "python",
                }
            )
        )
    return directory


def _lab_settings(directory: Path) -> Path:
    """JupyterLab settings for the tests: start the notebook's own kernel without asking (a freshly
    started server sometimes asks which kernel to use before it has listed them)."""
    tracker = directory / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"autoStartDefaultKernel": True}))
    return directory


@contextlib.contextmanager
def jupyter_server(root: Path, app: str = "jupyterlab") -> Iterator[JupyterServer]:
    """Start ``python -m <app>`` (jupyterlab or notebook) serving ``root``; stop it afterwards."""
    from tests.kernel_harness import _free_port

    port, token = _free_port(), os.urandom(12).hex()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAFLOW_NB_")}
    env["JUPYTER_PATH"] = str(_kernelspecs(root / ".jupyter-path"))
    # JupyterLab's settings (the theme) and workspaces of its own: a test never changes a person's own
    env["JUPYTERLAB_SETTINGS_DIR"] = str(_lab_settings(root / ".lab-settings"))
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(root / ".lab-workspaces")
    log = (root / f".{app}.log").open("wb")
    with (
        log,
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                app,
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
            stdout=log,
            stderr=subprocess.STDOUT,
        ) as server,
    ):
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise TimeoutError(f"{app} did not start; see {log.name}") from None
                time.sleep(0.2)  # nothing to wait on but the port
        try:
            yield JupyterServer(url, token, root)
        finally:
            server.terminate()
            server.wait(timeout=30)


@contextlib.contextmanager
def chromium_page(width: int = 1280, height: int = 2400, dark: bool = False) -> Iterator[Any]:
    """A fresh headless Chromium page (Debian's build)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(
                viewport={"width": width, "height": height}, color_scheme="dark" if dark else "light"
            )
            page.set_default_timeout(60_000)
            console: list[str] = []
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            try:
                yield page
            finally:  # what the page said, for a failure's post-mortem (errors of the widget manager, say)
                ARTIFACTS.mkdir(exist_ok=True)
                with (ARTIFACTS / "browser-console.log").open("a", encoding="utf-8") as log:
                    log.write(f"--- {page.url}\n" + "".join(f"{line}\n" for line in console))
        finally:
            browser.close()


def write_notebook(path: Path, cells: list[str], kernel: str = "python3") -> Path:
    """A notebook of code cells (a leading ``#md`` line makes a markdown cell)."""
    notebook = nbformat.v4.new_notebook()
    for source in cells:
        if source.startswith("#md\n"):
            notebook.cells.append(nbformat.v4.new_markdown_cell(source.removeprefix("#md\n")))
        else:
            notebook.cells.append(nbformat.v4.new_code_cell(source))
    display_name = KERNEL_DISPLAY_NAMES.get(kernel, kernel)
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": display_name, "language": "python"}
    nbformat.write(notebook, path)
    return path


def run_all(page: Any) -> None:
    """Run ▸ Run All Cells, from the menu bar as a person would (JupyterLab and Notebook 7).

    Then some cell is queued or running (``[*]``, which a just-started kernel shows for a while) and no
    code cell is left ``[ ]``. A notebook whose kernel has only just connected sometimes ignores the
    command, or runs the first cell and drops the rest: then the menu is used again, as a person would.
    """
    prompts = "[...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.innerText)"
    some_cell_queued = f"() => {prompts}.some(text => /\\[\\*\\]/.test(text))"
    no_cell_left_out = f"() => {prompts}.every(text => !/\\[\\s*\\]/.test(text))"
    for _ in range(5):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(some_cell_queued, timeout=5_000)
            page.wait_for_function(no_cell_left_out, timeout=5_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: try the menu again
            continue
    raise AssertionError("Run All Cells did not start every cell")


def wait_for_kernel(page: Any) -> None:
    """Wait until the notebook's own kernel has started, is connected and idle.

    Not the toolbar's execution indicator alone: its ``data-status`` is ``idle`` from the moment the
    toolbar renders, before the notebook has loaded or any kernel exists. A Run All clicked then starts
    a kernel (``runCell`` -> ``startKernel``) while the session context is still initializing; the
    session context then finds that session by path and connects to the same kernel a second time,
    and that second connection, the one the notebook keeps, ignores comm messages
    (``handleComms=false``): every widget says "Error displaying widget: model not found".
    JupyterLab's status bar says "<kernel> | Idle" only once the session has a connected kernel;
    Notebook 7 has no status bar, so there the server must list the notebook's session with a
    connected, idle kernel before the indicator counts.
    """
    page.locator(".jp-Notebook").wait_for()
    check = """() => {
        const dialog = document.querySelector('.jp-Dialog');
        if (dialog !== null) throw new Error('a dialog opened: ' + dialog.innerText);
        const bar = document.querySelector('#jp-main-statusbar');
        if (bar !== null) return /\\| Idle/.test(bar.innerText);          // JupyterLab's status bar
        const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
        return indicator !== null && indicator.getAttribute('data-status') === 'idle';  // Notebook 7
    }"""
    deadline = time.monotonic() + 90
    if "/notebooks/" in page.url:  # Notebook 7: first the server's session for this notebook
        parsed = urllib.parse.urlsplit(page.url)
        name = urllib.parse.unquote(parsed.path.split("/notebooks/", 1)[1])
        while True:  # the page's own cookies (the token login) authenticate page.request
            sessions = page.request.get(f"{parsed.scheme}://{parsed.netloc}/api/sessions").json()
            kernels = [s["kernel"] for s in sessions if s["path"] == name and s.get("kernel")]
            if any(k.get("connections", 0) >= 1 and k.get("execution_state") == "idle" for k in kernels):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no connected, idle kernel for {name}: {sessions}")
            page.wait_for_timeout(200)  # the server's sessions change without telling the page
    page.wait_for_function(check, timeout=max(1_000, (deadline - time.monotonic()) * 1000))


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save a screenshot under test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def type_with_a_correction(field: Any, typed: str, erase: int, then: str) -> str:
    """Click into a field and type key by key as a person does: ``typed``, ``erase`` Backspaces (a typo
    seen), then ``then``; return what the field shows."""
    field.click()
    field.press_sequentially(typed, delay=25)
    for _ in range(erase):
        field.press("Backspace")
    field.press_sequentially(then, delay=25)
    return str(field.input_value())
