"""Code written against Graflow's own HITL API runs with only its import lines changed.

The behaviours are those of Graflow's tutorial tests (``tests/tutorial/test_hitl.py`` in GraflowAI/graflow,
whose names these follow) and of its examples ``examples/12_hitl/01..03``; the code is ours. Answers come
from another thread through ``ctx.execution_context.feedback_manager``, as Graflow's tests give them.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from graflow_nb import (
    FeedbackHandler,
    FeedbackRequest,
    FeedbackResponse,
    FeedbackTimeoutError,
    FeedbackType,
    GraflowWorkflowCanceledError,
    RunStatus,
    TaskExecutionContext,
    WorkflowPaused,
    decision_log,
    task,
    workflow,
)

ANSWER_WITHIN = 10.0  # seconds a helper waits for the request it answers to appear


def answer_when_asked(ctx: TaskExecutionContext, **answer: Any) -> threading.Thread:
    """From another thread, answer this task's next pending request through Graflow's feedback manager,
    with Graflow's FeedbackResponse (``response_type=``); the answer fields are set by request type."""

    def answer_it() -> None:
        manager = ctx.execution_context.feedback_manager
        deadline = time.monotonic() + ANSWER_WITHIN
        while time.monotonic() < deadline:
            pending = manager.list_pending_requests(session_id=ctx.session_id)
            mine = [request for request in pending if request.task_id == ctx.task_id]
            if mine:
                request = mine[0]
                response = FeedbackResponse(
                    feedback_id=request.feedback_id,
                    response_type=request.feedback_type,
                    approved=answer.get("approved") if request.feedback_type == FeedbackType.APPROVAL else None,
                    reason=answer.get("reason"),
                    text=answer.get("text") if request.feedback_type == FeedbackType.TEXT else None,
                    selected=answer.get("selected") if request.feedback_type == FeedbackType.SELECTION else None,
                    custom_data=answer.get("custom_data") if request.feedback_type == FeedbackType.CUSTOM else None,
                    responded_by="test_user",
                )
                assert manager.provide_feedback(request.feedback_id, response) is True
                return
            time.sleep(0.01)  # polling a condition, bounded by the deadline
        raise AssertionError(f"no request of {ctx.task_id!r} appeared within {ANSWER_WITHIN} s")

    thread = threading.Thread(target=answer_it, daemon=True)
    thread.start()
    return thread


class TestBasicApproval:
    def test_approval_approved(self) -> None:
        with workflow("approval_test") as wf:

            @task(inject_context=True)
            def request_approval(ctx: TaskExecutionContext) -> bool | None:
                answer_when_asked(ctx, approved=True)
                return ctx.request_feedback(feedback_type="approval", prompt="Approve?", timeout=5.0).approved

            assert wf.execute() is True

    def test_approval_rejected(self) -> None:
        with workflow("rejection_test") as wf:

            @task(inject_context=True)
            def request_approval(ctx: TaskExecutionContext) -> bool | None:
                answer_when_asked(ctx, approved=False)
                return ctx.request_feedback(feedback_type="approval", prompt="Approve?", timeout=5.0).approved

            assert wf.execute() is False

    def test_approval_with_reason(self) -> None:
        with workflow("approval_reason") as wf:

            @task(inject_context=True)
            def request_approval(ctx: TaskExecutionContext) -> dict[str, Any]:
                answer_when_asked(ctx, approved=True, reason="Looks good to me!")
                response = ctx.request_feedback(feedback_type="approval", prompt="Deploy?", timeout=5.0)
                return {"approved": response.approved, "reason": response.reason, "by": response.responded_by}

            assert wf.execute() == {"approved": True, "reason": "Looks good to me!", "by": "test_user"}


class TestTextInput:
    def test_text_input_basic(self) -> None:
        with workflow("text_input") as wf:

            @task(inject_context=True)
            def request_comment(ctx: TaskExecutionContext) -> str | None:
                answer_when_asked(ctx, text="This is my comment")
                return ctx.request_feedback(feedback_type="text", prompt="Comment:", timeout=5.0).text

            assert wf.execute() == "This is my comment"

    def test_text_input_with_metadata(self) -> None:
        seen: list[FeedbackRequest | None] = []

        with workflow("text_metadata") as wf:

            @task(inject_context=True)
            def request_input(ctx: TaskExecutionContext) -> str | None:
                answer_when_asked(ctx, text="User input")
                response = ctx.request_feedback(
                    feedback_type="text", prompt="Feedback:", metadata={"task": "review", "version": "1.0"}, timeout=5.0
                )
                seen.append(ctx.execution_context.feedback_manager.get_request(response.feedback_id))
                return response.text

            assert wf.execute() == "User input"
        (request,) = seen
        assert request is not None
        assert request.metadata == {"task": "review", "version": "1.0"}
        assert request.session_id == request.run_id


class TestSelection:
    def test_selection_basic(self) -> None:
        with workflow("selection") as wf:

            @task(inject_context=True)
            def request_selection(ctx: TaskExecutionContext) -> Any:
                answer_when_asked(ctx, selected="option2")
                return ctx.request_feedback(
                    feedback_type="selection", prompt="Choose:", options=["option1", "option2", "option3"], timeout=5.0
                ).selected

            assert wf.execute() == "option2"

    def test_selection_with_options(self) -> None:
        with workflow("selection_modes") as wf:

            @task(inject_context=True)
            def choose_mode(ctx: TaskExecutionContext) -> Any:
                answer_when_asked(ctx, selected="balanced")
                return ctx.request_feedback(
                    feedback_type=FeedbackType.SELECTION,
                    prompt="Mode:",
                    options=["fast", "balanced", "thorough"],
                    timeout=5.0,
                ).selected

            assert wf.execute() == "balanced"


class TestChannelIntegration:
    def test_write_to_channel(self) -> None:
        with workflow("channel_feedback") as wf:

            @task(inject_context=True)
            def request_with_channel(ctx: TaskExecutionContext) -> dict[str, Any]:
                answer_when_asked(ctx, approved=True)
                response = ctx.request_feedback(
                    feedback_type="approval",
                    prompt="Approve?",
                    channel_key="deployment_approved",
                    write_to_channel=True,
                    timeout=5.0,
                )
                return {"response": response.approved, "from_channel": ctx.get_channel().get("deployment_approved")}

            @task(inject_context=True)
            def read_later(ctx: TaskExecutionContext) -> dict[str, Any]:
                return ctx.get_channel().get("deployment_approved.__feedback_response__")

            request_with_channel >> read_later
            _, context = wf.execute(ret_context=True)

        assert context.get_result("request_with_channel") == {"response": True, "from_channel": True}
        whole = context.get_result("read_later")
        assert whole["response_type"] == "approval"
        assert whole["approved"] is True
        assert whole["responded_by"] == "test_user"

    def test_manual_channel_write(self) -> None:
        with workflow("manual_channel") as wf:

            @task(inject_context=True)
            def request_and_store(ctx: TaskExecutionContext) -> str | None:
                answer_when_asked(ctx, text="Important note")
                response = ctx.request_feedback(feedback_type="text", prompt="Note:", timeout=5.0)
                ctx.get_channel().set("user_note", response.text)
                return response.text

            @task(inject_context=True)
            def use_feedback(ctx: TaskExecutionContext) -> str:
                return f"Processed: {ctx.get_channel().get('user_note')}"

            request_and_store >> use_feedback
            assert wf.execute() == "Processed: Important note"


class TestTimeoutBehavior:
    def test_quick_response_within_timeout(self) -> None:
        with workflow("quick_response") as wf:

            @task(inject_context=True)
            def quick_feedback(ctx: TaskExecutionContext) -> bool | None:
                answer_when_asked(ctx, approved=True)
                return ctx.request_feedback(feedback_type="approval", prompt="Quick?", timeout=10.0).approved

            assert wf.execute() is True

    def test_timeout_error_handling(self) -> None:
        caught: list[FeedbackTimeoutError] = []

        with workflow("timeout_test") as wf:

            @task(inject_context=True)
            def timeout_feedback(ctx: TaskExecutionContext) -> str:
                try:
                    ctx.request_feedback(feedback_type="approval", prompt="This will time out", timeout=0.2)
                except FeedbackTimeoutError as error:
                    caught.append(error)
                    return "Timeout handled"
                return "Should not reach here"

            @task
            def after() -> str:
                return "went on"

            timeout_feedback >> after
            _, context = wf.execute(ret_context=True)

        assert context.get_result("timeout_feedback") == "Timeout handled"
        assert context.get_result("after") == "went on"
        (error,) = caught
        assert isinstance(error, TimeoutError)
        assert error.timeout == 0.2
        assert error.feedback_id in str(error)
        (run,) = wf.runs()
        assert run.status is RunStatus.COMPLETED
        assert [record.state for record in run.requests] == ["closed"], "the request is over, not left pending"
        events = [
            entry["event"] for entry in decision_log(run_id=run.run_id, checkpoint_dir=wf.store.directory).entries
        ]
        assert events == ["requested", "timed_out", "closed"]

    def test_an_uncaught_timeout_pauses_and_the_task_asks_again_on_resume(self) -> None:
        asked = []

        with workflow("timeout_pauses") as wf:

            @task(inject_context=True)
            def review(ctx: TaskExecutionContext) -> str | None:
                asked.append(ctx.run_id)
                try:
                    response = ctx.request_feedback(feedback_type="text", prompt="Assessment?", timeout=0.2)
                except Exception:  # Graflow's example 02: report it, then let it through
                    raise
                return response.text

            with pytest.raises(WorkflowPaused) as paused:
                wf.execute()
            (feedback_id,) = paused.value.outcome.pending_feedback_ids
            assert "no answer to" in (paused.value.outcome.reason or "")
            from graflow_nb import provide_feedback

            provide_feedback(feedback_id, text="three anomalies, all benign", checkpoint_dir=wf.store.directory)
            assert wf.execute() == "three anomalies, all benign"
        assert len(asked) == 2, "its asking task ran again"
        assert asked[0] == asked[1], "in the same run"


class TestWorkflowIntegration:
    def test_approval_gates_in_pipeline(self) -> None:
        with workflow("approval_pipeline") as wf:

            @task(inject_context=True)
            def stage1(ctx: TaskExecutionContext) -> str:
                answer_when_asked(ctx, approved=True)
                if not ctx.request_feedback(feedback_type="approval", prompt="Stage 1?", timeout=5.0).approved:
                    ctx.cancel_workflow("Stage 1 rejected")
                return "Stage 1 complete"

            @task(inject_context=True)
            def stage2(ctx: TaskExecutionContext) -> str:
                answer_when_asked(ctx, approved=True)
                if not ctx.request_feedback(feedback_type="approval", prompt="Stage 2?", timeout=5.0).approved:
                    ctx.cancel_workflow("Stage 2 rejected")
                return "Stage 2 complete"

            @task
            def final_stage() -> str:
                return "Pipeline complete"

            stage1 >> stage2 >> final_stage
            assert wf.execute() == "Pipeline complete"

    def test_rejected_approval_cancels_workflow(self) -> None:
        ran = []

        with workflow("cancel_on_reject") as wf:

            @task(inject_context=True)
            def gate_task(ctx: TaskExecutionContext) -> str:
                answer_when_asked(ctx, approved=False)
                if not ctx.request_feedback(feedback_type="approval", prompt="Approve?", timeout=5.0).approved:
                    ctx.cancel_workflow("User rejected")
                return "Approved"

            @task
            def should_not_run() -> None:
                ran.append(True)

            gate_task >> should_not_run
            with pytest.raises(GraflowWorkflowCanceledError, match="User rejected"):
                wf.execute()
        assert ran == []

    def test_conditional_branching_with_feedback(self) -> None:
        with workflow("conditional_feedback") as wf:

            @task(inject_context=True)
            def choose_path(ctx: TaskExecutionContext) -> Any:
                answer_when_asked(ctx, selected="fast")
                response = ctx.request_feedback(
                    feedback_type="selection", prompt="Mode:", options=["fast", "thorough"], timeout=5.0
                )
                ctx.get_channel().set("mode", response.selected)
                return response.selected

            @task(inject_context=True)
            def process(ctx: TaskExecutionContext) -> str:
                fast = ctx.get_channel().get("mode") == "fast"
                return "Fast processing complete" if fast else "Thorough processing complete"

            choose_path >> process
            assert wf.execute() == "Fast processing complete"


class TestFeedbackHandler:
    def test_feedback_with_custom_handler(self) -> None:
        calls: list[tuple[str, str]] = []

        class Recorder:  # any object with the callbacks, as Graflow's test passes
            def on_request_created(self, request: FeedbackRequest) -> None:
                calls.append(("created", request.prompt))

            def on_response_received(self, request: FeedbackRequest, response: FeedbackResponse) -> None:
                calls.append(("received", str(response.approved)))

            def on_request_timeout(self, request: FeedbackRequest) -> None:
                calls.append(("timeout", request.prompt))

        with workflow("custom_handler") as wf:

            @task(inject_context=True)
            def with_handler(ctx: TaskExecutionContext) -> bool | None:
                answer_when_asked(ctx, approved=True)
                return ctx.request_feedback(
                    feedback_type="approval", prompt="Test handler", timeout=5.0, handler=Recorder()
                ).approved

            assert wf.execute() is True
        assert calls == [("created", "Test handler"), ("received", "True")]

    def test_a_handler_hears_the_timeout_and_one_that_raises_never_breaks_the_run(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        told: list[str] = []

        class Partial(FeedbackHandler):  # a subclass overrides only what it needs
            def on_request_created(self, request: FeedbackRequest) -> None:
                raise RuntimeError("the chat service is down")

            def on_request_timeout(self, request: FeedbackRequest) -> None:
                told.append(request.feedback_id)

        with workflow("handler_timeout") as wf:

            @task(inject_context=True)
            def ask(ctx: TaskExecutionContext) -> str:
                try:
                    ctx.request_feedback(feedback_type="approval", prompt="Go?", timeout=0.1, handler=Partial())
                except FeedbackTimeoutError as error:
                    return error.feedback_id
                return "answered"

            feedback_id = wf.execute()
        assert told == [feedback_id]
        assert "on_request_created raised" in caplog.text
        assert "the chat service is down" in caplog.text


class TestMultipleFeedbackTypes:
    def test_mixed_feedback_types(self) -> None:
        with workflow("mixed_feedback") as wf:

            @task(inject_context=True)
            def approval_step(ctx: TaskExecutionContext) -> bool | None:
                answer_when_asked(ctx, approved=True)
                return ctx.request_feedback(feedback_type="approval", prompt="Start?", timeout=5.0).approved

            @task(inject_context=True)
            def text_step(ctx: TaskExecutionContext) -> str | None:
                answer_when_asked(ctx, text="Process notes")
                response = ctx.request_feedback(feedback_type="text", prompt="Notes:", timeout=5.0)
                ctx.get_channel().set("notes", response.text)
                return response.text

            @task(inject_context=True)
            def selection_step(ctx: TaskExecutionContext) -> Any:
                answer_when_asked(ctx, selected="medium")
                return ctx.request_feedback(
                    feedback_type="selection", prompt="Priority:", options=["low", "medium", "high"], timeout=5.0
                ).selected

            approval_step >> text_step >> selection_step
            _, ctx = wf.execute(ret_context=True)

        assert ctx.get_result("approval_step") is True
        assert ctx.get_result("text_step") == "Process notes"
        assert ctx.get_result("selection_step") == "medium"


class TestRealWorldPatterns:
    def test_deployment_approval_pattern(self) -> None:
        with workflow("deployment") as wf:

            @task
            def prepare_deployment() -> dict[str, Any]:
                return {"version": "v1.2.3", "environment": "production", "changes": ["feature-x"]}

            @task(inject_context=True)
            def request_approval(ctx: TaskExecutionContext) -> bool | None:
                info = ctx.get_channel().get("prepare_deployment.__result__")
                answer_when_asked(ctx, approved=True)
                response = ctx.request_feedback(
                    feedback_type="approval",
                    prompt=f"Deploy {info['version']} to {info['environment']}?",
                    metadata=info,
                    timeout=5.0,
                )
                if not response.approved:
                    ctx.cancel_workflow("Deployment cancelled by user")
                return response.approved

            @task(inject_context=True)
            def deploy(ctx: TaskExecutionContext) -> dict[str, str]:
                approved = ctx.get_channel().get("request_approval.__result__")
                return {"status": "deployed"} if approved else {"status": "cancelled"}

            prepare_deployment >> request_approval >> deploy
            assert wf.execute() == {"status": "deployed"}

    def test_data_validation_pattern(self) -> None:
        with workflow("data_validation") as wf:

            @task
            def process_data() -> dict[str, Any]:
                return {"records_processed": 1000, "errors": 5, "success_rate": 0.995}

            @task(inject_context=True)
            def validate_results(ctx: TaskExecutionContext) -> str:
                results = ctx.get_channel().get("process_data.__result__")
                answer_when_asked(ctx, text="Errors are acceptable, proceed")
                response = ctx.request_feedback(
                    feedback_type="text",
                    prompt=f"{results['records_processed']} records, {results['errors']} errors. Comments?",
                    metadata=results,
                    timeout=5.0,
                )
                ctx.get_channel().set("validation_comment", response.text)
                return "validated"

            @task(inject_context=True)
            def finalize(ctx: TaskExecutionContext) -> dict[str, Any]:
                return {"status": "complete", "comment": ctx.get_channel().get("validation_comment")}

            process_data >> validate_results >> finalize
            result = wf.execute()
        assert result["status"] == "complete"
        assert "acceptable" in result["comment"]


class TestTheRestOfGraflowsInterface:
    def test_convenience_methods_return_the_answer_itself(self) -> None:
        with workflow("conveniences") as wf:

            @task(inject_context=True)
            def ask_all(ctx: TaskExecutionContext) -> list[Any]:
                answer_when_asked(ctx, approved=True)
                approved = ctx.request_approval("Go?", timeout=5.0)
                answer_when_asked(ctx, text="Ada")
                name = ctx.request_text_input("Name?", timeout=5.0, channel_key="name")
                answer_when_asked(ctx, selected="b")
                choice = ctx.request_selection("Which?", ["a", "b"], timeout=5.0)
                return [approved, name, choice, ctx.get_channel().get("name")]

            assert wf.execute() == [True, "Ada", "b", "Ada"]

    def test_custom_feedback_carries_custom_data(self) -> None:
        with workflow("custom_type") as wf:

            @task(inject_context=True)
            def ask(ctx: TaskExecutionContext) -> Any:
                answer_when_asked(ctx, custom_data={"threshold": 0.7, "labels": ["cat", "dog"]})
                response = ctx.request_feedback(feedback_type="custom", prompt="Settings as JSON", timeout=5.0)
                saved = ctx.execution_context.feedback_manager.get_response(response.feedback_id)
                assert saved is not None
                assert saved.custom_data == response.custom_data
                return response.custom_data

            assert wf.execute() == {"threshold": 0.7, "labels": ["cat", "dog"]}
        (run,) = wf.runs()
        assert json.loads(run.model_dump_json())["requests"][0]["response"]["data"]["labels"] == ["cat", "dog"]

    def test_a_second_answer_through_the_manager_is_refused_with_false(self) -> None:
        with workflow("manager_second") as wf:

            @task(inject_context=True)
            def ask(ctx: TaskExecutionContext) -> list[Any]:
                answer_when_asked(ctx, approved=True)
                response = ctx.request_feedback(feedback_type="approval", prompt="Go?", timeout=5.0)
                late = FeedbackResponse(feedback_id=response.feedback_id, response_type="approval", approved=False)
                manager = ctx.execution_context.feedback_manager
                return [response.approved, manager.provide_feedback(response.feedback_id, late)]

            assert wf.execute() == [True, False]

    def test_the_manager_refuses_unknown_ids_and_filters_by_session(self) -> None:
        with workflow("manager_reads") as wf:

            @task(inject_context=True)
            def ask(ctx: TaskExecutionContext) -> list[Any]:
                manager = ctx.execution_context.feedback_manager
                return [
                    manager.provide_feedback(
                        "fb-0000000000000000",
                        FeedbackResponse(feedback_id="x", response_type="approval", approved=True),
                    ),
                    manager.list_pending_requests(session_id="another-run"),
                    manager.get_request("fb-0000000000000000"),
                    ctx.session_id == ctx.run_id == ctx.execution_context.session_id,
                ]

            assert wf.execute() == [False, [], None, True]

    def test_workflow_calls_graflow_makes(self) -> None:
        with workflow("calls", tracer=None) as wf:

            @task(inject_context=True)
            def first(ctx: TaskExecutionContext) -> Any:
                return ctx.get_channel().get("seed")

            @task(inject_context=True)
            def second(ctx: TaskExecutionContext) -> Any:
                return ctx.get_result("first") + 1

            first >> second
            assert wf.graph.get_start_nodes() == ["first"]
            result, context = wf.execute(initial_channel={"seed": 41}, ret_context=True)
        assert result == 42
        assert context.get_result("first") == 41
        assert context.get_result("missing", "none") == "none"
        with pytest.raises(TypeError, match="no tracers"):
            workflow("traced", tracer=object())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="not both"):
            wf.execute(channel={"seed": 1}, initial_channel={"seed": 2})

    def test_graflow_response_names_read_and_write(self) -> None:
        multi = FeedbackResponse(feedback_id="f", response_type="multi_selection", selected_multiple=["a", "b"])
        assert multi.selected == ["a", "b"] == multi.selected_multiple
        assert multi.response_type is FeedbackType.MULTI_SELECTION
        assert multi.to_dict()["selected_multiple"] == ["a", "b"]
        with pytest.raises(ValueError, match="say different things"):
            FeedbackResponse(feedback_id="f", response_type="text", feedback_type="approval")
