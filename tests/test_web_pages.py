"""The approvers' pages, served by a real jupyter_server with graflow_nb's extension enabled as the
package installs it (issue #20): a list of requests under the server's folder, a page per request
with a form, behind the server's login and XSRF check. The runs wait live in this process, in
checkpoint folders under the server's root, as notebooks' runs wait beside their notebooks."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from graflow_nb import CheckpointStore, FeedbackNotFoundError, RunOutcome, TaskExecutionContext, task, workflow
from graflow_nb.testing import RecordingPresenter

from .conftest import StartInBackground
from .helpers import pause_a_batch_asking_backwards, wait_until
from .kernel_harness import JupyterServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[JupyterServer]:
    root = tmp_path / "root"
    (root / "team" / "review").mkdir(parents=True)
    running = JupyterServer(root, {})
    try:
        yield running
    finally:
        running.stop()


class Browser:
    """An HTTP client that keeps cookies, as a browser does (no token in its requests once signed in)."""

    def __init__(self, server: JupyterServer) -> None:
        self.server = server
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.server.url + path))

    def post(self, path: str, fields: list[tuple[str, str]], *, xsrf: bool = True) -> tuple[int, str]:
        if xsrf:
            fields = [*fields, ("_xsrf", self.xsrf())]
        body = urllib.parse.urlencode(fields).encode()
        return self._open(urllib.request.Request(self.server.url + path, data=body, method="POST"))

    def xsrf(self) -> str:
        return next(str(cookie.value) for cookie in self.cookies if cookie.name == "_xsrf")

    def sign_in(self) -> None:
        """The login page's form, with the token as its password."""
        status, _ = self.get("/login")
        assert status == 200
        status, _ = self.post("/login", [("password", self.server.token)])
        assert status == 200, "the token did not sign in"

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def waiting_run(start: StartInBackground, folder: Path, **ask: Any) -> tuple[Future[RunOutcome], RecordingPresenter]:
    """A run waiting for one request, its checkpoints under the server's root."""
    with workflow("release", checkpoint_dir=folder / ".graflow_nb") as wf:

        @task(inject_context=True)
        def decide(ctx: TaskExecutionContext) -> Any:
            response = ctx.request_feedback(**ask)
            return response.model_dump(mode="json", include={"approved", "reason", "value", "selected", "via"})

    presenter = RecordingPresenter()
    outcome = start(wf, presenters=[presenter])
    request = presenter.next_request(30)
    # the control shows before the request is saved; a link reaches an approver only once it is (the
    # notification follows the save), so the page is asked no sooner
    wait_until(lambda: _saved(folder / ".graflow_nb", request.feedback_id), timeout=30)
    return outcome, presenter


def _saved(folder: Path, feedback_id: str) -> bool:
    try:
        CheckpointStore(folder).find_request(feedback_id)
    except FeedbackNotFoundError:
        return False
    return True


def test_without_credentials_no_page_and_no_answer(server: JupyterServer, background: StartInBackground) -> None:
    outcome, presenter = waiting_run(
        background, server.root / "team", feedback_type="approval", prompt="Ship **2.4**?", timeout=60
    )
    feedback_id = presenter.shown[0].feedback_id
    stranger = Browser(server)
    status, shown = stranger.get(f"/graflow-nb/requests/{feedback_id}")
    assert status == 200  # redirected to the login page (urllib follows it), shown nothing of the request
    assert 'name="password"' in shown
    assert "Ship" not in shown
    status, _ = stranger.post(f"/graflow-nb/requests/{feedback_id}", [("decision", "approve")], xsrf=False)
    assert status == 403

    signed_in = Browser(server)
    signed_in.sign_in()
    status, _ = signed_in.post(f"/graflow-nb/requests/{feedback_id}", [("decision", "approve")], xsrf=False)
    assert status == 403  # a forged POST: the user's cookie, but not the page's XSRF token
    assert not outcome.done()
    signed_in.post(f"/graflow-nb/requests/{feedback_id}", [("decision", "reject"), ("reason", "tests red")])
    assert outcome.result(30).result == {
        "approved": False,
        "reason": "tests red",
        "value": None,
        "selected": None,
        "via": "web",
    }


def test_the_list_links_each_request_and_the_page_answers_it(
    server: JupyterServer, background: StartInBackground
) -> None:
    outcome, presenter = waiting_run(
        background,
        server.root / "team" / "review",
        feedback_type="number",
        prompt="How many **replicas**? <script>alert(1)</script>",
        min=1,
        max=9,
        metadata={"ticket": "OPS-42"},
        timeout=120,
    )
    feedback_id = presenter.shown[0].feedback_id
    browser = Browser(server)
    browser.sign_in()
    status, listing = browser.get("/graflow-nb/requests")
    assert status == 200
    assert f'href="/graflow-nb/requests/{feedback_id}"' in listing
    assert "team/review" in listing  # the notebook's folder
    assert "release" in listing  # the workflow

    status, page = browser.get(f"/graflow-nb/requests/{feedback_id}")
    assert status == 200
    assert "<strong>replicas</strong>" in page  # the prompt's markdown
    assert "<script>alert(1)</script>" not in page  # HTML in a prompt is shown as text
    assert 'min="1" max="9"' in page
    assert "OPS-42" in page
    assert re.search(r'id="deadline" data-at="[^"]+"', page)  # the countdown's deadline

    status, refused = browser.post(f"/graflow-nb/requests/{feedback_id}", [("value", "12")])
    assert status == 400
    assert "Not recorded" in refused
    assert not outcome.done()  # a bad answer is shown on the page; the run still waits
    status, done = browser.post(f"/graflow-nb/requests/{feedback_id}", [("value", "3")])
    assert status == 200
    assert "Recorded: 3" in done
    result = outcome.result(30)
    assert result.result["value"] == 3
    assert presenter.settled[0][1] is not None
    assert presenter.settled[0][1].via == "web"

    status, late = browser.post(f"/graflow-nb/requests/{feedback_id}", [("value", "4")])
    assert status == 409
    assert "already answered by" in late


def test_every_feedback_type_gets_its_form(server: JupyterServer, background: StartInBackground) -> None:
    outcome, presenter = waiting_run(
        background,
        server.root / "team",
        feedback_type="multi_selection",
        prompt="Which regions?",
        options=["eu", "us", "asia"],
        timeout=60,
    )
    feedback_id = presenter.shown[0].feedback_id
    browser = Browser(server)
    browser.sign_in()
    _, page = browser.get(f"/graflow-nb/requests/{feedback_id}")
    assert page.count('type="checkbox" name="selected"') == 3
    browser.post(f"/graflow-nb/requests/{feedback_id}", [("selected", "eu"), ("selected", "asia")])
    assert outcome.result(30).result["selected"] == ["eu", "asia"]


class Deploy(BaseModel):
    """A form model, as a task declares it."""

    service: str
    replicas: int = 2
    canary: bool = False
    region: Literal["eu", "us"] = "eu"


def test_a_form_model_gets_its_fields_and_custom_json_its_editor(
    server: JupyterServer, background: StartInBackground
) -> None:
    outcome, presenter = waiting_run(
        background, server.root / "team", feedback_type="form", prompt="Deploy what?", model=Deploy, timeout=60
    )
    feedback_id = presenter.shown[0].feedback_id
    browser = Browser(server)
    browser.sign_in()
    _, page = browser.get(f"/graflow-nb/requests/{feedback_id}")
    for name in ("service", "replicas", "canary", "region"):
        assert f'name="field.{name}"' in page
    assert "<option selected>eu</option>" in page
    status, refused = browser.post(f"/graflow-nb/requests/{feedback_id}", [("field.replicas", "two")])
    assert status == 400
    assert "is not a number" in refused
    fields = [("field.service", "api"), ("field.replicas", "5"), ("field.canary", "on"), ("field.region", "us")]
    assert browser.post(f"/graflow-nb/requests/{feedback_id}", fields)[0] == 200
    outcome.result(30)
    response = presenter.settled[0][1]
    assert response is not None
    assert response.data == Deploy(service="api", replicas=5, canary=True, region="us")  # checked by the model

    outcome, presenter = waiting_run(
        background, server.root / "team", feedback_type="custom", prompt="Raw settings?", timeout=60
    )
    feedback_id = presenter.shown[0].feedback_id
    status, refused = browser.post(f"/graflow-nb/requests/{feedback_id}", [("json", "{oops")])
    assert status == 400
    assert "not JSON" in refused
    assert browser.post(f"/graflow-nb/requests/{feedback_id}", [("json", '{"batch": 64}')])[0] == 200
    outcome.result(30)
    custom = presenter.settled[0][1]
    assert custom is not None
    assert custom.data == {"batch": 64}


def test_the_list_shows_a_batch_in_the_order_of_its_tasks(server: JupyterServer) -> None:
    folder = server.root / "labels"
    folder.mkdir(exist_ok=True)
    pending = pause_a_batch_asking_backwards(folder, folder / ".graflow_nb")
    browser = Browser(server)
    browser.sign_in()
    status, listing = browser.get("/graflow-nb/requests")
    assert status == 200
    linked = re.findall(r'href="/graflow-nb/requests/(fb-[0-9a-f]{16})"', listing)
    assert [feedback_id for feedback_id in dict.fromkeys(linked) if feedback_id in pending] == pending
    rows = [int(row) for row in re.findall(r"Keep row (\d+)\?", listing)]
    assert rows == [0, 1, 2, 3, 4], "top to bottom, though row 4 asked first"
