"""Resource references inside a collection: add, update, remove, grants."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bson import ObjectId

from gql_service.domain import validation
from gql_service.domain.models import (
    UNCHANGED,
    FieldChange,
    ResourceGrant,
    ResourceReference,
    ResourceType,
    ServiceCollection,
    utc_now,
)
from gql_service.domain.roles import Role
from gql_service.errors import BadUserInputError, ForbiddenError, NotFoundError
from gql_service.events.log import EventLog
from gql_service.events.model import EventType, NewEvent
from gql_service.services.access import Access
from gql_service.services.recording import collection_event, diff
from gql_service.storage.documents import (
    collection_from_doc,
    hidden_for,
    metadata_to_doc,
    object_id,
    resource_from_doc,
    resource_grants_to_doc,
    resource_to_doc,
    tags_to_doc,
)
from gql_service.storage.resources import ResourceQuery
from gql_service.storage.store import Store
from gql_service.vultr.live import VultrInventory

logger = logging.getLogger(__name__)


class AddStatus(StrEnum):
    ADDED = "ADDED"
    ALREADY_PRESENT = "ALREADY_PRESENT"
    INVALID = "INVALID"
    NOT_FOUND_IN_VULTR = "NOT_FOUND_IN_VULTR"


@dataclass(frozen=True, slots=True)
class NewResource:
    resource_type: ResourceType
    resource_id: str
    resource_name: str | None = None
    tags: Sequence[tuple[str, str]] = ()
    metadata: Any = field(default_factory=dict)


@dataclass(slots=True)
class AddResult:
    resource_type: ResourceType
    resource_id: str
    status: AddStatus
    message: str | None = None
    resource: ResourceReference | None = None


@dataclass(slots=True)
class ResourceChanges:
    resource_name: object = UNCHANGED
    tags: object = UNCHANGED
    metadata: object = UNCHANGED


class ResourceService:
    def __init__(
        self,
        store: Store,
        log: EventLog,
        max_bulk: int = 1000,
        vultr: VultrInventory | None = None,
    ) -> None:
        self._store = store
        self._log = log
        self._max_bulk = max_bulk
        self._vultr = vultr

    async def _missing_in_vultr(
        self, resources: Sequence[ResourceReference]
    ) -> set[tuple[ResourceType, str]]:
        """Keys Vultr says do not exist; nothing is checked without a key."""
        if self._vultr is None or not resources:
            return set()
        keys = [(r.resource_type, r.resource_id) for r in resources]
        states = await self._vultr.live_states(keys, refresh_missing=True)
        return {
            key
            for key, state in states.items()
            if state is not None and not state.exists
        }

    def _build(
        self, collection_id: str, new: NewResource, actor: str
    ) -> ResourceReference:
        now = utc_now()
        return ResourceReference(
            id=str(ObjectId()),
            collection_id=collection_id,
            resource_type=new.resource_type,
            resource_id=validation.resource_id(new.resource_id),
            resource_name=validation.resource_name(new.resource_name),
            tags=validation.tags(new.tags),
            metadata=validation.metadata(new.metadata),
            access=[],
            created_at=now,
            updated_at=now,
            added_by=actor,
        )

    def _added_event(
        self, access: Access, collection: ServiceCollection, resource: ResourceReference
    ) -> NewEvent:
        operation = {
            "kind": "insert_resource",
            "collection_id": object_id(collection.id),
            "project_id": object_id(collection.project_id),
            "environment": collection.environment,
            "doc": resource_to_doc(resource),
        }
        return collection_event(
            EventType.RESOURCE_ADDED,
            access.principal.subject,
            collection,
            operation,
            resource=resource,
            changes=diff(
                "resource",
                None,
                {
                    "resourceType": resource.resource_type.value,
                    "resourceId": resource.resource_id,
                },
            ),
        )

    async def add(
        self, access: Access, collection_id: str, new: NewResource
    ) -> tuple[ServiceCollection, ResourceReference]:
        collection = await self._editable_collection(access, collection_id)
        resource = self._build(collection.id, new, access.principal.subject)
        if await self._missing_in_vultr([resource]):
            raise BadUserInputError(
                f"Vultr has no {resource.resource_type.value} with id "
                f"{resource.resource_id!r}.",
                field="resourceId",
            )

        outcome = await self._log.execute(
            [self._added_event(access, collection, resource)]
        )
        if outcome.refused:
            raise next(iter(outcome.refused.values()))
        return collection_from_doc(outcome.value["collection"]), resource

    async def add_many(
        self, access: Access, collection_id: str, items: Sequence[NewResource]
    ) -> tuple[ServiceCollection, list[AddResult]]:
        if len(items) > self._max_bulk:
            raise BadUserInputError(
                f"At most {self._max_bulk} resources per request; got {len(items)}.",
                field="resources",
            )
        collection = await self._editable_collection(access, collection_id)
        results, candidates = self._validate_batch(collection, items, access)

        existing = await self._store.resources.existing_keys(
            collection.id, [(r.resource_type, r.resource_id) for _, r in candidates]
        )
        missing = await self._missing_in_vultr([r for _, r in candidates])
        fresh = []
        for index, resource in candidates:
            key = (resource.resource_type, resource.resource_id)
            if (resource.resource_type.value, resource.resource_id) in existing:
                results[index].status = AddStatus.ALREADY_PRESENT
            elif key in missing:
                results[index].status = AddStatus.NOT_FOUND_IN_VULTR
                results[index].message = "Vultr has no resource with this id."
            else:
                fresh.append((index, resource))
        if not fresh:
            return collection, results

        events = [self._added_event(access, collection, r) for _, r in fresh]
        outcome = await self._log.execute(events)
        refused_at = {
            position
            for position, seq in enumerate(outcome.value["seqs"])
            if seq in outcome.refused
        }
        for position, (index, resource) in enumerate(fresh):
            if position in refused_at:
                results[index].status = AddStatus.ALREADY_PRESENT
            else:
                results[index].status = AddStatus.ADDED
                results[index].resource = resource
        if "collection" in outcome.value:
            collection = collection_from_doc(outcome.value["collection"])
        return collection, results

    def _validate_batch(
        self,
        collection: ServiceCollection,
        items: Sequence[NewResource],
        access: Access,
    ) -> tuple[list[AddResult], list[tuple[int, ResourceReference]]]:
        results: list[AddResult] = []
        candidates: list[tuple[int, ResourceReference]] = []
        seen: set[tuple[ResourceType, str]] = set()
        for index, item in enumerate(items):
            result = AddResult(item.resource_type, item.resource_id, AddStatus.INVALID)
            results.append(result)
            try:
                resource = self._build(collection.id, item, access.principal.subject)
            except BadUserInputError as exc:
                result.message = exc.message
                continue
            key = (resource.resource_type, resource.resource_id)
            if key in seen:
                result.status = AddStatus.ALREADY_PRESENT
                result.message = "Listed twice in this request."
                continue
            seen.add(key)
            candidates.append((index, resource))
        return results, candidates

    async def _editable_collection(
        self, access: Access, collection_id: str
    ) -> ServiceCollection:
        collection = await self._store.collections.get(collection_id)
        found, _role = await access.require_collection(collection, Role.EDITOR)
        return found

    async def _resource_for(
        self,
        access: Access,
        collection_id: str,
        resource_type: ResourceType,
        resource_id: str,
        needed: Role,
    ) -> tuple[ServiceCollection, ResourceReference]:
        collection = await self._store.collections.get(collection_id)
        collection, _role = await access.require_collection(collection, Role.VIEWER)
        resource = await self._store.resources.get(
            collection.id, resource_type, resource_id
        )
        role = await access.resource_role(collection, resource) if resource else None
        if resource is None or role is None:
            raise NotFoundError(f"No {resource_type.value} {resource_id!r} here.")
        if not role.at_least(needed):
            raise ForbiddenError(f"This needs the {needed.value} role on the resource.")
        return collection, resource

    async def update(
        self,
        access: Access,
        collection_id: str,
        resource_type: ResourceType,
        resource_id: str,
        changes: ResourceChanges,
    ) -> tuple[ServiceCollection, ResourceReference]:
        collection, resource = await self._resource_for(
            access, collection_id, resource_type, resource_id, Role.EDITOR
        )
        fields: dict[str, Any] = {}
        diffs: list[FieldChange] = []
        if changes.resource_name is not UNCHANGED:
            name = changes.resource_name
            fields["resource_name"] = validation.resource_name(
                None if name is None else str(name)
            )
            diffs += diff(
                "resourceName", resource.resource_name, fields["resource_name"]
            )
        if changes.tags is not UNCHANGED:
            if changes.tags is None:
                raise BadUserInputError("tags cannot be null; send [].", field="tags")
            fields["tags"] = tags_to_doc(validation.tags(changes.tags))  # type: ignore[arg-type]
            diffs += diff("tags", tags_to_doc(resource.tags), fields["tags"])
        if changes.metadata is not UNCHANGED:
            if changes.metadata is None:
                raise BadUserInputError(
                    "metadata cannot be null; send {}.", field="metadata"
                )
            metadata = validation.metadata(changes.metadata)
            fields["metadata_json"] = metadata_to_doc(metadata)
            diffs += diff("metadata", resource.metadata, metadata)
        return await self._apply(
            access, collection, resource, fields, diffs, EventType.RESOURCE_UPDATED
        )

    async def _apply(
        self,
        access: Access,
        collection: ServiceCollection,
        resource: ResourceReference,
        fields: dict[str, Any],
        changes: list[FieldChange],
        event_type: EventType,
        restricted: list[str] | None = None,
    ) -> tuple[ServiceCollection, ResourceReference]:
        operation = {
            "kind": "update_resource",
            "resource_ref_id": object_id(resource.id),
            "collection_id": object_id(collection.id),
            "project_id": object_id(collection.project_id),
            "environment": collection.environment,
            "fields": {**fields, "updated_at": utc_now()},
            "restricted": restricted or [],
        }
        event = collection_event(
            event_type,
            access.principal.subject,
            collection,
            operation,
            resource=resource,
            changes=changes,
        )
        outcome = await self._log.execute([event])
        updated = (
            collection_from_doc(outcome.value["collection"])
            if outcome.value.get("collection")
            else collection
        )
        return updated, resource_from_doc(outcome.value["resource"])

    async def remove(
        self,
        access: Access,
        collection_id: str,
        resource_type: ResourceType,
        resource_id: str,
    ) -> tuple[ServiceCollection, ResourceReference]:
        collection, resource = await self._resource_for(
            access, collection_id, resource_type, resource_id, Role.EDITOR
        )
        operation = {
            "kind": "remove_resource",
            "resource_ref_id": object_id(resource.id),
            "collection_id": object_id(collection.id),
            "project_id": object_id(collection.project_id),
            "environment": collection.environment,
        }
        event = collection_event(
            EventType.RESOURCE_REMOVED,
            access.principal.subject,
            collection,
            operation,
            resource=resource,
            changes=diff(
                "resource",
                {
                    "resourceType": resource.resource_type.value,
                    "resourceId": resource.resource_id,
                },
                None,
            ),
        )
        outcome = await self._log.execute([event])
        doc = outcome.value.get("collection")
        return (collection_from_doc(doc) if doc else collection), resource

    async def set_access(
        self,
        access: Access,
        collection_id: str,
        resource_type: ResourceType,
        resource_id: str,
        grants: Sequence[ResourceGrant],
    ) -> tuple[ServiceCollection, ResourceReference]:
        collection = await self._store.collections.get(collection_id)
        collection, _role = await access.require_collection(collection, Role.OWNER)
        resource = await self._store.resources.get(
            collection.id, resource_type, resource_id
        )
        if resource is None:
            raise NotFoundError(f"No {resource_type.value} {resource_id!r} here.")
        checked = _check_resource_grants(grants)

        hidden = hidden_for(checked)
        fields = {"access": resource_grants_to_doc(checked), "hidden_for": hidden}
        changes = diff(
            "access", resource_grants_to_doc(resource.access), fields["access"]
        )
        return await self._apply(
            access,
            collection,
            resource,
            fields,
            changes,
            EventType.PERMISSIONS_CHANGED,
            restricted=hidden,
        )

    async def count_visible(
        self, access: Access, collection: ServiceCollection, query: ResourceQuery
    ) -> int:
        role = await access.collection_role(collection)
        is_plain = not (query.resource_types or query.tags or query.tag_keys)
        if (
            role is not None
            and is_plain
            and not access.is_restricted_in(collection, role)
        ):
            return collection.resource_count
        return await self._store.resources.count(
            collection.id, await self.scoped(access, collection, query)
        )

    async def scoped(
        self, access: Access, collection: ServiceCollection, query: ResourceQuery
    ) -> ResourceQuery:
        """``query`` narrowed to the resources ``access`` may see."""
        role = await access.collection_role(collection)
        if role is None or not access.is_restricted_in(collection, role):
            return query
        return ResourceQuery(
            resource_types=query.resource_types,
            tags=query.tags,
            tag_keys=query.tag_keys,
            hidden_from=access.identities,
        )


def _check_resource_grants(grants: Sequence[ResourceGrant]) -> list[ResourceGrant]:
    checked = [
        ResourceGrant(validation.subject(g.subject, "grants.subject"), g.role)
        for g in grants
    ]
    subjects = [g.subject for g in checked]
    if len(set(subjects)) != len(subjects):
        raise BadUserInputError("A subject appears twice in grants.", field="grants")
    if len(checked) > validation.MAX_GRANTS:
        raise BadUserInputError("Too many grants.", field="grants")
    return checked
