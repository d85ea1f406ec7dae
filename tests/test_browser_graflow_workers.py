"""JupyterLab in Chromium: a person tunes and approves a task that runs on one of Graflow's workers
(issue #19). The slider is dragged twice and nudged by keyboard, the reason typed key by key with a
change of mind; the worker's task gets exactly what the screen showed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .browser import (
    GRAFLOW_SPEC,
    chromium_page,
    jupyter_server,
    require_chromium,
    run_all,
    screenshot,
    type_with_a_correction,
    wait_for_kernel,
    write_notebook,
)
from .redis_parts import GraflowWorkers, graflow_python, redis_server, redis_url, wait_for, workers
from .test_browser_controls import drag_handle

__all__ = ["graflow_python", "redis_server", "redis_url", "workers"]  # fixtures
pytestmark = pytest.mark.timeout(240)

CELL = """
import json, os
from graflow_nb import task, workflow

OUT = {out!r}

with workflow("tune-on-workers") as wf:
    @task(inject_context=True)
    def tune(ctx):
        epochs = ctx.request_feedback(feedback_type="number", prompt="Epochs?", min=1, max=50, step=1, default=10)
        go = ctx.request_feedback(feedback_type="approval", prompt="Train on the cluster?")
        got = {{"epochs": epochs.value, "approved": go.approved, "reason": go.reason, "pid": os.getpid()}}
        with open(OUT, "w") as out:
            json.dump(got, out)
        return got

wf.execute(redis={url!r}, resume=False)
"""


def test_in_chromium_a_person_answers_a_task_running_on_a_graflow_worker(
    workers: GraflowWorkers, redis_url: str, tmp_path: Path
) -> None:
    require_chromium()
    root = tmp_path / "lab"
    root.mkdir()
    out = tmp_path / "got.json"
    write_notebook(root / "tune.ipynb", [CELL.format(out=str(out), url=redis_url)], kernel=GRAFLOW_SPEC)
    with jupyter_server(root) as server, chromium_page(height=1400) as page:
        try:
            page.goto(server.lab_url("tune.ipynb"))
            wait_for_kernel(page)
            run_all(page)
            box = page.locator(".graflow-nb-request", has_text="Epochs?")
            handle = box.locator(".noUi-handle")
            handle.wait_for(timeout=90_000)
            drag_handle(page, handle, 80)
            drag_handle(page, handle, -30)  # changed their mind
            handle.focus()
            handle.press("ArrowRight")
            page.wait_for_timeout(300)  # the readout follows the release: let the screen settle
            epochs = int(box.locator(".widget-readout").inner_text())
            box.get_by_role("button", name="Submit").click()

            approval = page.locator(".graflow-nb-request", has_text="Train on the cluster?")
            reason = approval.locator("input[type=text]")
            reason.wait_for(timeout=60_000)
            shown = type_with_a_correction(reason, "gpu qeue is free", 11, "ueue is free")  # back to "gpu q"
            approval.get_by_role("button", name="Approve").click()
            got = json.loads(wait_for(lambda: out.exists() and out.read_text(), "the worker's task to end", 60))
            page.get_by_text("completed").first.wait_for(timeout=30_000)
            page.locator(".gnb-header", has_text=f"on Graflow workers of {redis_url}").wait_for(timeout=10_000)
            screenshot(page, "graflow-workers")
        finally:
            screenshot(page, "graflow-workers-after")
    assert epochs != 10  # the drags moved it
    assert shown == "gpu queue is free"
    assert got == {"epochs": epochs, "approved": True, "reason": shown, "pid": got["pid"]}
    assert got["pid"] in workers.pids
