"""Notifications: real POSTs to a real HTTP server on 127.0.0.1, retried, never in the run's way."""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graflow_nb import RunStatus, TaskExecutionContext, configure_notifications, provide_feedback, task, workflow
from graflow_nb._io.delivery import notification_sender
from graflow_nb.testing import RecordingPresenter, ScriptedAnswers, WebhookReceiver

from .conftest import StartInBackground


@pytest.fixture
def sending(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Notifications on, with quick retries; every delivery finished before the next test."""
    monkeypatch.delenv("GRAFLOW_NB_NOTIFICATIONS")
    before = notification_sender().policy
    configure_notifications(attempts=3, first_backoff=0.05, timeout=2.0)
    yield
    assert notification_sender().flush(timeout=30), "deliveries still running after the test"
    notification_sender().policy = before


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def approval_workflow(config: dict[str, Any], timeout: float | None = None) -> Any:
    with workflow("deploy") as wf:

        @task(inject_context=True)
        def gate(ctx: TaskExecutionContext) -> bool:
            response = ctx.request_feedback(
                feedback_type="approval",
                prompt="Deploy model v3 to production?",
                timeout=timeout,
                notification_config=config,
            )
            return response.approved

    return wf


def running_request_id(slack_post: Any) -> str:
    """The feedback id in a Slack message's CLI command."""
    found = re.search(r"graflow-nb answer (fb-[0-9a-f]+)", slack_post.body["text"])
    assert found is not None, slack_post.body
    return found.group(1)


def events(posts: list[Any]) -> list[str]:
    return [post.body["event"] for post in posts]


@pytest.mark.usefixtures("sending")
class TestWebhook:
    def test_created_and_answered_carry_what_a_person_needs(
        self, receiver: WebhookReceiver, checkpoint_dir: Path, background: StartInBackground
    ) -> None:
        config = {"type": "webhook", "url": f"{receiver.url}/hooks/deploy", "message": "Approval required"}
        running = background(approval_workflow(config, timeout=600), presenters=[])
        (created,) = receiver.wait_for(1)
        command = created.body["answer_commands"][0]  # --approve
        argv = shlex.split(command.replace("graflow-nb", f"{sys.executable} -m graflow_nb", 1))
        answered_by_cli = subprocess.run([*argv, "--by", "dana"], capture_output=True, text=True, check=False)
        assert answered_by_cli.returncode == 0, answered_by_cli.stderr
        outcome = running.result(timeout=30)
        assert outcome.status is RunStatus.COMPLETED
        created, answered = receiver.wait_for(2)
        assert created.path == "/hooks/deploy"
        assert created.headers["Content-Type"] == "application/json"
        body = created.body
        assert body["event"] == "request_created"
        assert body["message"] == "Approval required"
        assert body["prompt"] == "Deploy model v3 to production?"
        assert body["feedback_type"] == "approval"
        assert (body["workflow"], body["run_id"], body["task_id"]) == ("deploy", outcome.run_id, "gate")
        assert body["feedback_id"].startswith("fb-")
        assert body["deadline"] > body["created_at"]
        assert body["notebook"] is None  # a script, not a notebook
        assert body["answer_command"].startswith(f"graflow-nb answer {body['feedback_id']} --approve")
        assert str(checkpoint_dir.resolve()) in body["answer_command"]
        assert body["response"] is None
        assert answered.body["event"] == "request_answered"
        assert answered.body["feedback_id"] == body["feedback_id"]
        assert answered.body["response"]["approved"] is True
        assert answered.body["response"]["responded_by"] == "dana"
        assert answered.body["response"]["via"] == "cli"
        assert answered.body["answer_command"] is None

    def test_a_request_answered_at_once_only_sends_answered(self, receiver: WebhookReceiver) -> None:
        config = {"type": "webhook", "url": receiver.url}
        approval_workflow(config).run(presenters=[ScriptedAnswers({"gate": [{"approved": True}]})])
        assert notification_sender().flush(timeout=10)
        assert events(receiver.received) == ["request_answered"]

    def test_a_timeout_is_told_and_the_resumed_request_told_again(
        self, receiver: WebhookReceiver, background: StartInBackground
    ) -> None:
        config = {"type": "webhook", "url": receiver.url, "message": "Approval required"}
        paused = approval_workflow(config, timeout=0.2).run(presenters=[])
        assert paused.status is RunStatus.PAUSED
        assert events(receiver.wait_for(2)) == ["request_created", "request_timed_out"]
        resumed = background(approval_workflow(config, timeout=600), resume=True, presenters=[])
        receiver.wait_for(3)
        provide_feedback(paused.pending_feedback_ids[0], approved=False)
        assert resumed.result(timeout=30).status is RunStatus.COMPLETED
        posts = receiver.wait_for(4)
        assert events(posts) == ["request_created", "request_timed_out", "request_created", "request_answered"]
        assert {post.body["feedback_id"] for post in posts} == {paused.pending_feedback_ids[0]}

    def test_500_twice_then_200_is_delivered_on_the_third_attempt(self, caplog: pytest.LogCaptureFixture) -> None:
        with WebhookReceiver(replies=[500, 500]) as flaky:
            config = {"type": "webhook", "url": flaky.url}
            outcome = approval_workflow(config).run(presenters=[ScriptedAnswers({"gate": [{"approved": True}]})])
            assert outcome.status is RunStatus.COMPLETED
            posts = flaky.wait_for(3)  # answered: 500, 500, then 200
            assert notification_sender().flush(timeout=10)
        assert events(posts) == ["request_answered"] * 3
        assert posts[0].body == posts[2].body
        assert not [r for r in caplog.records if r.name == "graflow_nb.notifications"]

    def test_a_server_that_never_answers_does_not_hold_up_the_run(
        self, caplog: pytest.LogCaptureFixture, background: StartInBackground
    ) -> None:
        configure_notifications(attempts=2, timeout=0.3)
        with WebhookReceiver(replies=["hang", "hang"]) as silent:
            config = {"type": "webhook", "url": f"{silent.url}/secret-path"}
            watcher = RecordingPresenter()
            running = background(approval_workflow(config), presenters=[watcher])
            request = watcher.next_request()
            silent.wait_for(1)  # the notification is stuck in the server ...
            provide_feedback(request.feedback_id, approved=True)
            outcome = running.result(timeout=10)  # ... and the run finishes regardless
            assert outcome.status is RunStatus.COMPLETED
            assert notification_sender().flush(timeout=20)
        failures = [r.getMessage() for r in caplog.records if r.name == "graflow_nb.notifications"]
        assert len(failures) == 1, failures  # created gave up once; answered came after the hang replies
        assert "request_created" in failures[0]
        assert "after 2 attempts: no answer within 0.3 s" in failures[0]
        assert "secret-path" not in failures[0]

    def test_a_4xx_is_not_retried_and_is_logged_once(self, caplog: pytest.LogCaptureFixture) -> None:
        with WebhookReceiver(replies=[404]) as wrong:
            config = {"type": "webhook", "url": wrong.url}
            approval_workflow(config).run(presenters=[ScriptedAnswers({"gate": [{"approved": True}]})])
            assert notification_sender().flush(timeout=10)
            assert events(wrong.received) == ["request_answered"]
        failures = [r.getMessage() for r in caplog.records if r.name == "graflow_nb.notifications"]
        assert len(failures) == 1
        assert "after 1 attempt: HTTP 404 Not Found" in failures[0]

    def test_a_closed_port_is_retried_then_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        with WebhookReceiver() as gone:
            url = gone.url
        approval_workflow({"type": "webhook", "url": url}, timeout=0.1).run(presenters=[])
        assert notification_sender().flush(timeout=10)
        failures = [r.getMessage() for r in caplog.records if r.name == "graflow_nb.notifications"]
        assert len(failures) == 2  # created, timed out
        assert all("after 3 attempts: cannot connect" in failure for failure in failures)


@pytest.mark.usefixtures("sending")
def test_slack_payload_has_the_message_prompt_options_and_cli_command(
    receiver: WebhookReceiver, background: StartInBackground
) -> None:
    with workflow("pick-region") as wf:

        @task(inject_context=True)
        def choose(ctx: TaskExecutionContext) -> str:
            response = ctx.request_feedback(
                feedback_type="selection",
                prompt="Which region <first>?",
                options=["eu-west", "us-east"],
                notification_config={
                    "type": "slack",
                    "webhook_url": f"{receiver.url}/services/T0/B0/XYZ",
                    "message": "Region choice needed!",
                },
            )
            return str(response.selected)

    running = background(wf, presenters=[])
    (created,) = receiver.wait_for(1)
    provide_feedback(running_request_id(created), selected="eu-west", responded_by="erin")
    assert running.result(timeout=30).result == "eu-west"
    created, answered = receiver.wait_for(2)
    assert created.path == "/services/T0/B0/XYZ"
    text = created.body["text"]
    assert "*Region choice needed!*" in text
    assert "Which region &lt;first&gt;?" in text  # Slack's mrkdwn escaping
    assert "`eu-west`, `us-east`" in text
    assert "graflow-nb answer fb-" in text
    assert "--select eu-west --dir" in text  # one command per option
    assert "--select us-east --dir" in text
    assert created.body["blocks"][0]["text"] == {"type": "mrkdwn", "text": text}
    assert "Answered by erin via api: eu-west" in answered.body["text"]
    assert "graflow-nb answer" not in answered.body["text"]


def test_sending_can_be_turned_off_for_ci(receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="graflow_nb.notifications")
    config = {"type": "webhook", "url": receiver.url}
    approval_workflow(config).run(presenters=[ScriptedAnswers({"gate": [{"approved": True}]})])
    assert notification_sender().flush(timeout=10)
    assert receiver.received == []
    assert "not sent: $GRAFLOW_NB_NOTIFICATIONS is off" in caplog.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"attempts": 0}, "attempts must be at least 1"),
        ({"timeout": -1}, "timeout must be a non-negative number"),
        ({"first_backoff": "1"}, "first_backoff must be a non-negative number"),
    ],
)
def test_bad_delivery_settings_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        configure_notifications(**changes)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:9/hooks/T0 SECRET", "spaces or control characters"),
        ("http://127.0.0.1:9/hooks/\tSECRET", "spaces or control characters"),
        ("http://127.0.0.1:port/hooks/SECRET", "a port that is not a number"),
        ("http://127.0.0.1:9/hooks/é-SECRET", "characters outside ASCII"),
        ("ftp://127.0.0.1/SECRET", "scheme 'ftp'"),
    ],
)
def test_a_bad_webhook_url_is_refused_when_the_request_is_made_without_showing_it(url: str, problem: str) -> None:
    outcome = approval_workflow({"type": "webhook", "url": url}).run(presenters=[])
    assert outcome.status is RunStatus.FAILED
    message = str(outcome.exception)
    assert problem in message
    assert "SECRET" not in message
    assert "SECRET" not in outcome.checkpoint_path.read_text()


def test_a_failure_inside_the_sender_is_logged_redacted_and_sending_goes_on(
    sending: None, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    from graflow_nb._io.delivery import Delivery

    sender = notification_sender()
    poisoned_body: dict[str, Any] = {"self": None}
    poisoned_body["self"] = poisoned_body  # a cycle: json.dumps raises ValueError inside the sender thread
    with caplog.at_level(logging.WARNING, logger="graflow_nb.notifications"):
        sender.send(Delivery(f"{receiver.url}/hooks/T0/SECRET", poisoned_body, "broken"))
        sender.send(Delivery(f"{receiver.url}/hooks/T0/SECRET", {"ok": True}, "fine"))
        assert sender.flush(timeout=30)
        (delivered,) = receiver.wait_for(1)
    assert delivered.body == {"ok": True}
    assert "not delivered" in caplog.text
    assert "ValueError" in caplog.text
    assert "SECRET" not in caplog.text


def test_slack_messages_escape_what_people_typed(
    sending: None, receiver: WebhookReceiver, background: StartInBackground
) -> None:
    with workflow("escape") as wf:

        @task(inject_context=True)
        def gate(ctx: TaskExecutionContext) -> bool:
            config = {"type": "slack", "webhook_url": f"{receiver.url}/services/T0/B0/XYZ"}
            return bool(
                ctx.request_feedback(feedback_type="approval", prompt="Go?", notification_config=config).approved
            )

    running = background(wf, presenters=[])
    (created,) = receiver.wait_for(1)
    provide_feedback(
        running_request_id(created),
        approved=False,
        reason="<!channel> see <http://x.test|here>",
        responded_by="<!here>",
    )
    running.result(timeout=30)
    _, answered = receiver.wait_for(2)
    text = answered.body["text"]
    assert "<!channel>" not in text
    assert "<!here>" not in text
    assert "<http://x.test|here>" not in text
    assert "&lt;!channel&gt; see &lt;http://x.test|here&gt;" in text
    assert "by &lt;!here&gt;" in text


def test_threads_for_many_one_off_urls_end_once_idle_and_later_deliveries_still_arrive(
    receiver: WebhookReceiver,
) -> None:
    import threading

    from graflow_nb._io.delivery import Delivery, DeliveryPolicy, NotificationSender
    from tests.helpers import wait_until

    before = threading.active_count()
    sender = NotificationSender(DeliveryPolicy(attempts=1, timeout=2.0, idle_exit=0.2))
    for index in range(30):  # 30 destinations: a thread each while they are busy
        sender.send(Delivery(f"{receiver.url}/hooks/{index}", {"n": index}, f"one-off {index}"))
    assert sender.flush(timeout=30)
    assert len(receiver.wait_for(30)) == 30
    wait_until(lambda: threading.active_count() <= before, timeout=10)  # all 30 ended once idle
    sender.send(Delivery(f"{receiver.url}/hooks/0", {"n": "again"}, "after the thread ended"))
    assert sender.flush(timeout=30)
    assert receiver.wait_for(31)[-1].body == {"n": "again"}


@pytest.mark.usefixtures("sending")
def test_with_the_public_url_known_messages_link_to_the_request_page(
    receiver: WebhookReceiver, background: StartInBackground, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFLOW_NB_PUBLIC_URL", "https://hub.example.org/user/ana/")
    with workflow("linked") as wf:

        @task(inject_context=True)
        def gate(ctx: TaskExecutionContext) -> bool:
            hook = {"type": "webhook", "url": f"{receiver.url}/hook"}
            slack = {"type": "slack", "webhook_url": f"{receiver.url}/services/T0/B0/XYZ"}
            first = ctx.request_feedback(feedback_type="approval", prompt="One?", notification_config=hook)
            second = ctx.request_feedback(feedback_type="approval", prompt="Two?", notification_config=slack)
            return bool(first.approved and second.approved)

    running = background(wf, presenters=[])
    (created,) = receiver.wait_for(1)
    feedback_id = created.body["feedback_id"]
    assert created.body["link"] == f"https://hub.example.org/user/ana/graflow-nb/requests/{feedback_id}"
    provide_feedback(feedback_id, approved=True)
    slack_created = receiver.wait_for(3)[2]  # (the first one's answered, then the second's created)
    second_id = running_request_id(slack_created)
    assert (
        f"<https://hub.example.org/user/ana/graflow-nb/requests/{second_id}|Answer in the browser>"
        in (slack_created.body["text"])
    )
    provide_feedback(second_id, approved=True)
    assert running.result(timeout=30).result is True
