"""Domain records: plain data, free of GraphQL and database types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gql_service.domain.roles import ResourceRole, Role

DEFAULT_ENVIRONMENTS = ("development", "testing", "staging", "production")


class Unchanged:
    """The value of an update field the client left out (None clears it)."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = Unchanged()
STANDARD_ENVIRONMENTS = frozenset(DEFAULT_ENVIRONMENTS)


class ResourceType(StrEnum):
    INSTANCE = "INSTANCE"
    BARE_METAL = "BARE_METAL"
    KUBERNETES_CLUSTER = "KUBERNETES_CLUSTER"
    LOAD_BALANCER = "LOAD_BALANCER"
    BLOCK_STORAGE = "BLOCK_STORAGE"
    OBJECT_STORAGE = "OBJECT_STORAGE"
    MANAGED_DATABASE = "MANAGED_DATABASE"
    DOMAIN = "DOMAIN"
    DNS_RECORD = "DNS_RECORD"
    FIREWALL_GROUP = "FIREWALL_GROUP"
    VPC = "VPC"
    VPC2 = "VPC2"
    RESERVED_IP = "RESERVED_IP"
    SNAPSHOT = "SNAPSHOT"
    SSH_KEY = "SSH_KEY"
    STARTUP_SCRIPT = "STARTUP_SCRIPT"
    CONTAINER_REGISTRY = "CONTAINER_REGISTRY"
    CDN = "CDN"


class PromotionStatus(StrEnum):
    # Recorded, target not yet fully changed; a retry with the key finishes it.
    IN_PROGRESS = "IN_PROGRESS"
    DRY_RUN = "DRY_RUN"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    SUCCEEDED = "SUCCEEDED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


def utc_now() -> datetime:
    """Now, at the millisecond precision that MongoDB stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Grant:
    subject: str
    role: Role


@dataclass(frozen=True, slots=True)
class ResourceGrant:
    subject: str
    role: ResourceRole


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class Protection:
    """Promotions into the environment wait for this many approvers."""

    approvers: tuple[str, ...]
    required_approvals: int = 1
    prevent_self_review: bool = True


@dataclass(slots=True)
class Project:
    id: str
    name: str
    description: str
    environments: list[str]
    grants: list[Grant]
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    protections: dict[str, Protection] = field(default_factory=dict)

    def subjects_with(self, role: Role) -> list[str]:
        return [grant.subject for grant in self.grants if grant.role is role]


@dataclass(slots=True)
class ServiceCollection:
    id: str
    project_id: str
    project: str
    environment: str
    name: str
    description: str
    region: str | None
    tags: list[Tag]
    grants: list[Grant]
    resource_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    promoted_from_id: str | None = None
    # Subjects holding a NONE grant on some resource here; only a hint that
    # the cheap resource counter may overstate what that subject sees.
    restricted_subjects: list[str] = field(default_factory=list)

    def subjects_with(self, role: Role) -> list[str]:
        return [grant.subject for grant in self.grants if grant.role is role]


@dataclass(slots=True)
class ResourceReference:
    id: str
    collection_id: str
    resource_type: ResourceType
    resource_id: str
    resource_name: str | None
    tags: list[Tag]
    metadata: dict[str, Any]
    access: list[ResourceGrant]
    created_at: datetime
    updated_at: datetime
    added_by: str | None


@dataclass(frozen=True, slots=True)
class EnvironmentCounts:
    collection_count: int = 0
    resource_count: int = 0
    restricted_subjects: tuple[str, ...] = ()


@dataclass(slots=True)
class Promotion:
    id: str
    project_id: str
    project: str
    name: str
    source_environment: str
    target_environment: str
    source_id: str
    target_id: str | None
    status: PromotionStatus
    created_target: bool
    include_resources: bool
    include_workflows: bool
    changes: list[FieldChange]
    actor: str
    reason: str | None
    created_at: datetime
    completed_at: datetime | None = None
    idempotency_key: str | None = None
    fingerprint: str | None = None
    approvals: list[Any] = field(default_factory=list)
    approvers: tuple[str, ...] = ()
    required_approvals: int = 0
    prevent_self_review: bool = True
    expires_at: datetime | None = None
    version: int = 1
