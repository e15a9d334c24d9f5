"""Workflow inputs, queries, mutations and the run subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.scalars import JSON

from gql_service.api.common import TagInput
from gql_service.api.context import Info
from gql_service.api.ids import decode_id, encode_id
from gql_service.api.workflow_nodes import WorkflowNode, WorkflowRunNode, run_page
from gql_service.api.workflow_types import WorkflowRunConnection
from gql_service.domain import workflows as wf
from gql_service.domain.models import UNCHANGED, ResourceType, Tag
from gql_service.errors import BadUserInputError
from gql_service.events.hub import EventFilter as FeedFilter
from gql_service.events.model import EventType
from gql_service.services.workflows import RunFilter, WorkflowSpec


@strawberry.input
class ScheduleInput:
    cron: str
    timezone: str | None = "UTC"


@strawberry.input
class WorkflowConditionsInput:
    target_environment: str | None = None
    environments: list[str] | None = None
    resource_types: list[ResourceType] | None = None
    tags: list[TagInput] | None = None


@strawberry.input
class NotificationActionInput:
    channel: wf.NotificationChannel
    target: str | None = None
    message: str | None = None


@strawberry.input
class ApprovalActionInput:
    approvers: list[str]
    required_approvals: int | None = 1
    timeout_seconds: int | None = 86400
    allow_self_approval: bool | None = False


@strawberry.input
class DeployActionInput:
    strategy: wf.DeployStrategy
    webhook_url: str
    timeout_seconds: int | None = 600


@strawberry.input
class HealthCheckActionInput:
    url: str
    expected_status: int | None = 200
    timeout_seconds: int | None = 300
    interval_seconds: int | None = 5


@strawberry.input
class ResourceManagementActionInput:
    operation: wf.ResourceOperation
    resource_types: list[ResourceType] | None = None
    tags: list[TagInput] | None = None


@strawberry.input(one_of=True, description="Exactly one field must be set.")
class WorkflowActionInput:
    notification: NotificationActionInput | None = strawberry.UNSET
    approval: ApprovalActionInput | None = strawberry.UNSET
    deploy: DeployActionInput | None = strawberry.UNSET
    health_check: HealthCheckActionInput | None = strawberry.UNSET
    resource_management: ResourceManagementActionInput | None = strawberry.UNSET


def _tags(tags: list[TagInput] | None) -> tuple[Tag, ...] | None:
    return tuple(Tag(t.key, t.value) for t in tags) if tags is not None else None


def _int(value: int | None, default: int) -> int:
    return default if value is None else value


def to_action(given: WorkflowActionInput) -> wf.Action:
    chosen = [
        value
        for value in (
            given.notification,
            given.approval,
            given.deploy,
            given.health_check,
            given.resource_management,
        )
        if value not in (None, strawberry.UNSET)
    ]
    if len(chosen) != 1:
        raise BadUserInputError("Each action sets exactly one field.", field="actions")
    value = chosen[0]
    if isinstance(value, NotificationActionInput):
        return wf.NotificationAction(value.channel, value.target, value.message)
    if isinstance(value, ApprovalActionInput):
        return wf.ApprovalAction(
            tuple(value.approvers),
            _int(value.required_approvals, 1),
            _int(value.timeout_seconds, 86400),
            bool(value.allow_self_approval),
        )
    if isinstance(value, DeployActionInput):
        return wf.DeployAction(
            value.strategy, value.webhook_url, _int(value.timeout_seconds, 600)
        )
    if isinstance(value, HealthCheckActionInput):
        return wf.HealthCheckAction(
            value.url,
            _int(value.expected_status, 200),
            _int(value.timeout_seconds, 300),
            _int(value.interval_seconds, 5),
        )
    assert isinstance(value, ResourceManagementActionInput)
    return wf.ResourceManagementAction(
        value.operation,
        tuple(value.resource_types) if value.resource_types is not None else None,
        _tags(value.tags),
    )


def _conditions(given: WorkflowConditionsInput | None) -> wf.Conditions | None:
    if given is None:
        return None
    return wf.Conditions(
        target_environment=given.target_environment,
        environments=tuple(given.environments)
        if given.environments is not None
        else None,
        resource_types=tuple(given.resource_types)
        if given.resource_types is not None
        else None,
        tags=_tags(given.tags),
    )


def _schedule(given: ScheduleInput | None) -> wf.Schedule | None:
    if given is None:
        return None
    # An explicit empty time zone is an error to report, not a request for UTC.
    return wf.Schedule(given.cron, "UTC" if given.timezone is None else given.timezone)


def _given(value: Any, convert: Any = None) -> Any:
    if value is strawberry.UNSET:
        return UNCHANGED
    return convert(value) if convert is not None and value is not None else value


@strawberry.input
class CreateWorkflowInput:
    collection_id: strawberry.ID
    name: str
    description: str | None = ""
    triggers: list[wf.WorkflowTrigger]
    schedule: ScheduleInput | None = strawberry.field(
        default=None, description="Required when triggers include SCHEDULED."
    )
    conditions: WorkflowConditionsInput | None = None
    actions: list[WorkflowActionInput]
    permissions: list[str] | None = strawberry.field(default_factory=list)
    enabled: bool | None = True


@strawberry.input
class UpdateWorkflowInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    triggers: list[wf.WorkflowTrigger] | None = strawberry.UNSET
    schedule: ScheduleInput | None = strawberry.UNSET
    conditions: WorkflowConditionsInput | None = strawberry.UNSET
    actions: list[WorkflowActionInput] | None = strawberry.UNSET
    permissions: list[str] | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.input
class DeleteWorkflowInput:
    id: strawberry.ID


@strawberry.input
class TriggerWorkflowInput:
    id: strawberry.ID
    input: JSON | None = strawberry.field(
        default_factory=dict,
        description="Free-form values handed to the run's actions.",
    )


@strawberry.input
class ReviewWorkflowRunInput:
    id: strawberry.ID
    comment: str | None = None


@strawberry.input
class CancelWorkflowRunInput:
    id: strawberry.ID
    reason: str | None = None


@strawberry.input
class WorkflowRunFilter:
    collection_id: strawberry.ID | None = None
    status: list[wf.RunStatus] | None = None
    awaiting_my_approval: bool | None = strawberry.field(
        default=None,
        description="Runs waiting for a decision that the viewer may give.",
    )


@strawberry.type
class WorkflowPayload:
    workflow: WorkflowNode


@strawberry.type
class DeleteWorkflowPayload:
    deleted_id: strawberry.ID


@strawberry.type
class WorkflowRunPayload:
    run: WorkflowRunNode


def _spec(given: CreateWorkflowInput | UpdateWorkflowInput) -> WorkflowSpec:
    return WorkflowSpec(
        name=_given(given.name),
        description=_given(given.description),
        triggers=_given(given.triggers),
        schedule=_given(given.schedule, _schedule),
        conditions=_given(given.conditions, _conditions),
        actions=_given(given.actions, lambda acts: [to_action(a) for a in acts]),
        permissions=_given(given.permissions),
        enabled=_given(given.enabled),
    )


def _workflow_id(value: strawberry.ID) -> str:
    return decode_id(value, "WorkflowDefinition")


def _run_id(value: strawberry.ID) -> str:
    return decode_id(value, "WorkflowRun")


async def workflow_node(info: Info, object_id: str) -> WorkflowNode | None:
    context = info.context
    found = await context.services.workflows.get_readable(context.access, object_id)
    return WorkflowNode.from_model(found) if found else None


async def run_node(info: Info, object_id: str) -> WorkflowRunNode | None:
    context = info.context
    found = await context.services.workflows.get_run(context.access, object_id)
    return WorkflowRunNode.from_model(found) if found else None


@strawberry.type
class WorkflowQueries:
    @strawberry.field
    async def workflow(self, info: Info, id: strawberry.ID) -> WorkflowNode | None:
        return await workflow_node(info, _workflow_id(id))

    @strawberry.field
    async def workflow_run(
        self, info: Info, id: strawberry.ID
    ) -> WorkflowRunNode | None:
        return await run_node(info, _run_id(id))

    @strawberry.field(
        description="Runs the viewer may read, newest first (workflows capability)."
    )
    async def workflow_runs(
        self,
        info: Info,
        filter: WorkflowRunFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> WorkflowRunConnection:
        wanted = RunFilter()
        if filter is not None:
            wanted = RunFilter(
                collection_id=decode_id(
                    filter.collection_id, "ServiceCollection", "collectionId"
                )
                if filter.collection_id
                else None,
                statuses=filter.status or [],
                awaiting_my_approval=bool(filter.awaiting_my_approval),
            )
        return await run_page(info, wanted, first, after)


@strawberry.type
class WorkflowMutations:
    @strawberry.mutation
    async def create_workflow(
        self, info: Info, input: CreateWorkflowInput
    ) -> WorkflowPayload:
        context = info.context
        collection_id = decode_id(
            input.collection_id, "ServiceCollection", "collectionId"
        )
        workflow = await context.services.workflows.create(
            context.access, collection_id, _spec(input)
        )
        return WorkflowPayload(workflow=WorkflowNode.from_model(workflow))

    @strawberry.mutation
    async def update_workflow(
        self, info: Info, input: UpdateWorkflowInput
    ) -> WorkflowPayload:
        context = info.context
        workflow = await context.services.workflows.update(
            context.access, _workflow_id(input.id), _spec(input)
        )
        return WorkflowPayload(workflow=WorkflowNode.from_model(workflow))

    @strawberry.mutation
    async def delete_workflow(
        self, info: Info, input: DeleteWorkflowInput
    ) -> DeleteWorkflowPayload:
        context = info.context
        workflow = await context.services.workflows.delete(
            context.access, _workflow_id(input.id)
        )
        return DeleteWorkflowPayload(
            deleted_id=strawberry.ID(encode_id("WorkflowDefinition", workflow.id))
        )

    @strawberry.mutation
    async def trigger_workflow(
        self, info: Info, input: TriggerWorkflowInput
    ) -> WorkflowRunPayload:
        context = info.context
        run = await context.services.workflows.trigger(
            context.access, _workflow_id(input.id), input.input
        )
        context.services.runner_wake()
        return WorkflowRunPayload(run=WorkflowRunNode.from_model(run))

    @strawberry.mutation
    async def approve_workflow_run(
        self, info: Info, input: ReviewWorkflowRunInput
    ) -> WorkflowRunPayload:
        return await _review(info, input, wf.Verdict.APPROVED)

    @strawberry.mutation
    async def reject_workflow_run(
        self, info: Info, input: ReviewWorkflowRunInput
    ) -> WorkflowRunPayload:
        return await _review(info, input, wf.Verdict.REJECTED)

    @strawberry.mutation
    async def cancel_workflow_run(
        self, info: Info, input: CancelWorkflowRunInput
    ) -> WorkflowRunPayload:
        context = info.context
        run = await context.services.workflows.cancel(
            context.access, _run_id(input.id), input.reason
        )
        return WorkflowRunPayload(run=WorkflowRunNode.from_model(run))


async def _review(
    info: Info, input: ReviewWorkflowRunInput, verdict: wf.Verdict
) -> WorkflowRunPayload:
    context = info.context
    run = await context.services.workflows.review(
        context.access, _run_id(input.id), verdict, input.comment
    )
    context.services.runner_wake()
    return WorkflowRunPayload(run=WorkflowRunNode.from_model(run))


@strawberry.type
class WorkflowSubscriptions:
    @strawberry.subscription
    async def workflow_run_updated(
        self,
        info: Info,
        run_id: strawberry.ID | None = None,
        collection_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[WorkflowRunNode, None]:
        context = info.context
        wanted_run = _run_id(run_id) if run_id else None
        wanted = FeedFilter(
            collection_id=decode_id(collection_id, "ServiceCollection", "collectionId")
            if collection_id
            else None,
            types=frozenset({EventType.WORKFLOW_RUN_UPDATED}),
        )
        stream = context.services.hub.stream(context.access.principal, wanted, None)
        try:
            async for event in stream:
                if event.run_id is None or (wanted_run and event.run_id != wanted_run):
                    continue
                run = await context.services.store.runs.get(event.run_id)
                if run is not None:
                    # The connection's context outlives one event: read afresh.
                    context.forget()
                    yield WorkflowRunNode.from_model(run)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
