"""Defining workflows: @task forms, >> and |, Graflow's data flow, and errors raised before any task runs."""

from __future__ import annotations

import pytest

from graflow_nb import (
    CycleError,
    MissingInputError,
    RunStatus,
    TaskExecutionContext,
    UnknownTaskError,
    WorkflowDefinitionError,
    task,
    workflow,
)


class TestDefinition:
    def test_task_forms_and_ids(self) -> None:
        @task
        def plain() -> int:
            return 1

        @task(id="custom")
        def named() -> int:
            return 2

        @task(inject_context=True)
        def with_context(ctx: TaskExecutionContext) -> str:
            return ctx.task_id

        assert (plain.task_id, named.task_id, with_context.task_id) == ("plain", "custom", "with_context")
        assert plain() == 1  # calling a task still calls the function

    def test_chain_parallel_and_mixed_flows_make_the_expected_edges(self) -> None:
        with workflow("shape") as wf:

            @task
            def a() -> None: ...
            @task
            def b() -> None: ...
            @task
            def c() -> None: ...
            @task
            def d() -> None: ...

            a >> (b | c) >> d
        assert list(wf.graph.tasks) == ["a", "b", "c", "d"]
        assert sorted(wf.graph.edges) == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]

    def test_execution_order_follows_the_edges(self) -> None:
        order: list[str] = []
        with workflow("order") as wf:

            @task
            def a() -> None:
                order.append("a")

            @task
            def b() -> None:
                order.append("b")

            @task
            def c() -> None:
                order.append("c")

            @task
            def d() -> None:
                order.append("d")

            a >> (b | c) >> d
            assert wf.run().status is RunStatus.COMPLETED
        assert order[0] == "a"
        assert order[-1] == "d"
        assert sorted(order[1:3]) == ["b", "c"]

    def test_tasks_defined_outside_join_when_connected(self) -> None:
        @task
        def first() -> int:
            return 1

        @task
        def second(first: int) -> int:
            return first + 1

        with workflow("outside") as wf:
            first >> second
            assert wf.execute() == 2

    def test_flow_outside_a_workflow_is_an_error(self) -> None:
        @task
        def a() -> None: ...

        @task
        def b() -> None: ...

        with pytest.raises(WorkflowDefinitionError, match=r"inside a `with workflow"):
            a >> b

    def test_two_tasks_with_one_id_are_refused(self) -> None:
        with workflow("dupes"):

            @task(id="same")
            def one() -> None: ...

            with pytest.raises(WorkflowDefinitionError, match="share the id 'same'"):

                @task(id="same")
                def two() -> None: ...

    def test_inject_context_needs_a_parameter(self) -> None:
        with pytest.raises(WorkflowDefinitionError, match="first parameter must receive"):

            @task(inject_context=True)
            def no_params() -> None: ...


class TestDataFlow:
    def test_result_is_stored_under_graflow_key_and_fills_parameters_by_name(self) -> None:
        with workflow("flow") as wf:

            @task
            def deployment_plan() -> dict:
                return {"replicas": 3}

            @task(inject_context=True)
            def deploy(ctx: TaskExecutionContext, deployment_plan: dict) -> int:
                assert ctx.get_channel().get("deployment_plan.__result__") == {"replicas": 3}
                return deployment_plan["replicas"]

            deployment_plan >> deploy
            assert wf.execute() == 3

    def test_parameters_come_from_the_initial_channel(self) -> None:
        with workflow("channel-input") as wf:

            @task
            def scale(factor: int, base: int = 10) -> int:
                return base * factor

            wf.add(scale)
            assert wf.execute(channel={"factor": 4}) == 40

    def test_several_last_tasks_give_a_dict_of_results(self) -> None:
        with workflow("fan-out") as wf:

            @task
            def source() -> int:
                return 2

            @task
            def double(source: int) -> int:
                return source * 2

            @task
            def square(source: int) -> int:
                return source**2

            source >> (double | square)
            assert wf.execute() == {"double": 4, "square": 4}

    def test_start_node_runs_that_task_and_what_follows(self) -> None:
        ran: list[str] = []
        with workflow("start") as wf:

            @task
            def a() -> None:
                ran.append("a")

            @task
            def b() -> None:
                ran.append("b")

            a >> b
            wf.execute(start_node="b")
            assert ran == ["b"]
            with pytest.raises(UnknownTaskError, match=r"unknown task 'nope'; the workflow's tasks are \['a', 'b'\]"):
                wf.execute(start_node="nope")


class TestErrorsBeforeAnyTaskRuns:
    def test_cycle_is_named(self) -> None:
        ran: list[str] = []
        with workflow("cycle") as wf:

            @task
            def a() -> None:
                ran.append("a")

            @task
            def b() -> None: ...

            @task
            def c() -> None: ...

            a >> b >> c >> b
            with pytest.raises(CycleError, match="b >> c >> b"):
                wf.execute()
        assert ran == []

    def test_parameter_nothing_provides_is_named(self) -> None:
        ran: list[str] = []
        with workflow("missing") as wf:

            @task
            def first() -> None:
                ran.append("first")

            @task(inject_context=True)
            def deploy_with_approval(ctx: TaskExecutionContext, deployment_plan: dict) -> None: ...

            first >> deploy_with_approval
            with pytest.raises(MissingInputError) as raised:
                wf.execute()
        message = str(raised.value)
        assert "task 'deploy_with_approval' needs parameter 'deployment_plan'" in message
        assert "channel={'deployment_plan': ...}" in message
        assert ran == []

    def test_parameter_from_a_task_that_does_not_run_before(self) -> None:
        with workflow("order-error") as wf:

            @task
            def plan() -> int:
                return 1

            @task
            def use(plan: int) -> int:
                return plan

            wf.add(plan, use)
            with pytest.raises(MissingInputError, match="connect them with `plan >> use`"):
                wf.execute()

    def test_empty_workflow(self) -> None:
        with workflow("empty") as wf, pytest.raises(WorkflowDefinitionError, match="has no tasks"):
            wf.execute()
