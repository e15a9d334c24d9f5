"""GraphQL enums, declared over the domain's own enums (re-exported here)."""

from __future__ import annotations

import strawberry

from gql_service.domain import workflows as wf
from gql_service.domain.models import PromotionStatus, ResourceType
from gql_service.domain.roles import ResourceRole, Role
from gql_service.services.resources import AddStatus

RoleEnum = strawberry.enum(Role, name="Role")
ResourceRoleEnum = strawberry.enum(
    ResourceRole,
    name="ResourceRole",
    description=(
        "A role set on one resource only; NONE hides the resource from that subject."
    ),
)
ResourceTypeEnum = strawberry.enum(ResourceType, name="ResourceType")
AddResourceStatusEnum = strawberry.enum(AddStatus, name="AddResourceStatus")
PromotionStatusEnum = strawberry.enum(PromotionStatus, name="PromotionStatus")
WorkflowTriggerEnum = strawberry.enum(wf.WorkflowTrigger, name="WorkflowTrigger")
NotificationChannelEnum = strawberry.enum(
    wf.NotificationChannel, name="NotificationChannel"
)
DeployStrategyEnum = strawberry.enum(wf.DeployStrategy, name="DeployStrategy")
ResourceOperationEnum = strawberry.enum(wf.ResourceOperation, name="ResourceOperation")
RunStatusEnum = strawberry.enum(wf.RunStatus, name="WorkflowRunStatus")
StepStatusEnum = strawberry.enum(wf.StepStatus, name="StepStatus")
VerdictEnum = strawberry.enum(wf.Verdict, name="ApprovalVerdict")

__all__ = [
    "AddStatus",
    "PromotionStatus",
    "ResourceRole",
    "ResourceType",
    "Role",
]
