"""Every control type, changed as a person changes it, in Chromium: what is recorded is what was shown.

One notebook asks eleven questions at once (approval with a reason, text, toggle buttons, dropdown,
checkboxes, slider, range slider, form, multi-select list, number box, custom JSON). The test types key
by key, drags and uses the keyboard, changes its mind, reads what the screen shows, then submits; the
task's value, the decision log and the answered control must all say what the screen showed. Run in
each way a notebook runs a workflow (a blocking ``wf.execute()`` cell, ``run = wf.start()`` then
``await run``, ``wf.start()`` with no cell running), on ipykernel 7 and 6, in JupyterLab 4 and Notebook 7.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import (
    IPYKERNEL6_PYTHON,
    IPYKERNEL6_SPEC,
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

SETUP = """\
import json
from typing import Literal
from pydantic import BaseModel, Field
from graflow_nb import TaskExecutionContext, decision_log, task, workflow

class Training(BaseModel):
    run_name: str = Field(min_length=3)
    epochs: int = Field(10, ge=1, le=50)
    shuffle: bool = True

ASKS = {
    "approve-reason": dict(feedback_type="approval"),
    "free-text": dict(feedback_type="text"),
    "toggle-pick": dict(feedback_type="selection", options=["none", "weak", "strong"]),
    "dropdown-pick": dict(feedback_type="selection", options=["alpha", "beta", "gamma", "delta", "eps", "zeta"]),
    "tick-boxes": dict(feedback_type="multi_selection", options=["age", "tenure", "income"]),
    "slider": dict(feedback_type="number", min=0, max=10, step=1, default=2),
    "band": dict(feedback_type="number", min=0, max=100, step=1, default=[20, 80], range=True),
    "form": dict(feedback_type="form", model=Training),
    "many-picks": dict(feedback_type="multi_selection", options=[f"feature_{n}" for n in range(8)]),
    "float-box": dict(feedback_type="number", default=0.5),
    "json-edit": dict(feedback_type="custom", default={"threshold": 0.5}),
}
FIELDS = {"approved", "reason", "text", "selected", "value", "data"}
recorded = {}

def asking(key):
    @task(id=key, inject_context=True)
    def ask(ctx: TaskExecutionContext) -> str:
        response = ctx.request_feedback(prompt=f"Question {key}", **ASKS[key])
        recorded[key] = response.model_dump(mode="json", include=FIELDS, exclude_none=True)
        return key
    return ask

with workflow("controls") as wf:
    for key in ASKS:
        asking(key)
"""

REPORT = """\
logged = {e["task_id"]: e.get("value") for e in decision_log(workflow="controls").entries if e["event"] == "answered"}
print("RECORDED " + json.dumps({"task": recorded, "log": logged}, sort_keys=True))
"""

MODES = {
    "execute": ["wf.execute()"],
    "await": ["run = wf.start()", "await run"],
    "idle": ["run = wf.start()"],
}


def build(root: Path, mode: str, kernel: str) -> str:
    name = f"controls_{mode}_{kernel}.ipynb"
    write_notebook(root / name, [SETUP, *MODES[mode], REPORT], kernel=kernel)
    return name


# -- gestures ------------------------------------------------------------------------------


def request_box(page: Any, key: str) -> Any:
    return page.locator(".graflow-nb-request", has_text=f"Question {key}")


def type_keys(field: Any, text: str) -> None:
    """Click into a field and type key by key, as a person types."""
    field.click()
    field.press_sequentially(text, delay=25)


def drag_handle(page: Any, handle: Any, dx: float) -> None:
    """Press a slider's handle, move in steps, release."""
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


def act_and_read(page: Any) -> dict[str, Any]:
    """Change every control several times; return what the screen shows just before submitting."""
    shown: dict[str, Any] = {}

    box = request_box(page, "free-text")
    area = box.locator("textarea")
    type_keys(area, "hello wrld")
    for _ in range(3):
        area.press("Backspace")
    type_keys(area, "orld")
    shown["free-text"] = {"text": area.input_value()}

    box = request_box(page, "toggle-pick")
    for option in ("strong", "weak", "none"):
        box.get_by_role("button", name=option, exact=True).click()
    shown["toggle-pick"] = {"selected": box.locator("button.mod-active").inner_text().strip()}

    box = request_box(page, "dropdown-pick")
    select = box.locator("select")
    select.select_option("gamma")
    select.select_option("zeta")
    select.focus()
    select.press("ArrowUp")  # zeta -> eps, by keyboard
    shown["dropdown-pick"] = {"selected": select.input_value()}

    box = request_box(page, "tick-boxes")
    boxes = {name: box.get_by_role("checkbox", name=name) for name in ("age", "tenure", "income")}
    boxes["age"].click()
    boxes["income"].click()
    boxes["tenure"].click()
    boxes["age"].click()  # changed their mind
    shown["tick-boxes"] = {"selected": [name for name, b in boxes.items() if b.is_checked()]}

    box = request_box(page, "slider")
    handle = box.locator(".noUi-handle")
    drag_handle(page, handle, 60)
    drag_handle(page, handle, 60)
    handle.focus()
    handle.press("ArrowRight")
    handle.press("ArrowRight")
    handle.press("ArrowLeft")
    page.wait_for_timeout(300)  # the readout follows the release: let the screen settle before reading it
    shown["slider"] = {"value": int(box.locator(".widget-readout").inner_text())}

    box = request_box(page, "band")
    low, high = box.locator(".noUi-handle").nth(0), box.locator(".noUi-handle").nth(1)
    drag_handle(page, low, -40)
    drag_handle(page, high, -50)
    drag_handle(page, low, 25)
    page.wait_for_timeout(300)
    readout = box.locator(".widget-readout").inner_text()
    shown["band"] = {"value": [int(v) for v in re.findall(r"\d+", readout)]}

    box = request_box(page, "form")
    name_field = box.locator(".widget-text input").first
    type_keys(name_field, "ab")
    box.get_by_role("button", name="Submit").click()
    box.get_by_text("Please fix the fields").wait_for()  # too short: refused, with the field marked
    type_keys(name_field, "c-run")
    epochs = box.locator(".noUi-handle")
    drag_handle(page, epochs, 40)
    epochs.focus()
    epochs.press("ArrowRight")
    shuffle = box.get_by_role("checkbox")
    shuffle.click()
    shuffle.click()
    shuffle.click()
    page.wait_for_timeout(300)
    shown["form"] = {
        "data": {
            "run_name": name_field.input_value(),
            "epochs": int(box.locator(".widget-readout").inner_text()),
            "shuffle": shuffle.is_checked(),
        }
    }

    box = request_box(page, "many-picks")
    select = box.locator("select")
    select.select_option(["feature_1", "feature_4"])
    select.select_option(["feature_2", "feature_4", "feature_7"])  # changed their mind
    shown["many-picks"] = {"selected": select.evaluate("s => [...s.selectedOptions].map(o => o.value)")}

    box = request_box(page, "float-box")
    number = box.locator("input")
    number.click()
    number.press("Control+A")
    number.press_sequentially("0.125", delay=25)
    number.press("Backspace")
    number.press_sequentially("75", delay=25)
    number.press("Enter")
    shown["float-box"] = {"value": float(number.input_value())}

    box = request_box(page, "json-edit")
    editor = box.locator("textarea")
    editor.click()
    editor.press("Control+A")
    editor.press_sequentially('{"threshold": 0.7, "labels": ["cat"', delay=20)
    box.get_by_role("button", name="Submit").click()
    box.get_by_text("not valid JSON").wait_for()  # refused, said under the editor; the request stays open
    editor.press_sequentially(', "dog"]}', delay=20)
    shown["json-edit"] = {"data": json.loads(editor.input_value())}

    box = request_box(page, "approve-reason")
    reason = box.locator("input[type=text]")
    type_keys(reason, "not yet, rerun")
    reason.press("Backspace")
    reason.press("Backspace")
    type_keys(reason, "un with seed 7")
    shown["approve-reason"] = {"approved": False, "reason": reason.input_value()}
    return shown


SUBMITTED = (
    "free-text",
    "toggle-pick",
    "dropdown-pick",
    "tick-boxes",
    "slider",
    "band",
    "form",
    "many-picks",
    "float-box",
    "json-edit",
)


def submit_all(page: Any) -> None:
    for key in SUBMITTED:
        request_box(page, key).get_by_role("button", name="Submit").click()
    request_box(page, "approve-reason").get_by_role("button", name="Reject").click()


def recorded_answers(page: Any) -> dict[str, Any]:
    output = page.locator(".jp-OutputArea-output", has_text="RECORDED ").last
    output.wait_for(timeout=90_000)
    # DOM text, not rendered text: Notebook 7 and JupyterLab 4.2+ skip rendering cells scrolled out of view
    # (content-visibility), and an unrendered output's innerText is empty.
    text = output.text_content() or ""
    found = re.search(r"RECORDED\s+(\{.*\})", text, flags=re.DOTALL)
    assert found, f"no record in the report cell's output: {text!r}"
    return json.loads(found.group(1))


# -- the tests -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with jupyter_server(tmp_path_factory.mktemp("controls")) as running:
        yield running


CASES = [
    pytest.param("execute", "python3", "lab", id="execute-ipykernel7-lab"),
    pytest.param("await", "python3", "lab", id="await-ipykernel7-lab"),
    pytest.param("idle", "python3", "lab", id="idle-ipykernel7-lab"),
    pytest.param("execute", IPYKERNEL6_SPEC, "lab", id="execute-ipykernel6-lab"),
    pytest.param("await", IPYKERNEL6_SPEC, "lab", id="await-ipykernel6-lab"),
    pytest.param("execute", "python3", "notebook7", id="execute-ipykernel7-notebook7"),
    pytest.param("await", "python3", "notebook7", id="await-ipykernel7-notebook7"),
]


@pytest.mark.parametrize(("mode", "kernel", "ui"), CASES)
def test_every_control_records_what_the_screen_shows(server: JupyterServer, mode: str, kernel: str, ui: str) -> None:
    if kernel == IPYKERNEL6_SPEC and not IPYKERNEL6_PYTHON.exists():
        pytest.skip("no .venv-ipykernel6 (./scripts/test creates it)")
    name = build(server.root, mode, kernel)
    artifact = f"controls-{mode}-{kernel}-{ui}"
    with chromium_page(height=3200) as page:
        try:
            page.goto(server.lab_url(name) if ui == "lab" else server.notebook7_url(name))
            wait_for_kernel(page)
            run_all(page)
            request_box(page, "approve-reason").wait_for(timeout=90_000)
            page.locator(".graflow-nb-request").nth(len(SUBMITTED)).wait_for()  # every box is drawn
            shown = act_and_read(page)
            screenshot(page, f"{artifact}-before-submit")
            submit_all(page)
            if mode == "idle":  # no cell ran meanwhile: run the report cell again now that the run is over
                page.get_by_text("completed", exact=False).first.wait_for()
                report = page.locator(".jp-CodeCell").last
                report.locator(".jp-InputArea-editor").click()
                page.keyboard.press("Shift+Enter")
            answers = recorded_answers(page)
        finally:
            screenshot(page, f"{artifact}-after")
    assert answers["task"] == shown
    for key, fields in shown.items():  # the decision log keeps the main field of each answer
        assert answers["log"][key] == next(iter(fields.values())), key


CANCEL = """\
from graflow_nb import TaskExecutionContext, WorkflowCancelled, task, workflow

with workflow("to-cancel") as wf:
    @task(inject_context=True)
    def ask(ctx: TaskExecutionContext) -> str:
        return ctx.request_feedback(feedback_type="approval", prompt="Never answered").reason

try:
    wf.execute()
except WorkflowCancelled as cancelled:
    print("CANCELLED [" + cancelled.outcome.reason + "]")
"""


def test_cancel_with_a_typed_reason_records_the_reason_shown(server: JupyterServer) -> None:
    write_notebook(server.root / "cancel.ipynb", [CANCEL])
    with chromium_page(height=1400) as page:
        try:
            page.goto(server.lab_url("cancel.ipynb"))
            wait_for_kernel(page)
            run_all(page)
            why = page.get_by_placeholder("why (optional)")
            type_keys(why, "wrong data set")
            for _ in range(3):
                why.press("Backspace")
            type_keys(why, "snapshot")
            shown = why.input_value()
            page.get_by_role("button", name="Cancel run").click()
            printed = page.locator(".jp-OutputArea-output", has_text="CANCELLED [").text_content() or ""
            assert not page.get_by_role("button", name="Cancel run").is_visible()  # nothing left to cancel
        finally:
            screenshot(page, "cancel-with-reason")
    assert shown == "wrong data snapshot"
    assert printed.strip() == f"CANCELLED [{shown}]"


PAUSED_CANCEL = """\
from graflow_nb import TaskExecutionContext, WorkflowPaused, task, workflow

with workflow("paused-cancel") as wf:
    @task(inject_context=True)
    def ask(ctx: TaskExecutionContext) -> str:
        return ctx.request_feedback(feedback_type="approval", prompt="Answered too late", timeout=1).reason

try:
    wf.execute(resume=False)
except WorkflowPaused:
    print("PAUSED")
"""

PAUSED_REPORT = 'print("STATE", wf.runs()[-1].status.value, "[" + str(wf.runs()[-1].reason) + "]")'


def test_cancel_on_a_paused_panel_ends_the_run_with_the_reason_shown(server: JupyterServer) -> None:
    write_notebook(server.root / "paused-cancel.ipynb", [PAUSED_CANCEL, PAUSED_REPORT])
    with chromium_page(height=1400) as page:
        try:
            page.goto(server.lab_url("paused-cancel.ipynb"))
            wait_for_kernel(page)
            run_all(page)
            # case-sensitive (has_text with a string is not): the workflow's name has "paused" in it
            page.locator(".jp-OutputArea-output", has_text=re.compile(r"^PAUSED$", re.MULTILINE)).wait_for(
                timeout=60_000
            )
            page.locator(".graflow-nb-panel", has_text="timed out").wait_for()
            why = page.get_by_placeholder("why (optional)")
            type_keys(why, "superseded")
            shown = why.input_value()
            page.get_by_role("button", name="Cancel run").click()
            page.locator(".graflow-nb-panel", has_text="cancelled: superseded").wait_for(timeout=30_000)
            assert not page.get_by_role("button", name="Cancel run").is_visible()  # nothing left to cancel
            report = page.locator(".jp-CodeCell").last
            report.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            printed = page.locator(".jp-OutputArea-output", has_text="STATE cancelled")
            printed.wait_for(timeout=30_000)
            state = printed.text_content() or ""
        finally:
            screenshot(page, "cancel-paused-with-reason")
    assert state.strip() == f"STATE cancelled [{shown}]"


MORE_TIME = """\
import json
from graflow_nb import TaskExecutionContext, decision_log, task, workflow

with workflow("more-time-{mode}") as wf:
    @task(inject_context=True)
    def ask(ctx: TaskExecutionContext) -> bool:
        return ctx.request_feedback(feedback_type="approval", prompt="Take your time", timeout=8).approved
"""

MORE_TIME_REPORT = """\
vias = [e["via"] for e in decision_log(workflow="more-time-{mode}").entries if e["event"] == "extended"]
print("RESULT", result, json.dumps(vias))
"""

MORE_TIME_MODES = {
    "execute": ["result = wf.execute(resume=False)"],
    "await": ["run = wf.start(resume=False)", "result = await run"],
}


def seconds_left(control: Any) -> int:
    text = control.locator(".gnb-status").inner_text()
    found = re.search(r"(?:(\d+) min )?(\d+) s left to answer", text)
    assert found, f"no countdown in {text!r}"
    return int(found.group(1) or 0) * 60 + int(found.group(2))


@pytest.mark.parametrize("mode", list(MORE_TIME_MODES))
def test_more_time_keeps_the_request_open_past_its_old_deadline(server: JupyterServer, mode: str) -> None:
    name = f"more-time-{mode}.ipynb"
    cells = [MORE_TIME.format(mode=mode), *MORE_TIME_MODES[mode], MORE_TIME_REPORT.format(mode=mode)]
    write_notebook(server.root / name, cells)
    with chromium_page(height=1400) as page:
        try:
            page.goto(server.lab_url(name))
            wait_for_kernel(page)
            run_all(page)
            control = page.locator(".graflow-nb-request", has_text="Take your time")
            more = control.get_by_role("button", name="+8 s")
            more.wait_for(timeout=90_000)
            shown_at = page.evaluate("Date.now()")
            before = seconds_left(control)
            more.click()
            more.click()  # a second thought: more still
            countdown = "document.querySelector('.graflow-nb-request .gnb-status').innerText"
            page.wait_for_function(f"() => /([2-9]\\d|1[7-9]) s left/.test({countdown})", timeout=10_000)
            after = seconds_left(control)
            page.wait_for_function(f"() => Date.now() > {shown_at} + ({before} + 2) * 1000", timeout=30_000)
            still = seconds_left(control)  # the old deadline has passed: the countdown goes on
            screenshot(page, f"more-time-{mode}-past-old-deadline")
            control.get_by_role("button", name="Approve").click()
            printed = page.locator(".jp-RenderedText", has_text=re.compile("^RESULT"))
            printed.wait_for(timeout=30_000)
            report = printed.text_content() or ""
        finally:
            screenshot(page, f"more-time-{mode}-after")
    assert before <= 8
    assert after >= before + 14  # two clicks of +8 s, as the screen showed
    assert 0 < still < after
    assert report.strip() == 'RESULT True ["widget", "widget"]'


LOOP = """\
import json
from graflow_nb import TaskExecutionContext, task, workflow

with workflow("loop-in-lab") as wf:
    @task(inject_context=True)
    def writer(ctx: TaskExecutionContext) -> str:
        notes = ctx.get_channel().get("notes", [])
        return f"draft {ctx.visit + 1}" + "".join(f" +{note}" for note in notes)

    @task(inject_context=True)
    def reviewer(ctx: TaskExecutionContext, writer: str) -> str:
        response = ctx.request_feedback(feedback_type="approval", prompt=f"Publish **{writer}**?")
        if not response.approved:
            channel = ctx.get_channel()
            channel.set("notes", [*channel.get("notes", []), response.reason])
            ctx.next_task("writer", goto=True)
        return writer

    writer >> reviewer
    result = wf.execute()
print("LOOPED " + json.dumps({"result": result, "reasons": [r.response.reason for r in wf.runs()[-1].requests]}))
"""


def test_a_reviewer_rejects_twice_with_typed_reasons_then_approves_the_third_draft(server: JupyterServer) -> None:
    write_notebook(server.root / "loop.ipynb", [LOOP])
    reasons = []
    with chromium_page(height=1800) as page:
        try:
            page.goto(server.lab_url("loop.ipynb"))
            wait_for_kernel(page)
            run_all(page)
            for round_number, (typed, fixed) in enumerate([("shorter pleaz", "se"), ("cite iy", "ts")], start=1):
                box = page.locator(".graflow-nb-request", has_text=f"draft {round_number}").last
                box.get_by_role("button", name="Reject").wait_for(timeout=90_000)
                reason = box.locator("input[type=text]")
                type_keys(reason, typed)
                reason.press("Backspace")  # changes their mind about the last letter
                type_keys(reason, fixed)
                reasons.append(reason.input_value())
                box.get_by_role("button", name="Reject").click()
            third = page.locator(".graflow-nb-request", has_text="draft 3")
            third.get_by_text("round 3").wait_for(timeout=60_000)  # the control says which round it is
            screenshot(page, "loop-third-round")
            third.get_by_role("button", name="Approve").click()
            output = page.locator(".jp-OutputArea-output", has_text="LOOPED ")
            output.wait_for(timeout=60_000)
            printed = json.loads((output.text_content() or "").split("LOOPED ", 1)[1])
            tasks = page.locator(".graflow-nb-panel .gnb-tasks").inner_text()
        finally:
            screenshot(page, "loop-after")
    assert reasons == ["shorter please", "cite its"]
    assert printed == {"result": f"draft 3 +{reasons[0]} +{reasons[1]}", "reasons": [*reasons, None]}
    assert "reviewer ×3" in tasks, tasks
    assert "writer ×3" in tasks, tasks


QUICK = """\
import json
from graflow_nb import TaskExecutionContext, task, workflow

QUICK_ASKS = {
    **{f"note-{n}": dict(feedback_type="text") for n in range(4)},
    **{f"veto-{n}": dict(feedback_type="approval") for n in range(2)},
    "strength": dict(feedback_type="selection", options=["none", "weak", "strong"]),
    "columns": dict(feedback_type="multi_selection", options=["age", "tenure", "income"]),
    "depth": dict(feedback_type="number", min=0, max=10, step=1, default=2),
}
quick = {}

def quick_asking(key):
    @task(id=key, inject_context=True)
    def ask(ctx: TaskExecutionContext) -> str:
        response = ctx.request_feedback(prompt=f"Quick {key}", **QUICK_ASKS[key])
        quick[key] = response.model_dump(mode="json", include={"approved", "reason", "text", "selected", "value"},
                                         exclude_none=True)
        return key
    return ask

with workflow("quick") as wf:
    for key in QUICK_ASKS:
        quick_asking(key)
"""

QUICK_REPORT = 'print("RECORDED " + json.dumps({"task": quick}, sort_keys=True))'
QUICK_KEYS = [*(f"note-{n}" for n in range(4)), "veto-0", "veto-1", "strength", "columns", "depth"]


@pytest.mark.parametrize(
    ("mode", "kernel"),
    [("execute", "python3"), ("await", "python3"), ("idle", "python3"), ("execute", IPYKERNEL6_SPEC)],
)
def test_a_submit_clicked_the_moment_the_last_key_is_typed_records_every_key(
    server: JupyterServer, mode: str, kernel: str
) -> None:
    """The browser holds a control's later changes back until the kernel is idle after the first, and
    sends a click at once: Submit, clicked as the last key goes down, must still get every key."""
    if kernel == IPYKERNEL6_SPEC and not IPYKERNEL6_PYTHON.exists():
        pytest.skip("no .venv-ipykernel6 (./scripts/test creates it)")
    name = f"quick_{mode}_{kernel}.ipynb"
    write_notebook(server.root / name, [QUICK, *MODES[mode], QUICK_REPORT], kernel=kernel)
    typed = {f"note-{n}": f"checked by hand, round {n}: all rows match" for n in range(4)}
    reasons = {f"veto-{n}": f"still in use by team {n}" for n in range(2)}
    with chromium_page(height=3200) as page:
        try:
            page.goto(server.lab_url(name))
            wait_for_kernel(page)
            run_all(page)
            page.locator(".graflow-nb-request").nth(len(QUICK_KEYS) - 1).wait_for(timeout=90_000)
            for key, text in typed.items():
                box = page.locator(".graflow-nb-request", has_text=f"Quick {key}")
                box.locator("textarea").press_sequentially(text)  # as fast as keys go
                box.get_by_role("button", name="Submit").click()
            for key, reason in reasons.items():
                box = page.locator(".graflow-nb-request", has_text=f"Quick {key}")
                box.locator("input[type=text]").press_sequentially(reason)
                box.get_by_role("button", name="Reject").click()
            strength = page.locator(".graflow-nb-request", has_text="Quick strength")
            strength.get_by_role("button", name="weak", exact=True).click()
            strength.get_by_role("button", name="strong", exact=True).click()  # changed its mind
            strength.get_by_role("button", name="Submit").click()
            columns = page.locator(".graflow-nb-request", has_text="Quick columns")
            for option in ("age", "tenure", "age"):  # ticks age, then takes it back
                columns.get_by_role("checkbox", name=option).click()
            columns.get_by_role("button", name="Submit").click()
            depth = page.locator(".graflow-nb-request", has_text="Quick depth")
            depth.locator(".noUi-handle").focus()
            for _ in range(5):
                depth.locator(".noUi-handle").press("ArrowRight")
            depth.get_by_role("button", name="Submit").click()
            shown_depth = depth.locator(".widget-readout").inner_text()
            if mode == "idle":
                page.get_by_text("completed", exact=False).first.wait_for()
                report = page.locator(".jp-CodeCell").last
                report.locator(".jp-InputArea-editor").click()
                page.keyboard.press("Shift+Enter")
            answers = recorded_answers(page)["task"]
        finally:
            screenshot(page, f"quick-{mode}-{kernel}")
    assert {key: answers[key]["text"] for key in typed} == typed
    assert {key: answers[key].get("reason") for key in reasons} == reasons
    assert answers["strength"]["selected"] == "strong"
    assert answers["columns"]["selected"] == ["tenure"]
    assert answers["depth"]["value"] == 7 == int(shown_depth)


INTERRUPTED = """\
import json
from graflow_nb import TaskExecutionContext, task, workflow

with workflow("interrupted") as wf:
    @task(inject_context=True)
    def gate(ctx: TaskExecutionContext) -> bool:
        return ctx.request_feedback(feedback_type="approval", prompt="Open the gate?").approved

    @task(inject_context=True)
    def note(ctx: TaskExecutionContext) -> str:
        return ctx.request_feedback(feedback_type="text", prompt="A note for the log").text

    gate | note
"""


def test_after_the_stop_button_answering_one_control_resumes_the_run_and_the_other_asks_again(
    server: JupyterServer,
) -> None:
    """■ on an ``await run`` cell pauses the run; one control answered resumes it in this kernel, and the
    other control is live again (not "paused", as a new user's trial saw), and records what is typed."""
    cells = [INTERRUPTED, "run = wf.start(resume=False)", 'print("WAITING", flush=True)\nresult = await run']
    write_notebook(server.root / "interrupted.ipynb", [*cells, 'print("RESULT " + json.dumps(run.result()))'])
    with chromium_page(height=1600) as page:
        try:
            page.goto(server.lab_url("interrupted.ipynb"))
            wait_for_kernel(page)
            run_all(page)
            page.locator(".jp-OutputArea-output", has_text="WAITING").wait_for(timeout=60_000)  # the cell's code runs
            page.locator(".jp-NotebookPanel-toolbar [data-command='notebook:interrupt-kernel']").click()
            page.locator(".jp-OutputArea-output", has_text="is saved as paused").wait_for(timeout=30_000)
            gate = page.locator(".graflow-nb-request", has_text="Open the gate?")
            note = page.locator(".graflow-nb-request", has_text="A note for the log")
            note.locator(".gnb-status", has_text="paused").wait_for()
            gate.get_by_role("button", name="Approve").click()
            page.locator(".graflow-nb-request.gnb-approved", has_text="Open the gate?").wait_for(timeout=30_000)
            page.locator(".graflow-nb-request.gnb-asking", has_text="A note for the log").wait_for(timeout=30_000)
            paused_note = note.locator(".gnb-status").inner_text()
            area = note.locator("textarea")
            type_keys(area, "resumed fine")
            shown = area.input_value()
            note.get_by_role("button", name="Submit").click()
            page.locator(".graflow-nb-panel", has_text="completed").wait_for(timeout=30_000)
            report = page.locator(".jp-CodeCell").last
            report.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            printed = page.locator("[data-mime-type='application/vnd.jupyter.stdout']", has_text="RESULT ")
            printed.wait_for(timeout=30_000)
            result = json.loads((printed.text_content() or "").split("RESULT ", 1)[1])
        finally:
            screenshot(page, "interrupted-then-answered")
    assert "paused" not in paused_note, paused_note
    assert result == {"gate": True, "note": shown}
    assert shown == "resumed fine"
