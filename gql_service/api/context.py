"""The context of an operation: who asks, the services, and its loaders."""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info as StrawberryInfo

from gql_service.auth.principal import Principal
from gql_service.domain.models import (
    EnvironmentCounts,
    Project,
    ResourceReference,
    ResourceType,
    ServiceCollection,
)
from gql_service.domain.workflows import Workflow
from gql_service.errors import ServiceError
from gql_service.services.access import Access
from gql_service.services.registry import Services
from gql_service.storage.resources import PageRequest
from gql_service.vultr.resources import LiveState

T = TypeVar("T")


@dataclass
class Loaders:
    """DataLoaders live for one request, so nothing leaks between principals."""

    project: DataLoader[str, Project | None]
    stage_counts: DataLoader[str, dict[str, EnvironmentCounts]]
    project_collections: DataLoader[str, list[ServiceCollection]]
    collection: DataLoader[str, ServiceCollection | None]
    workflows: DataLoader[str, list[Workflow]]
    collection_resources: DataLoader[str, list[ResourceReference]]
    resource_pages: DataLoader[PageRequest, list[ResourceReference]]
    live: DataLoader[tuple[ResourceType, str], LiveState | None]


def build_loaders(services: Services, access: Access) -> Loaders:
    store = services.store

    async def load_projects(ids: list[str]) -> list[Project | None]:
        found = {p.id: p for p in await store.projects.get_many(ids)}
        return [found.get(project_id) for project_id in ids]

    async def load_counts(ids: list[str]) -> list[dict[str, EnvironmentCounts]]:
        counts = await store.counts.for_projects(ids)
        grouped: dict[str, dict[str, EnvironmentCounts]] = {pid: {} for pid in ids}
        for (project_id, environment), value in counts.items():
            grouped[project_id][environment] = value
        return [grouped[project_id] for project_id in ids]

    async def load_project_collections(ids: list[str]) -> list[list[ServiceCollection]]:
        collections = await services.catalog.visible_in_projects(access, ids)
        grouped: dict[str, list[ServiceCollection]] = {pid: [] for pid in ids}
        for collection in collections:
            grouped[collection.project_id].append(collection)
        return [grouped[project_id] for project_id in ids]

    async def load_collections(ids: list[str]) -> list[ServiceCollection | None]:
        return await services.catalog.get_many_readable(access, ids)

    async def load_workflows(ids: list[str]) -> list[list[Workflow]]:
        found = await store.workflows.for_collections(ids)
        grouped: dict[str, list[Workflow]] = {cid: [] for cid in ids}
        for workflow in found:
            grouped[workflow.collection_id].append(workflow)
        return [grouped[cid] for cid in ids]

    async def load_resources(ids: list[str]) -> list[list[ResourceReference]]:
        found = await store.resources.list_for_collections(ids)
        grouped: dict[str, list[ResourceReference]] = {cid: [] for cid in ids}
        for resource in found:
            grouped[resource.collection_id].append(resource)
        return [grouped[cid] for cid in ids]

    async def load_resource_pages(
        requests: list[PageRequest],
    ) -> list[list[ResourceReference]]:
        return await store.resources.pages(requests)

    async def load_live(
        keys: list[tuple[ResourceType, str]],
    ) -> list[LiveState | BaseException | None]:
        inventory = services.vultr
        if inventory is None:
            return [None] * len(keys)
        try:
            states = await inventory.live_states_by_kind(keys)
        except ServiceError as exc:
            # The live field fails alone; every other field still answers.
            return [exc] * len(keys)
        # A kind whose list failed fails its own resources' live field only.
        return [states.get(key) for key in keys]

    return Loaders(
        project=DataLoader(load_fn=load_projects),
        stage_counts=DataLoader(load_fn=load_counts),
        project_collections=DataLoader(load_fn=load_project_collections),
        collection=DataLoader(load_fn=load_collections),
        workflows=DataLoader(load_fn=load_workflows),
        collection_resources=DataLoader(load_fn=load_resources),
        resource_pages=DataLoader(
            load_fn=load_resource_pages, cache_key_fn=page_request_key
        ),
        live=DataLoader(load_fn=load_live),  # type: ignore[arg-type]
    )


def page_request_key(request: PageRequest) -> tuple[Any, ...]:
    return (request.collection_id, *request.shape())


@dataclass(slots=True)
class OperationState:
    """What one operation has read and may reuse: roles and loaded records."""

    owner: Context
    access: Access | None = None
    loaders: Loaders | None = None


# The running operation's state. Strawberry runs each HTTP request, and each
# operation on a WebSocket, in a task of its own, and a task works on a copy
# of this variable: operations sharing a connection's Context never see (or
# drop) each other's caches.
current_operation: ContextVar[OperationState | None] = ContextVar(
    "current_operation", default=None
)


@dataclass
class Context:
    services: Services
    principal: Principal | None
    auth_error: Exception | None = None
    request: Any = None
    response: Any = None
    # The WebSocket connection_init payload, set by strawberry.
    connection_params: dict[str, Any] | None = None
    # Used outside any operation (strawberry's hooks before execution).
    _outside: OperationState | None = field(default=None, repr=False)

    def begin_operation(self) -> None:
        """Start the running operation with nothing cached (OperationScope)."""
        current_operation.set(OperationState(self))

    def _state(self) -> OperationState:
        state = current_operation.get()
        if state is not None and state.owner is self:
            return state
        if self._outside is None:
            self._outside = OperationState(self)
        return self._outside

    @property
    def access(self) -> Access:
        if self.principal is None:
            # The view refuses requests without a principal before execution;
            # reaching this is a bug, not a client error.
            raise RuntimeError("no principal in context")
        state = self._state()
        if state.access is None:
            state.access = Access(self.principal, self.services.store)
        return state.access

    @property
    def loaders(self) -> Loaders:
        state = self._state()
        if state.loaders is None:
            state.loaders = build_loaders(self.services, self.access)
        return state.loaders

    def forget(self) -> None:
        """Drop this operation's roles and loaded records, so later reads see
        the store: around each mutation (FreshReads) and before each
        subscription event. Reads already under way finish on the objects
        they started with and cannot put stale answers back."""
        state = self._state()
        state.access = None
        state.loaders = None


class FreshReads(FieldExtension):
    """Reads after a mutation see what it wrote, and its payload sees new roles.

    graphql-core runs a request's mutations one after another; each starts and
    ends with nothing cached, so a later mutation in the same request (or its
    payload) never answers from a page or a role read before a write.
    """

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        info.context.forget()
        try:
            return await next_(source, info, **kwargs)
        finally:
            info.context.forget()


def reads_fresh_around_each_field(cls: type[T]) -> type[T]:
    """Give every field of a root mutation type the FreshReads extension."""
    for definition in cls.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        if not any(isinstance(e, FreshReads) for e in definition.extensions):
            definition.extensions.append(FreshReads())
    return cls


class OperationScope(SchemaExtension):
    """Each operation starts with nothing cached and keeps its own caches."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.begin_operation()
        yield


Info = StrawberryInfo[Context, None]
