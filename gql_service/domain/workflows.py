"""Workflows: definitions, runs and steps, as plain records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gql_service.domain.models import ResourceType, Tag


class WorkflowTrigger(StrEnum):
    RESOURCE_CREATED = "RESOURCE_CREATED"
    RESOURCE_UPDATED = "RESOURCE_UPDATED"
    RESOURCE_DELETED = "RESOURCE_DELETED"
    ENVIRONMENT_PROMOTED = "ENVIRONMENT_PROMOTED"
    MANUAL = "MANUAL"
    SCHEDULED = "SCHEDULED"


class NotificationChannel(StrEnum):
    SLACK = "SLACK"
    EMAIL = "EMAIL"
    WEBHOOK = "WEBHOOK"


class DeployStrategy(StrEnum):
    ROLLING = "ROLLING"
    BLUE_GREEN = "BLUE_GREEN"
    CANARY = "CANARY"
    RECREATE = "RECREATE"


class ResourceOperation(StrEnum):
    START = "START"
    STOP = "STOP"
    REBOOT = "REBOOT"
    SNAPSHOT = "SNAPSHOT"


class RunStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    WAITING_FOR_APPROVAL = "WAITING_FOR_APPROVAL"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def is_final(self) -> bool:
        return self in FINAL_RUN_STATUSES


FINAL_RUN_STATUSES = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.REJECTED,
        RunStatus.CANCELLED,
        RunStatus.TIMED_OUT,
    }
)


class StepStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING_FOR_APPROVAL = "WAITING_FOR_APPROVAL"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


class Verdict(StrEnum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


# Which recorded events start which triggers.
EVENT_TRIGGERS = {
    "RESOURCE_ADDED": WorkflowTrigger.RESOURCE_CREATED,
    "RESOURCE_UPDATED": WorkflowTrigger.RESOURCE_UPDATED,
    "RESOURCE_REMOVED": WorkflowTrigger.RESOURCE_DELETED,
    "ENVIRONMENT_PROMOTED": WorkflowTrigger.ENVIRONMENT_PROMOTED,
}


@dataclass(frozen=True, slots=True)
class Schedule:
    cron: str
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Conditions:
    target_environment: str | None = None
    environments: tuple[str, ...] | None = None
    resource_types: tuple[ResourceType, ...] | None = None
    tags: tuple[Tag, ...] | None = None


@dataclass(frozen=True, slots=True)
class NotificationAction:
    channel: NotificationChannel
    target: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalAction:
    approvers: tuple[str, ...]
    required_approvals: int = 1
    timeout_seconds: int = 86400
    allow_self_approval: bool = False


@dataclass(frozen=True, slots=True)
class DeployAction:
    strategy: DeployStrategy
    webhook_url: str
    timeout_seconds: int = 600


@dataclass(frozen=True, slots=True)
class HealthCheckAction:
    url: str
    expected_status: int = 200
    timeout_seconds: int = 300
    interval_seconds: int = 5


@dataclass(frozen=True, slots=True)
class ResourceManagementAction:
    operation: ResourceOperation
    resource_types: tuple[ResourceType, ...] | None = None
    tags: tuple[Tag, ...] | None = None


Action = (
    NotificationAction
    | ApprovalAction
    | DeployAction
    | HealthCheckAction
    | ResourceManagementAction
)


@dataclass(slots=True)
class Workflow:
    id: str
    collection_id: str
    project_id: str
    name: str
    description: str
    triggers: list[WorkflowTrigger]
    schedule: Schedule | None
    conditions: Conditions
    actions: list[Action]
    permissions: list[str]
    enabled: bool
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    version: int = 1

    @property
    def manages_resources(self) -> bool:
        return any(isinstance(a, ResourceManagementAction) for a in self.actions)


@dataclass(frozen=True, slots=True)
class Decision:
    approver: str
    verdict: Verdict
    comment: str | None
    decided_at: datetime


@dataclass(slots=True)
class Step:
    index: int
    action: Action
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    output: Any = None
    error: str | None = None
    approvals: list[Decision] = field(default_factory=list)
    # When a waiting approval or a repeating health check gives up.
    deadline: datetime | None = None


@dataclass(slots=True)
class Run:
    id: str
    workflow_id: str
    collection_id: str
    project_id: str
    trigger: WorkflowTrigger
    triggered_by: str | None
    event_seq: int | None
    input: dict[str, Any]
    status: RunStatus
    steps: list[Step]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    current_step: int = 0
    next_attempt_at: datetime | None = None
    # Goes up with every change; writes are checked against it.
    version: int = 1
