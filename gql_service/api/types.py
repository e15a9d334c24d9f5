"""GraphQL object types for projects, collections, resources and promotions.

Each type wraps a domain record (``model``) and resolves nested fields
through the request's DataLoaders, so a nested view costs a fixed number of
database commands whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.scalars import JSON

from gql_service.api import enums  # noqa: F401  (declares the enums first)
from gql_service.api.common import (
    Counted,
    Counter,
    FieldChange,
    Node,
    PageInfo,
    Tag,
    TagInput,
    page_info,
)
from gql_service.api.context import Info
from gql_service.api.enums import AddStatus
from gql_service.api.ids import decode_cursor, encode_cursor, encode_id, page_size
from gql_service.domain import models
from gql_service.domain.models import (
    STANDARD_ENVIRONMENTS,
    PromotionStatus,
    ResourceType,
)
from gql_service.domain.roles import ResourceRole, Role
from gql_service.domain.workflows import RunStatus
from gql_service.events.model import EventType
from gql_service.storage.resources import PageRequest, ResourceQuery
from gql_service.storage.service_collections import CollectionQuery

if TYPE_CHECKING:
    from gql_service.api.events import EventConnection
    from gql_service.api.vultr_types import CostSummary, LiveState
    from gql_service.api.workflow_nodes import WorkflowNode
    from gql_service.api.workflow_types import (
        ApprovalDecision,
        EnvironmentProtection,
        WorkflowRunConnection,
    )


@strawberry.type
class ResourceGrant:
    subject: str
    role: ResourceRole


class Unknown:
    """A value the constructor was not given (None is a value: no role)."""


UNKNOWN = Unknown()


@strawberry.type(name="ResourceReference")
class ResourceReferenceType(Node):
    model: strawberry.Private[models.ResourceReference]
    # None for a snapshot in an event whose collection is gone or unreadable.
    collection_model: strawberry.Private[models.ServiceCollection | None]
    id: strawberry.ID
    resource_type: ResourceType
    resource_id: str = strawberry.field(description="The Vultr id of the resource.")
    resource_name: str | None
    tags: list[Tag]
    metadata: JSON
    created_at: datetime = strawberry.field(
        description="When the resource was added to the collection."
    )
    updated_at: datetime
    added_by: str | None
    # The reader's role on the collection when the resolver already knew it.
    collection_role: strawberry.Private[Role | Unknown | None] = UNKNOWN

    @classmethod
    def from_model(
        cls,
        model: models.ResourceReference,
        collection: models.ServiceCollection | None,
        collection_role: Role | Unknown | None = UNKNOWN,
    ) -> ResourceReferenceType:
        return cls(
            model=model,
            collection_model=collection,
            collection_role=collection_role,
            id=strawberry.ID(encode_id("ResourceReference", model.id)),
            resource_type=model.resource_type,
            resource_id=model.resource_id,
            resource_name=model.resource_name,
            tags=Tag.many(model.tags),
            metadata=model.metadata,
            created_at=model.created_at,
            updated_at=model.updated_at,
            added_by=model.added_by,
        )

    @strawberry.field(
        description=(
            "Grants that override the collection's roles for this resource alone."
        )
    )
    def access(self) -> list[ResourceGrant]:
        return [
            ResourceGrant(subject=g.subject, role=g.role) for g in self.model.access
        ]

    @strawberry.field(
        description=(
            "Live state read from Vultr; null when no Vultr API key is configured."
        )
    )
    async def live(
        self, info: Info
    ) -> Annotated[LiveState, strawberry.lazy("gql_service.api.vultr_types")] | None:
        from gql_service.api.vultr_types import live_state

        return await live_state(info, self.model)

    @strawberry.field(description="The viewer's effective role on this resource.")
    def my_role(self, info: Info) -> Role | None:
        if self.collection_model is None:
            return None
        access = info.context.access
        if not isinstance(self.collection_role, Unknown):
            # A page of resources shares one collection role: no coroutine
            # per resource, which costs more than the answer itself.
            return access.resource_role_under(self.collection_role, self.model)
        # graphql-core awaits an awaitable that a plain resolver returns.
        return cast(
            "Role | None", access.resource_role(self.collection_model, self.model)
        )


@strawberry.type
class ResourceEdge:
    cursor: str
    node: ResourceReferenceType


@strawberry.type
class ResourceConnection(Counted):
    edges: list[ResourceEdge]
    nodes: list[ResourceReferenceType]
    page_info: PageInfo


@strawberry.input
class ResourceFilter:
    resource_types: list[ResourceType] | None = None
    tags: list[TagInput] | None = strawberry.field(
        default=None, description="Every listed tag must be present with that value."
    )
    tag_keys: list[str] | None = strawberry.field(
        default=None, description="Every listed key must be present, with any value."
    )


@strawberry.type(name="ServiceCollection")
class ServiceCollectionType(Node):
    model: strawberry.Private[models.ServiceCollection]
    id: strawberry.ID
    name: str
    environment: str
    description: str
    region: str | None
    tags: list[Tag]
    version: int = strawberry.field(
        description=(
            "Increases by one with every change; pass it back as expectedVersion."
        )
    )
    created_at: datetime
    updated_at: datetime
    created_by: str | None

    @classmethod
    def from_model(cls, model: models.ServiceCollection) -> ServiceCollectionType:
        return cls(
            model=model,
            id=strawberry.ID(encode_id("ServiceCollection", model.id)),
            name=model.name,
            environment=model.environment,
            description=model.description,
            region=model.region,
            tags=Tag.many(model.tags),
            version=model.version,
            created_at=model.created_at,
            updated_at=model.updated_at,
            created_by=model.created_by,
        )

    @strawberry.field
    async def project(self, info: Info) -> ProjectType:
        project = await info.context.loaders.project.load(self.model.project_id)
        if project is None:
            raise RuntimeError("collection without its project")
        return ProjectType.from_model(project)

    @strawberry.field
    def owners(self) -> list[str]:
        return self.model.subjects_with(Role.OWNER)

    @strawberry.field
    def editors(self) -> list[str]:
        return self.model.subjects_with(Role.EDITOR)

    @strawberry.field
    def viewers(self) -> list[str]:
        return self.model.subjects_with(Role.VIEWER)

    @strawberry.field(
        description=(
            "The viewer's effective role (project and collection grants combined)."
        )
    )
    async def my_role(self, info: Info) -> Role | None:
        return await info.context.access.collection_role(self.model)

    @strawberry.field
    async def resource_count(self, info: Info) -> int:
        context = info.context
        return await context.services.projects.visible_resource_count(
            context.access, self.model
        )

    @strawberry.field(
        description=(
            "The collection this one was last promoted from, "
            "when the viewer may read it."
        )
    )
    async def promoted_from(self, info: Info) -> ServiceCollectionType | None:
        if self.model.promoted_from_id is None:
            return None
        source = await info.context.loaders.collection.load(self.model.promoted_from_id)
        return ServiceCollectionType.from_model(source) if source else None

    @strawberry.field
    async def workflows(
        self, info: Info
    ) -> list[
        Annotated[WorkflowNode, strawberry.lazy("gql_service.api.workflow_nodes")]
    ]:
        from gql_service.api.workflow_nodes import WorkflowNode

        found = await info.context.loaders.workflows.load(self.model.id)
        return [WorkflowNode.from_model(workflow) for workflow in found]

    @strawberry.field
    async def workflow_runs(
        self,
        info: Info,
        status: list[RunStatus] | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Annotated[
        WorkflowRunConnection, strawberry.lazy("gql_service.api.workflow_types")
    ]:
        from gql_service.api.workflow_nodes import run_page
        from gql_service.services.workflows import RunFilter

        wanted = RunFilter(collection_id=self.model.id, statuses=status or [])
        return await run_page(info, wanted, first, after)

    @strawberry.field(
        description=(
            "Monthly cost of the collection's resources; null without a Vultr API key."
        )
    )
    async def cost(
        self, info: Info
    ) -> Annotated[CostSummary, strawberry.lazy("gql_service.api.vultr_types")] | None:
        from gql_service.api.vultr_types import cost_of

        return await cost_of(info, [self.model])

    @strawberry.field(description="This collection's audit trail, newest first.")
    async def events(
        self,
        info: Info,
        types: list[EventType] | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Annotated[EventConnection, strawberry.lazy("gql_service.api.events")]:
        from gql_service.api.events import event_page
        from gql_service.services.audit import AuditFilter

        wanted = AuditFilter(collection_id=self.model.id, types=types)
        return await event_page(info, wanted, first, after)

    @strawberry.field
    async def resources(
        self,
        info: Info,
        filter: ResourceFilter | None = None,
        first: int | None = 100,
        after: str | None = None,
    ) -> ResourceConnection:
        limit = page_size(first, 100)
        after_id = decode_cursor(after, "resource", 1)[0] if after else None
        query = ResourceQuery(
            resource_types=filter.resource_types if filter else None,
            tags=[models.Tag(t.key, t.value) for t in filter.tags or []]
            if filter
            else None,
            tag_keys=filter.tag_keys if filter else None,
        )
        context = info.context
        service = context.services.resources
        # Through a loader: sibling collections' pages are read together.
        found = await context.loaders.resource_pages.load(
            PageRequest(
                self.model.id,
                self.model.resource_count,
                await service.scoped(context.access, self.model, query),
                after_id,
                limit + 1,
            )
        )
        page = found[:limit]
        cursors = [encode_cursor("resource", r.id) for r in page]
        role = await context.access.collection_role(self.model)
        nodes = [ResourceReferenceType.from_model(r, self.model, role) for r in page]

        async def count() -> int:
            return await service.count_visible(context.access, self.model, query)

        return ResourceConnection(
            edges=[
                ResourceEdge(cursor=c, node=n)
                for c, n in zip(cursors, nodes, strict=True)
            ],
            nodes=nodes,
            page_info=page_info(cursors, len(found) > limit, after),
            counter=count,
        )


@strawberry.type
class ServiceCollectionEdge:
    cursor: str
    node: ServiceCollectionType


@strawberry.type
class ServiceCollectionConnection(Counted):
    edges: list[ServiceCollectionEdge]
    nodes: list[ServiceCollectionType]
    page_info: PageInfo


def collection_connection(
    found: list[models.ServiceCollection],
    limit: int,
    after: str | None,
    counter: Counter,
) -> ServiceCollectionConnection:
    page = found[:limit]
    cursors = [encode_cursor("collection", c.name, c.id) for c in page]
    nodes = [ServiceCollectionType.from_model(c) for c in page]
    return ServiceCollectionConnection(
        edges=[
            ServiceCollectionEdge(cursor=c, node=n)
            for c, n in zip(cursors, nodes, strict=True)
        ],
        nodes=nodes,
        page_info=page_info(cursors, len(found) > limit, after),
        counter=counter,
    )


async def list_collections(
    info: Info, query: CollectionQuery, first: int | None, after: str | None
) -> ServiceCollectionConnection:
    limit = page_size(first, 20)
    after_key = decode_cursor(after, "collection", 2) if after else None
    context = info.context
    catalog = context.services.catalog
    found = await catalog.list_visible(
        context.access,
        query,
        (after_key[0], after_key[1]) if after_key else None,
        limit + 1,
    )

    async def count() -> int:
        return await catalog.count_visible(context.access, query)

    return collection_connection(found, limit, after, count)


@strawberry.type
class EnvironmentStage:
    project_model: strawberry.Private[models.Project]
    name: str
    position: int = strawberry.field(
        description="0-based place on the project's promotion path."
    )
    is_standard: bool = strawberry.field(
        description="True for development, testing, staging and production."
    )

    @strawberry.field(
        description="Set when promotions into this environment need approval."
    )
    def protection(
        self,
    ) -> (
        Annotated[
            EnvironmentProtection, strawberry.lazy("gql_service.api.workflow_types")
        ]
        | None
    ):
        from gql_service.api.workflow_types import EnvironmentProtection

        found = self.project_model.protections.get(self.name)
        if found is None:
            return None
        return EnvironmentProtection(
            approvers=list(found.approvers),
            required_approvals=found.required_approvals,
            prevent_self_review=found.prevent_self_review,
        )

    async def _visible(self, info: Info) -> list[models.ServiceCollection]:
        loaded = await info.context.loaders.project_collections.load(
            self.project_model.id
        )
        return [c for c in loaded if c.environment == self.name]

    @strawberry.field(
        description=(
            "The project's collections in this environment "
            "that the viewer may read, by name."
        )
    )
    async def collections(
        self, info: Info, first: int | None = 100
    ) -> list[ServiceCollectionType]:
        limit = page_size(first, 100)
        return [
            ServiceCollectionType.from_model(c)
            for c in (await self._visible(info))[:limit]
        ]

    @strawberry.field
    async def cost(
        self, info: Info
    ) -> Annotated[CostSummary, strawberry.lazy("gql_service.api.vultr_types")] | None:
        from gql_service.api.vultr_types import cost_of

        if info.context.services.vultr is None:
            return None
        return await cost_of(info, await self._visible(info))

    async def _counts(self, info: Info) -> tuple[int, int]:
        context = info.context
        counters = await context.loaders.stage_counts.load(self.project_model.id)
        visible = await context.loaders.project_collections.load(self.project_model.id)
        return await context.services.projects.stage_counts(
            context.access,
            self.project_model,
            self.name,
            counters.get(self.name, models.EnvironmentCounts()),
            visible,
        )

    @strawberry.field
    async def collection_count(self, info: Info) -> int:
        return (await self._counts(info))[0]

    @strawberry.field
    async def resource_count(self, info: Info) -> int:
        return (await self._counts(info))[1]


@strawberry.type(name="Project")
class ProjectType(Node):
    model: strawberry.Private[models.Project]
    id: strawberry.ID
    name: str = strawberry.field(
        description="Slug, unique: lowercase letters, digits and '-', 1-63 characters."
    )
    description: str
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    version: int

    @classmethod
    def from_model(cls, model: models.Project) -> ProjectType:
        return cls(
            model=model,
            id=strawberry.ID(encode_id("Project", model.id)),
            name=model.name,
            description=model.description,
            created_at=model.created_at,
            updated_at=model.updated_at,
            created_by=model.created_by,
            version=model.version,
        )

    @strawberry.field(
        description=(
            "The promotion path, in order "
            "(default: development, testing, staging, production)."
        )
    )
    def environments(self) -> list[EnvironmentStage]:
        return [
            EnvironmentStage(
                project_model=self.model,
                name=name,
                position=position,
                is_standard=name in STANDARD_ENVIRONMENTS,
            )
            for position, name in enumerate(self.model.environments)
        ]

    @strawberry.field
    def owners(self) -> list[str]:
        return self.model.subjects_with(Role.OWNER)

    @strawberry.field
    def editors(self) -> list[str]:
        return self.model.subjects_with(Role.EDITOR)

    @strawberry.field
    def viewers(self) -> list[str]:
        return self.model.subjects_with(Role.VIEWER)

    @strawberry.field(
        description="The viewer's role on the project itself; null when it has none."
    )
    def my_role(self, info: Info) -> Role | None:
        return info.context.access.project_role(self.model)

    @strawberry.field
    async def cost(
        self, info: Info
    ) -> Annotated[CostSummary, strawberry.lazy("gql_service.api.vultr_types")] | None:
        from gql_service.api.vultr_types import cost_of

        if info.context.services.vultr is None:
            return None
        loaded = await info.context.loaders.project_collections.load(self.model.id)
        return await cost_of(info, loaded)

    @strawberry.field
    async def collections(
        self,
        info: Info,
        environment: str | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> ServiceCollectionConnection:
        query = CollectionQuery(project_ids=[self.model.id], environment=environment)
        return await list_collections(info, query, first, after)


@strawberry.type
class ProjectEdge:
    cursor: str
    node: ProjectType


@strawberry.type
class ProjectConnection(Counted):
    edges: list[ProjectEdge]
    nodes: list[ProjectType]
    page_info: PageInfo


@strawberry.type
class AddResourceResult:
    resource_type: ResourceType
    resource_id: str
    status: AddStatus
    message: str | None
    resource: ResourceReferenceType | None


@strawberry.type(name="Promotion")
class PromotionType(Node):
    model: strawberry.Private[models.Promotion]
    id: strawberry.ID
    project: str
    name: str = strawberry.field(
        description="Collection name, the same in both environments."
    )
    source_environment: str
    target_environment: str
    status: PromotionStatus
    created_target: bool = strawberry.field(
        description="True when the promotion created the target collection."
    )
    include_resources: bool
    include_workflows: bool
    changes: list[FieldChange] = strawberry.field(
        description="What the promotion changes (or changed) in the target."
    )
    actor: str
    reason: str | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_model(cls, model: models.Promotion) -> PromotionType:
        return cls(
            model=model,
            id=strawberry.ID(encode_id("Promotion", model.id)),
            project=model.project,
            name=model.name,
            source_environment=model.source_environment,
            target_environment=model.target_environment,
            status=model.status,
            created_target=model.created_target,
            include_resources=model.include_resources,
            include_workflows=model.include_workflows,
            changes=FieldChange.many(model.changes),
            actor=model.actor,
            reason=model.reason,
            created_at=model.created_at,
            completed_at=model.completed_at,
        )

    @strawberry.field
    def approvals(
        self,
    ) -> list[
        Annotated[ApprovalDecision, strawberry.lazy("gql_service.api.workflow_types")]
    ]:
        from gql_service.api.workflow_types import ApprovalDecision
        from gql_service.storage.workflow_documents import decision_from_doc

        return [
            ApprovalDecision.from_model(decision_from_doc(doc))
            for doc in self.model.approvals
        ]

    @strawberry.field
    async def source(self, info: Info) -> ServiceCollectionType | None:
        return await decided_collection(
            info, self.model.source_id, self.model.approvers
        )

    @strawberry.field
    async def target(self, info: Info) -> ServiceCollectionType | None:
        if not self.model.target_id:
            return None
        return await decided_collection(
            info, self.model.target_id, self.model.approvers
        )


async def decided_collection(
    info: Info, collection_id: str, approvers: Sequence[str]
) -> ServiceCollectionType | None:
    """A collection for its readers, and for the approvers of what it decides.

    Approvers named on a run step or an environment protection may read the
    collection of the run or promotion they decide on, without a role on it.
    """
    context = info.context
    found = await context.loaders.collection.load(collection_id)
    if found is None and not context.access.principal.identities.isdisjoint(approvers):
        found = await context.services.store.collections.get(collection_id)
    return ServiceCollectionType.from_model(found) if found else None


@strawberry.type
class PromotionEdge:
    cursor: str
    node: PromotionType


@strawberry.type
class PromotionConnection(Counted):
    edges: list[PromotionEdge]
    nodes: list[PromotionType]
    page_info: PageInfo
