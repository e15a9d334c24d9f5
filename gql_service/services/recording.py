"""Building the events that accompany each change."""

from __future__ import annotations

from typing import Any

from gql_service.domain.models import (
    FieldChange,
    Project,
    ResourceReference,
    ServiceCollection,
)
from gql_service.events.model import EventType, NewEvent
from gql_service.storage.documents import resource_to_doc


def project_event(
    event_type: EventType,
    actor: str,
    project: Project,
    operation: dict[str, Any],
    changes: list[FieldChange] | None = None,
) -> NewEvent:
    return NewEvent(
        type=event_type,
        actor=actor,
        project_id=project.id,
        project=project.name,
        operation=operation,
        changes=changes or [],
    )


def collection_event(
    event_type: EventType,
    actor: str,
    collection: ServiceCollection,
    operation: dict[str, Any],
    *,
    changes: list[FieldChange] | None = None,
    resource: ResourceReference | None = None,
    promotion_id: str | None = None,
    run_id: str | None = None,
) -> NewEvent:
    return NewEvent(
        type=event_type,
        actor=actor,
        project_id=collection.project_id,
        project=collection.project,
        operation=operation,
        environment=collection.environment,
        collection_id=collection.id,
        collection_name=collection.name,
        resource=resource_to_doc(resource) if resource else None,
        changes=changes or [],
        promotion_id=promotion_id,
        run_id=run_id,
    )


def diff(field: str, before: Any, after: Any) -> list[FieldChange]:
    return [] if before == after else [FieldChange(field, before, after)]


def grant_values(grants: list[Any]) -> list[dict[str, str]]:
    return [{"subject": g.subject, "role": g.role.value} for g in grants]
