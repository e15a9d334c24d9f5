"""The root Query type: thin resolvers over the domain services."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql_service.api.common import Node, Viewer, page_info
from gql_service.api.context import Info
from gql_service.api.events import (
    EventConnection,
    EventFilter,
    EventNode,
    audit_filter,
    event_page,
)
from gql_service.api.ids import (
    decode_any_id,
    decode_cursor,
    decode_id,
    encode_cursor,
    page_size,
)
from gql_service.api.inputs import CollectionFilter, PromotionFilter
from gql_service.api.types import (
    ProjectConnection,
    ProjectEdge,
    ProjectType,
    PromotionConnection,
    PromotionEdge,
    PromotionType,
    ResourceReferenceType,
    ServiceCollectionConnection,
    ServiceCollectionType,
    list_collections,
)
from gql_service.api.vultr_types import DriftItem, drift_items
from gql_service.api.workflow_api import (
    WorkflowQueries,
    run_node,
    workflow_node,
)
from gql_service.domain import models, validation
from gql_service.domain.models import utc_now
from gql_service.errors import VultrNotConfiguredError
from gql_service.storage.service_collections import CollectionQuery
from gql_service.vultr import drift as vultr_drift


@strawberry.type
class DriftReport:
    collection: ServiceCollectionType
    checked_at: datetime
    in_sync: bool
    items: list[DriftItem]


@strawberry.type
class Query(WorkflowQueries):
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, object_id = decode_any_id(id)
        context = info.context
        if type_name == "ServiceCollection":
            return await _collection(info, object_id)
        if type_name == "Project":
            project = await context.services.store.projects.get(object_id)
            if project is None or not await context.access.can_see_project(project):
                return None
            return ProjectType.from_model(project)
        if type_name == "Promotion":
            return await _promotion(info, object_id)
        if type_name == "Event":
            return await _event(info, int(object_id))
        if type_name == "WorkflowDefinition":
            return await workflow_node(info, object_id)
        if type_name == "WorkflowRun":
            return await run_node(info, object_id)
        resource = await context.services.store.resources.get_by_id(object_id)
        if resource is None:
            return None
        collection = await context.services.catalog.get_readable(
            context.access, resource.collection_id
        )
        if collection is None or not await context.access.resource_role(
            collection, resource
        ):
            return None
        return ResourceReferenceType.from_model(resource, collection)

    @strawberry.field
    def viewer(self, info: Info) -> Viewer:
        principal = info.context.access.principal
        return Viewer(
            subject=principal.subject,
            groups=list(principal.groups),
            is_admin=principal.is_admin,
        )

    @strawberry.field
    async def project(self, info: Info, name: str) -> ProjectType | None:
        context = info.context
        project = await context.services.projects.get_visible(context.access, name)
        return ProjectType.from_model(project) if project else None

    @strawberry.field
    async def projects(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> ProjectConnection:
        limit = page_size(first, 20)
        after_key = decode_cursor(after, "project", 2) if after else None
        context = info.context
        service = context.services.projects
        found = await service.list_visible(
            context.access,
            (after_key[0], after_key[1]) if after_key else None,
            limit + 1,
        )
        page = found[:limit]
        cursors = [encode_cursor("project", p.name, p.id) for p in page]
        nodes = [ProjectType.from_model(p) for p in page]

        async def count() -> int:
            return await service.count_visible(context.access)

        return ProjectConnection(
            edges=[
                ProjectEdge(cursor=c, node=n)
                for c, n in zip(cursors, nodes, strict=True)
            ],
            nodes=nodes,
            page_info=page_info(cursors, len(found) > limit, after),
            counter=count,
        )

    @strawberry.field
    async def collection(
        self, info: Info, id: strawberry.ID
    ) -> ServiceCollectionType | None:
        return await _collection(info, decode_id(id, "ServiceCollection"))

    @strawberry.field
    async def collection_by_name(
        self, info: Info, project: str, environment: str, name: str
    ) -> ServiceCollectionType | None:
        context = info.context
        found = await context.services.catalog.get_by_name(
            context.access, project, environment, name
        )
        return ServiceCollectionType.from_model(found) if found else None

    @strawberry.field
    async def collections(
        self,
        info: Info,
        filter: CollectionFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> ServiceCollectionConnection:
        query = await _collection_query(info, filter)
        return await list_collections(info, query, first, after)

    @strawberry.field(description="Events the viewer may read, newest first.")
    async def audit_log(
        self,
        info: Info,
        filter: EventFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> EventConnection:
        return await event_page(info, audit_filter(filter), first, after)

    @strawberry.field(
        description=(
            "Compares the collection with the Vultr account; null with "
            "VULTR_NOT_CONFIGURED without a key."
        )
    )
    async def drift_report(
        self, info: Info, collection_id: strawberry.ID
    ) -> DriftReport | None:
        context = info.context
        object_id = decode_id(collection_id, "ServiceCollection", "collectionId")
        inventory = context.services.vultr
        if inventory is None:
            raise VultrNotConfiguredError(
                "No Vultr API key is configured (GQL_SERVICE_VULTR_API_KEY)."
            )
        found = await context.services.catalog.get_readable(context.access, object_id)
        if found is None:
            return None
        resources = await context.services.store.resources.list_all(found.id)
        items = await inventory.drift(
            vultr_drift.tag_of(found), vultr_drift.drift_refs(found, resources)
        )
        return DriftReport(
            collection=ServiceCollectionType.from_model(found),
            checked_at=utc_now(),
            in_sync=not items,
            items=drift_items(items),
        )

    @strawberry.field
    async def promotion(self, info: Info, id: strawberry.ID) -> PromotionType | None:
        return await _promotion(info, decode_id(id, "Promotion"))

    @strawberry.field
    async def promotions(
        self,
        info: Info,
        filter: PromotionFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> PromotionConnection:
        limit = page_size(first, 20)
        after_id = decode_cursor(after, "promotion", 1)[0] if after else None
        context = info.context
        store = context.services.store
        scope = await context.access.promotion_scope()
        criteria = {
            "project": filter.project if filter else None,
            "collection_id": (
                decode_id(filter.collection_id, "ServiceCollection", "collectionId")
                if filter and filter.collection_id
                else None
            ),
            "statuses": filter.status if filter else None,
        }
        found = await store.promotions.list(
            scope, after=after_id, limit=limit + 1, **criteria
        )
        page = found[:limit]
        cursors = [encode_cursor("promotion", p.id) for p in page]
        nodes = [PromotionType.from_model(p) for p in page]

        async def count() -> int:
            return await store.promotions.count(scope, **criteria)

        return PromotionConnection(
            edges=[
                PromotionEdge(cursor=c, node=n)
                for c, n in zip(cursors, nodes, strict=True)
            ],
            nodes=nodes,
            page_info=page_info(cursors, len(found) > limit, after),
            counter=count,
        )


async def _collection(info: Info, object_id: str) -> ServiceCollectionType | None:
    context = info.context
    found = await context.services.catalog.get_readable(context.access, object_id)
    return ServiceCollectionType.from_model(found) if found else None


async def _event(info: Info, seq: int) -> EventNode | None:
    context = info.context
    found = await context.services.audit.get(context.access, seq)
    return EventNode.from_model(found) if found else None


async def _promotion(info: Info, object_id: str) -> PromotionType | None:
    context = info.context
    found = await context.services.promotions.get_readable(context.access, object_id)
    return PromotionType.from_model(found) if found else None


async def _collection_query(
    info: Info, filter: CollectionFilter | None
) -> CollectionQuery:
    if filter is None:
        return CollectionQuery()
    project_ids = None
    if filter.project is not None:
        validation.check_text(filter.project, "filter.project", max_length=200)
        project = await info.context.services.store.projects.get_by_name(filter.project)
        project_ids = [project.id] if project else []
    if filter.environment is not None:
        validation.check_text(filter.environment, "filter.environment", max_length=200)
    if filter.name_contains is not None:
        validation.check_text(
            filter.name_contains, "filter.nameContains", max_length=200
        )
    tags = validation.tags([(t.key, t.value) for t in filter.tags or []], "filter.tags")
    return CollectionQuery(
        project_ids=project_ids,
        environment=filter.environment,
        tags=[models.Tag(t.key, t.value) for t in tags] or None,
        name_contains=filter.name_contains or None,
    )
