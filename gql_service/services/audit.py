"""Reading the audit trail: newest first, only what the reader may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gql_service.domain.roles import Role
from gql_service.events.model import Event, EventType
from gql_service.services.access import Access
from gql_service.storage.events import audit_query
from gql_service.storage.store import Store


@dataclass(frozen=True, slots=True)
class AuditFilter:
    project: str | None = None
    environment: str | None = None
    collection_id: str | None = None
    actor: str | None = None
    types: list[EventType] | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def _query(self, wanted: AuditFilter) -> dict[str, object] | None:
        project_id = None
        if wanted.project is not None:
            project = await self._store.projects.get_by_name(wanted.project)
            if project is None:
                return None
            project_id = project.id
        return audit_query(
            project_id=project_id,
            environment=wanted.environment,
            collection_id=wanted.collection_id,
            actor=wanted.actor,
            types=wanted.types,
            since=wanted.since,
            until=wanted.until,
        )

    async def list(
        self, access: Access, wanted: AuditFilter, before: int | None, limit: int
    ) -> list[Event]:
        query = await self._query(wanted)
        if query is None:
            return []
        scope = await access.event_scope()
        events = await self._store.events.list_committed(scope, query, before, limit)
        return [
            event for event in events if await self._may_see_resource(access, event)
        ]

    async def count(self, access: Access, wanted: AuditFilter) -> int:
        query = await self._query(wanted)
        if query is None:
            return 0
        return await self._store.events.count_committed(
            await access.event_scope(), query
        )

    async def get(self, access: Access, seq: int) -> Event | None:
        scope = await access.event_scope()
        found = await self._store.events.list_committed(scope, {"_id": seq}, None, 1)
        if not found or not await self._may_see_resource(access, found[0]):
            return None
        return found[0]

    async def _may_see_resource(self, access: Access, event: Event) -> bool:
        hidden = (event.resource or {}).get("hidden_for") or []
        if not hidden or access.principal.identities.isdisjoint(hidden):
            return True
        if event.collection_id is None:
            return False
        collection = await self._store.collections.get(event.collection_id)
        role = await access.collection_role(collection) if collection else None
        return role is Role.OWNER
