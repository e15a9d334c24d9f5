"""Service collections: create, read, update, delete and permissions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bson import ObjectId

from gql_service.domain import validation
from gql_service.domain.models import (
    DEFAULT_ENVIRONMENTS,
    UNCHANGED,
    FieldChange,
    Grant,
    Project,
    ServiceCollection,
    utc_now,
)
from gql_service.domain.roles import Role
from gql_service.errors import (
    BadUserInputError,
    CollectionNotEmptyError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)
from gql_service.events.log import EventLog
from gql_service.events.model import EventType
from gql_service.services import grants as grant_rules
from gql_service.services.access import Access
from gql_service.services.projects import WRITE_ATTEMPTS, ProjectService
from gql_service.services.recording import collection_event, diff, grant_values
from gql_service.storage.documents import (
    collection_from_doc,
    collection_to_doc,
    grants_to_doc,
    object_id,
    tags_to_doc,
)
from gql_service.storage.service_collections import CollectionQuery
from gql_service.storage.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewCollection:
    name: str
    project: str
    environment: str
    description: str = ""
    region: str | None = None
    tags: Sequence[tuple[str, str]] = ()
    owners: Sequence[str] = ()
    editors: Sequence[str] = ()
    viewers: Sequence[str] = ()


@dataclass(slots=True)
class CollectionChanges:
    """Fields to change; UNCHANGED leaves one as it is, None clears region."""

    description: object = UNCHANGED
    region: object = UNCHANGED
    tags: object = UNCHANGED
    expected_version: int | None = None


def check_environment(project: Project, environment: str) -> None:
    if environment not in project.environments:
        raise BadUserInputError(
            f"Environment {environment!r} is not on the promotion path of "
            f"{project.name!r}; valid: {', '.join(project.environments)}.",
            field="environment",
            validEnvironments=project.environments,
        )


class CatalogService:
    def __init__(self, store: Store, log: EventLog, projects: ProjectService) -> None:
        self._store = store
        self._log = log
        self._projects = projects

    async def get_readable(
        self, access: Access, collection_id: str
    ) -> ServiceCollection | None:
        collection = await self._store.collections.get(collection_id)
        if collection is None or await access.collection_role(collection) is None:
            return None
        return collection

    async def require(
        self, access: Access, collection_id: str, needed: Role
    ) -> tuple[ServiceCollection, Role]:
        collection = await self._store.collections.get(collection_id)
        return await access.require_collection(collection, needed)

    async def get_by_name(
        self, access: Access, project: str, environment: str, name: str
    ) -> ServiceCollection | None:
        found = await self._store.projects.get_by_name(project)
        if found is None:
            return None
        collection = await self._store.collections.get_by_name(
            found.id, environment, name
        )
        if collection is None or await access.collection_role(collection) is None:
            return None
        return collection

    async def create(self, access: Access, new: NewCollection) -> ServiceCollection:
        name = validation.collection_name(new.name)
        project_name = validation.project_name(new.project)
        environment = validation.environment_name(new.environment)
        creator = access.principal.subject
        grants = grant_rules.initial_grants(
            creator, owners=new.owners, editors=new.editors, viewers=new.viewers
        )
        now = utc_now()
        collection = ServiceCollection(
            id=str(ObjectId()),
            project_id="",
            project=project_name,
            environment=environment,
            name=name,
            description=validation.description(new.description),
            region=validation.region(new.region),
            tags=validation.tags(new.tags),
            grants=grants,
            resource_count=0,
            version=1,
            created_at=now,
            updated_at=now,
            created_by=creator,
        )
        project = await self._project_for_new_collection(
            access, project_name, environment
        )
        collection.project_id = project.id

        changes = [
            *diff("description", None, collection.description or None),
            *diff("region", None, collection.region),
            *diff("tags", None, tags_to_doc(collection.tags) or None),
            *diff("grants", None, grant_values(collection.grants)),
        ]
        event = collection_event(
            EventType.COLLECTION_CREATED,
            creator,
            collection,
            {"kind": "insert_collection", "doc": collection_to_doc(collection)},
            changes=changes,
        )
        await self._log.execute([event])
        access.forget()
        logger.info(
            "Collection created: %s/%s/%s", project_name, environment, collection.name
        )
        return collection

    async def _project_for_new_collection(
        self, access: Access, name: str, environment: str
    ) -> Project:
        project = await self._store.projects.get_by_name(name)
        if project is None:
            if environment not in DEFAULT_ENVIRONMENTS:
                raise BadUserInputError(
                    f"Environment {environment!r} is not on the default path "
                    f"({', '.join(DEFAULT_ENVIRONMENTS)}); create the project "
                    "with its own path first.",
                    field="environment",
                    validEnvironments=list(DEFAULT_ENVIRONMENTS),
                )
            project = await self._projects.create_implicitly(access, name)
        role = access.project_role(project)
        if role is None and not await access.can_see_project(project):
            raise NotFoundError(f"No project named {name!r}.")
        if role is None or not role.at_least(Role.EDITOR):
            raise ForbiddenError("Creating a collection needs project EDITOR.")
        check_environment(project, environment)
        return project

    async def update(
        self, access: Access, collection_id: str, changes: CollectionChanges
    ) -> ServiceCollection:
        collection, _role = await self.require(access, collection_id, Role.EDITOR)
        fields: dict[str, object] = {}
        if changes.description is not UNCHANGED:
            if changes.description is None:
                raise BadUserInputError(
                    "description cannot be null.", field="description"
                )
            fields["description"] = validation.description(str(changes.description))
        if changes.region is not UNCHANGED:
            region = changes.region
            fields["region"] = validation.region(
                None if region is None else str(region)
            )
        if changes.tags is not UNCHANGED:
            if changes.tags is None:
                raise BadUserInputError("tags cannot be null; send [].", field="tags")
            fields["tags"] = tags_to_doc(validation.tags(changes.tags))  # type: ignore[arg-type]

        for _attempt in range(WRITE_ATTEMPTS):
            if changes.expected_version not in (None, collection.version):
                raise ConflictError(
                    "The collection has changed since the version you sent.",
                    currentVersion=collection.version,
                )
            try:
                return await self._write_fields(
                    access,
                    collection,
                    fields,
                    EventType.COLLECTION_UPDATED,
                    changes.expected_version,
                )
            except ConflictError:
                if changes.expected_version is not None:
                    raise
                collection = await self._reload(collection)
        raise ConflictError("The collection kept changing; retry.")

    async def _write_fields(
        self,
        access: Access,
        collection: ServiceCollection,
        fields: dict[str, object],
        event_type: EventType,
        version: int | None,
    ) -> ServiceCollection:
        before = collection_to_doc(collection)
        changes: list[FieldChange] = []
        for name, value in fields.items():
            changes += diff(name, before.get(name), value)
        operation = {
            "kind": "update_collection",
            "collection_id": object_id(collection.id),
            "version": version,
            "fields": {**fields, "updated_at": utc_now()},
        }
        event = collection_event(
            event_type, access.principal.subject, collection, operation, changes=changes
        )
        outcome = await self._log.execute([event])
        return collection_from_doc(outcome.value["collection"])

    async def _reload(self, collection: ServiceCollection) -> ServiceCollection:
        reloaded = await self._store.collections.get(collection.id)
        if reloaded is None:
            raise NotFoundError("No such collection.")
        return reloaded

    async def delete(
        self, access: Access, collection_id: str, force: bool
    ) -> tuple[ServiceCollection, int]:
        collection, _role = await self.require(access, collection_id, Role.OWNER)
        if collection.resource_count > 0 and not force:
            raise CollectionNotEmptyError(
                f"The collection holds {collection.resource_count} resources; "
                "remove them or pass force: true.",
                resourceCount=collection.resource_count,
            )
        project = await self._store.projects.get(collection.project_id)
        readers = sorted(
            {g.subject for g in collection.grants}
            | {g.subject for g in (project.grants if project else [])}
        )
        operation = {
            "kind": "delete_collection",
            "collection_id": object_id(collection.id),
            "project_id": object_id(collection.project_id),
            "environment": collection.environment,
            "require_empty": not force,
            "readers": readers,
        }
        event = collection_event(
            EventType.COLLECTION_DELETED,
            access.principal.subject,
            collection,
            operation,
            changes=diff("resourceCount", collection.resource_count, None),
        )
        outcome = await self._log.execute([event])
        access.forget()
        return collection, int(outcome.value["detached"])

    async def update_permissions(
        self,
        access: Access,
        collection_id: str,
        grant: Sequence[Grant],
        revoke: Sequence[str],
    ) -> ServiceCollection:
        collection, _role = await self.require(access, collection_id, Role.OWNER)
        for _attempt in range(WRITE_ATTEMPTS):
            grants = grant_rules.apply_changes(collection.grants, grant, revoke)
            try:
                updated = await self._write_fields(
                    access,
                    collection,
                    {"grants": grants_to_doc(grants)},
                    EventType.PERMISSIONS_CHANGED,
                    collection.version,
                )
            except ConflictError:
                collection = await self._reload(collection)
                continue
            access.forget()
            logger.info("Collection permissions changed: %s", collection.id)
            return updated
        raise ConflictError("The collection kept changing; retry.")

    async def list_visible(
        self,
        access: Access,
        query: CollectionQuery,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[ServiceCollection]:
        scope = await access.collection_scope()
        return await self._store.collections.list(scope, query, after, limit)

    async def count_visible(self, access: Access, query: CollectionQuery) -> int:
        return await self._store.collections.count(
            await access.collection_scope(), query
        )

    async def visible_in_projects(
        self, access: Access, project_ids: list[str]
    ) -> list[ServiceCollection]:
        scope = await access.collection_scope()
        return await self._store.collections.list_in_projects(scope, project_ids)

    async def get_many_readable(
        self, access: Access, collection_ids: list[str]
    ) -> list[ServiceCollection | None]:
        found = {
            c.id: c for c in await self._store.collections.get_many(collection_ids)
        }
        result: list[ServiceCollection | None] = []
        for collection_id in collection_ids:
            collection = found.get(collection_id)
            readable = collection and await access.collection_role(collection)
            result.append(collection if readable else None)
        return result
