"""Every example of Graflow's HITL guide (../shared/spec/graflow-hitl.md), with only the import changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graflow_nb import (
    RunStatus,
    TaskExecutionContext,
    WorkflowCancelled,
    WorkflowPaused,
    provide_feedback,
    task,
    workflow,
)
from graflow_nb.testing import RecordingPresenter, ScriptedAnswers
from tests.conftest import StartInBackground


class FakeDeployAPI:
    """Stands in for the guide's `api`: counts deployments so double deploys show."""

    def __init__(self) -> None:
        self.deployments: list[object] = []

    def deploy_to_production(self, plan: object = None) -> str:
        self.deployments.append(plan)
        return f"dep-{len(self.deployments)}"


class TestFeedbackTypes:
    def test_basic_usage_approval_with_notification_config(self) -> None:
        with workflow("basic") as wf:

            @task
            def deployment_plan() -> dict:
                return {"service": "api", "version": "2.0"}

            @task(inject_context=True)
            def request_approval(ctx: TaskExecutionContext, deployment_plan: dict) -> bool:
                response = ctx.request_feedback(
                    feedback_type="approval",
                    prompt="Approve deployment to production?",
                    timeout=300,  # Wait 5 minutes
                    notification_config={
                        "type": "slack",
                        "webhook_url": "https://hooks.slack.com/services/XXX",
                        "message": "Deployment approval needed!",
                    },
                )
                if not response.approved:
                    ctx.cancel_workflow("Deployment rejected by user")
                return response.approved

            deployment_plan >> request_approval
            outcome = wf.run(presenters=[ScriptedAnswers({"request_approval": [{"approved": True}]})])
        assert outcome.status is RunStatus.COMPLETED
        assert outcome.result is True
        saved = outcome.checkpoint_path.read_text()
        assert "services/XXX" not in saved  # the webhook URL is a secret: only its redacted form is saved
        assert "hooks.slack.com" in saved

    def test_approval_text_selection_multi_selection(self) -> None:
        with workflow("types") as wf:

            @task(inject_context=True)
            def ask_all(ctx: TaskExecutionContext) -> dict:
                approval = ctx.request_feedback(feedback_type="approval", prompt="Approve this action?")
                text = ctx.request_feedback(feedback_type="text", prompt="Enter configuration value:")
                selection = ctx.request_feedback(
                    feedback_type="selection",
                    prompt="Choose deployment environment:",
                    options=["staging", "production"],
                )
                multi = ctx.request_feedback(
                    feedback_type="multi_selection",
                    prompt="Select features to enable:",
                    options=["feature_a", "feature_b", "feature_c"],
                )
                return {
                    "approved": approval.approved,
                    "text": text.text,
                    "selected": selection.selected,
                    "features": multi.selected,
                    "features_graflow_name": multi.selected_multiple,
                }

            script = ScriptedAnswers(
                {
                    "ask_all": [
                        {"approved": True},
                        {"text": "max_workers=8"},
                        {"selected": "staging"},
                        {"selected": ["feature_a", "feature_c"]},
                    ]
                }
            )
            result = wf.run(presenters=[script]).raise_for_status()
        assert result == {
            "approved": True,
            "text": "max_workers=8",
            "selected": "staging",
            "features": ["feature_a", "feature_c"],
            "features_graflow_name": ["feature_a", "feature_c"],
        }
        assert isinstance(result["approved"], bool)
        assert [r.via for r in script.responses] == ["replay"] * 4


class TestCancelOnRejection:
    def test_rejection_cancels_and_later_tasks_never_run(self) -> None:
        ran_after: list[str] = []
        with workflow("cancel") as wf:

            @task(inject_context=True)
            def request_approval(ctx: TaskExecutionContext) -> bool:
                response = ctx.request_feedback(feedback_type="approval", prompt="Approve deployment?")
                if not response.approved:
                    ctx.cancel_workflow("Deployment rejected by user")
                ran_after.append("code after cancel_workflow")
                return True

            @task
            def deploy() -> None:
                ran_after.append("deploy")

            request_approval >> deploy
            script = ScriptedAnswers({"request_approval": [{"approved": False, "reason": "not today"}]})
            with pytest.raises(WorkflowCancelled) as raised:
                wf.run(presenters=[script]).raise_for_status()
        outcome = raised.value.outcome
        assert outcome.status is RunStatus.CANCELLED
        assert outcome.reason == "Deployment rejected by user"
        assert ran_after == []
        assert script.responses[0].reason == "not today"
        saved = json.loads(outcome.checkpoint_path.read_text())
        assert saved["status"] == "cancelled"
        assert saved["reason"] == "Deployment rejected by user"


class TestTimeoutCheckpointResume:
    def test_timeout_checkpoints_pauses_then_answer_later_resumes(self, checkpoint_dir: Path) -> None:
        with workflow("timeout") as wf:

            @task(inject_context=True)
            def approve(ctx: TaskExecutionContext) -> bool:
                response = ctx.request_feedback(feedback_type="approval", prompt="Approve deployment?", timeout=0.2)
                return response.approved

            @task
            def finish(approve: bool) -> str:
                return f"approved={approve}"

            approve >> finish
            with pytest.raises(WorkflowPaused) as raised:
                wf.execute()
            paused = raised.value.outcome
            assert paused.status is RunStatus.PAUSED
            assert paused.checkpoint_path.parent == checkpoint_dir
            saved = json.loads(paused.checkpoint_path.read_text())
            assert saved["status"] == "paused"
            assert [r["request"]["feedback_id"] for r in saved["requests"]] == list(paused.pending_feedback_ids)

            # 3. the user provides feedback later via the API
            provide_feedback(paused.pending_feedback_ids[0], approved=True, responded_by="alice")
            # 4. the workflow resumes from the checkpoint
            assert wf.resume() == "approved=True"
        final = json.loads(paused.checkpoint_path.read_text())
        assert final["status"] == "completed"
        assert final["requests"][0]["response"]["responded_by"] == "alice"


class TestIdempotence:
    def test_idempotent_deploy_deploys_exactly_once_across_pause_and_resume(self) -> None:
        api = FakeDeployAPI()
        with workflow("idempotent") as wf:

            @task
            def deployment_plan() -> dict:
                return {"version": "2.0"}

            @task(inject_context=True)
            def deploy_with_approval(ctx: TaskExecutionContext, deployment_plan: dict) -> str:
                channel = ctx.get_channel()
                # Check if already approved
                if not channel.get("deployment_approved"):
                    response = ctx.request_feedback(feedback_type="approval", prompt="Approve deployment?", timeout=0.2)
                    if not response.approved:
                        ctx.cancel_workflow("Deployment rejected")
                    channel.set("deployment_approved", True)
                # Check if already deployed
                if not channel.get("deployment_completed"):
                    deployment_id = api.deploy_to_production(deployment_plan)
                    channel.set("deployment_completed", True)
                    channel.set("deployment_id", deployment_id)
                return channel.get("deployment_id")

            deployment_plan >> deploy_with_approval
            paused = wf.run()
            assert paused.status is RunStatus.PAUSED
            assert api.deployments == []
            provide_feedback(paused.pending_feedback_ids[0], approved=True)
            assert wf.resume() == "dep-1"
        assert api.deployments == [{"version": "2.0"}]

    def test_idempotent_deploy_rejected_never_deploys(self) -> None:
        api = FakeDeployAPI()
        with workflow("idempotent-reject") as wf:

            @task(inject_context=True)
            def deploy_with_approval(ctx: TaskExecutionContext) -> str:
                channel = ctx.get_channel()
                if not channel.get("deployment_approved"):
                    response = ctx.request_feedback(feedback_type="approval", prompt="Approve deployment?", timeout=0.2)
                    if not response.approved:
                        ctx.cancel_workflow("Deployment rejected")
                    channel.set("deployment_approved", True)
                if not channel.get("deployment_completed"):
                    channel.set("deployment_id", api.deploy_to_production())
                    channel.set("deployment_completed", True)
                return channel.get("deployment_id")

            paused = wf.run()
            provide_feedback(paused.pending_feedback_ids[0], approved=False)
            with pytest.raises(WorkflowCancelled, match="Deployment rejected"):
                wf.resume()
        assert api.deployments == []

    def test_non_idempotent_task_deploys_twice_as_the_guide_warns(self) -> None:
        api = FakeDeployAPI()
        with workflow("not-idempotent") as wf:

            @task(inject_context=True)
            def deploy_with_approval(ctx: TaskExecutionContext) -> bool:
                # Deploy FIRST (wrong order!)
                api.deploy_to_production()
                # Then ask for approval
                response = ctx.request_feedback(feedback_type="approval", prompt="Approve deployment?", timeout=0.2)
                return response.approved

            paused = wf.run()
            provide_feedback(paused.pending_feedback_ids[0], approved=True)
            assert wf.resume() is True
        # If timeout occurs and task resumes, deploy happens AGAIN!
        assert len(api.deployments) == 2


class TestLiveAnswer:
    def test_answer_from_another_thread_resumes_the_waiting_task(self, background: StartInBackground) -> None:
        recorder = RecordingPresenter()
        with workflow("live") as wf:

            @task(inject_context=True)
            def choose(ctx: TaskExecutionContext) -> str:
                response = ctx.request_feedback(
                    feedback_type="selection",
                    prompt="Choose deployment environment:",
                    options=["staging", "production"],
                )
                return str(response.selected)

            running = background(wf, presenters=[recorder])
            request = recorder.next_request()
            provide_feedback(request.feedback_id, selected="production")
            outcome = running.result(timeout=10)
        assert outcome.result == "production"
        assert recorder.settled[0][1] is not None
        assert recorder.settled[0][1].via == "api"
