"""Events as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gql_service.domain.models import FieldChange


class EventType(StrEnum):
    PROJECT_CREATED = "PROJECT_CREATED"
    PROJECT_UPDATED = "PROJECT_UPDATED"
    COLLECTION_CREATED = "COLLECTION_CREATED"
    COLLECTION_UPDATED = "COLLECTION_UPDATED"
    COLLECTION_DELETED = "COLLECTION_DELETED"
    PERMISSIONS_CHANGED = "PERMISSIONS_CHANGED"
    RESOURCE_ADDED = "RESOURCE_ADDED"
    RESOURCE_UPDATED = "RESOURCE_UPDATED"
    RESOURCE_REMOVED = "RESOURCE_REMOVED"
    ENVIRONMENT_PROMOTED = "ENVIRONMENT_PROMOTED"
    PROMOTION_UPDATED = "PROMOTION_UPDATED"
    WORKFLOW_CREATED = "WORKFLOW_CREATED"
    WORKFLOW_UPDATED = "WORKFLOW_UPDATED"
    WORKFLOW_DELETED = "WORKFLOW_DELETED"
    WORKFLOW_RUN_UPDATED = "WORKFLOW_RUN_UPDATED"


class EventState(StrEnum):
    # Recorded before its change is applied; never delivered in this state.
    PENDING = "pending"
    COMMITTED = "committed"
    # The change was refused or never happened; hidden from every reader.
    ABORTED = "aborted"
    # A reserved cursor whose writer never wrote it; a placeholder.
    SKIPPED = "skipped"


@dataclass(slots=True)
class NewEvent:
    """An event about to be recorded, with the operation that makes its change."""

    type: EventType
    actor: str | None
    project_id: str
    project: str
    operation: dict[str, Any]
    environment: str | None = None
    collection_id: str | None = None
    collection_name: str | None = None
    resource: dict[str, Any] | None = None
    changes: list[FieldChange] = field(default_factory=list)
    promotion_id: str | None = None
    run_id: str | None = None


@dataclass(slots=True)
class Event:
    seq: int
    type: EventType
    state: EventState
    occurred_at: datetime
    actor: str | None
    project_id: str
    project: str
    environment: str | None
    collection_id: str | None
    collection_name: str | None
    resource: dict[str, Any] | None
    changes: list[FieldChange]
    promotion_id: str | None
    run_id: str | None = None
