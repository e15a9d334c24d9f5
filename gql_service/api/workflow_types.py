"""GraphQL types of workflows, runs and protected environments."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from gql_service.api import enums  # noqa: F401  (declares the enums first)
from gql_service.api.common import Counted, Node, PageInfo, Tag
from gql_service.api.context import Info
from gql_service.domain import workflows as wf
from gql_service.domain.models import ResourceType
from gql_service.domain.roles import Role
from gql_service.outbound.http import redact_url

if TYPE_CHECKING:
    from gql_service.api.types import ServiceCollectionType
    from gql_service.api.workflow_nodes import WorkflowRun

CollectionRef = Annotated[
    "ServiceCollectionType", strawberry.lazy("gql_service.api.types")
]


@strawberry.type
class Schedule:
    cron: str = strawberry.field(description="Five-field cron expression.")
    timezone: str = strawberry.field(description="IANA time zone name.")


@strawberry.type(
    description="All given conditions must hold for a triggering event to start a run."
)
class WorkflowConditions:
    target_environment: str | None = strawberry.field(
        description="The environment a promotion moved into."
    )
    environments: list[str] | None = strawberry.field(
        description="The collection's environment must be one of these."
    )
    resource_types: list[ResourceType] | None
    tags: list[Tag] | None = strawberry.field(
        description=(
            "The resource in a RESOURCE_* event must carry every one of these tags."
        )
    )

    @classmethod
    def from_model(cls, conditions: wf.Conditions) -> WorkflowConditions:
        return cls(
            target_environment=conditions.target_environment,
            environments=list(conditions.environments)
            if conditions.environments is not None
            else None,
            resource_types=list(conditions.resource_types)
            if conditions.resource_types is not None
            else None,
            tags=Tag.many(list(conditions.tags))
            if conditions.tags is not None
            else None,
        )


def _shown(url: str | None, full: bool) -> str | None:
    """Secrets often sit in hook URLs: only editors and above see them whole."""
    if url is None or full:
        return url
    return redact_url(url) if "://" in url else url


@strawberry.type
class NotificationAction:
    channel: wf.NotificationChannel
    target: str | None = strawberry.field(
        description=(
            "Webhook URL or e-mail address; null means the service's configured "
            "default."
        )
    )
    message: str | None


@strawberry.type
class ApprovalAction:
    approvers: list[str] = strawberry.field(
        description="Subjects (users or group:<name>) who may decide."
    )
    required_approvals: int
    timeout_seconds: int
    allow_self_approval: bool


@strawberry.type
class DeployAction:
    strategy: wf.DeployStrategy
    webhook_url: str = strawberry.field(
        description="The CI/CD hook that performs the deployment."
    )
    timeout_seconds: int


@strawberry.type
class HealthCheckAction:
    url: str
    expected_status: int
    timeout_seconds: int
    interval_seconds: int


@strawberry.type
class ResourceManagementAction:
    operation: wf.ResourceOperation
    resource_types: list[ResourceType] | None
    tags: list[Tag] | None


WorkflowAction = Annotated[
    NotificationAction
    | ApprovalAction
    | DeployAction
    | HealthCheckAction
    | ResourceManagementAction,
    strawberry.union("WorkflowAction"),
]


def action_type(action: wf.Action, full_urls: bool) -> WorkflowAction:
    if isinstance(action, wf.NotificationAction):
        target = action.target
        if action.channel is not wf.NotificationChannel.EMAIL:
            target = _shown(target, full_urls)
        return NotificationAction(
            channel=action.channel, target=target, message=action.message
        )
    if isinstance(action, wf.ApprovalAction):
        return ApprovalAction(
            approvers=list(action.approvers),
            required_approvals=action.required_approvals,
            timeout_seconds=action.timeout_seconds,
            allow_self_approval=action.allow_self_approval,
        )
    if isinstance(action, wf.DeployAction):
        return DeployAction(
            strategy=action.strategy,
            webhook_url=_shown(action.webhook_url, full_urls) or "",
            timeout_seconds=action.timeout_seconds,
        )
    if isinstance(action, wf.HealthCheckAction):
        return HealthCheckAction(
            url=_shown(action.url, full_urls) or "",
            expected_status=action.expected_status,
            timeout_seconds=action.timeout_seconds,
            interval_seconds=action.interval_seconds,
        )
    return ResourceManagementAction(
        operation=action.operation,
        resource_types=list(action.resource_types)
        if action.resource_types is not None
        else None,
        tags=Tag.many(list(action.tags)) if action.tags is not None else None,
    )


async def sees_full_urls(info: Info, collection_id: str) -> bool:
    collection = await info.context.loaders.collection.load(collection_id)
    if collection is None:
        return False
    role = await info.context.access.collection_role(collection)
    return role is not None and role.at_least(Role.EDITOR)


@strawberry.type
class ApprovalDecision:
    approver: str
    verdict: wf.Verdict
    comment: str | None
    decided_at: datetime

    @classmethod
    def from_model(cls, decision: wf.Decision) -> ApprovalDecision:
        return cls(
            approver=decision.approver,
            verdict=decision.verdict,
            comment=decision.comment,
            decided_at=decision.decided_at,
        )


@strawberry.type
class WorkflowStep:
    step: strawberry.Private[wf.Step]
    full_urls: strawberry.Private[bool]
    index: int
    status: wf.StepStatus
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    output: JSON | None
    error: str | None
    approvals: list[ApprovalDecision]

    @strawberry.field
    def action(self) -> WorkflowAction:
        return action_type(self.step.action, self.full_urls)

    @classmethod
    def from_model(cls, step: wf.Step, full_urls: bool) -> WorkflowStep:
        return cls(
            step=step,
            full_urls=full_urls,
            index=step.index,
            status=step.status,
            attempts=step.attempts,
            started_at=step.started_at,
            finished_at=step.finished_at,
            output=step.output,
            error=step.error,
            approvals=[ApprovalDecision.from_model(d) for d in step.approvals],
        )


@strawberry.type
class EnvironmentProtection:
    approvers: list[str] = strawberry.field(
        description=(
            "Subjects (users or group:<name>) who may approve a promotion into "
            "the environment."
        )
    )
    required_approvals: int
    prevent_self_review: bool = strawberry.field(
        description="The promotion's actor may not approve it."
    )


@strawberry.type
class WorkflowRunEdge:
    cursor: str
    node: Annotated[WorkflowRun, strawberry.lazy("gql_service.api.workflow_nodes")]


@strawberry.type
class WorkflowRunConnection(Counted):
    edges: list[WorkflowRunEdge]
    nodes: list[
        Annotated[WorkflowRun, strawberry.lazy("gql_service.api.workflow_nodes")]
    ]
    page_info: PageInfo


__all__ = ["CollectionRef", "Node"]
