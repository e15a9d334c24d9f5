"""Events in GraphQL: the audit log, a collection's trail and the live feed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gql_service.api.common import (
    Counted,
    FieldChange,
    Node,
    PageInfo,
    page_info,
)
from gql_service.api.context import Info
from gql_service.api.ids import (
    decode_event_cursor,
    decode_id,
    encode_event_cursor,
    encode_id,
    page_size,
)
from gql_service.api.types import (
    PromotionType,
    ResourceReferenceType,
    ServiceCollectionType,
)
from gql_service.errors import BadUserInputError, SubscriptionOverflowError
from gql_service.events.hub import EventFilter as FeedFilter
from gql_service.events.model import Event, EventType
from gql_service.services.audit import AuditFilter
from gql_service.storage.documents import resource_from_doc

if TYPE_CHECKING:
    from gql_service.api.workflow_nodes import WorkflowRunNode

EventTypeEnum = strawberry.enum(EventType, name="EventType")


@strawberry.type(name="Event")
class EventNode(Node):
    model: strawberry.Private[Event]
    id: strawberry.ID
    cursor: str = strawberry.field(
        description="Opaque and ordered; pass it as `after` to resume a feed."
    )
    type: EventType
    occurred_at: datetime
    actor: str | None = strawberry.field(
        description=(
            "The subject whose request caused the event; null for the scheduler."
        )
    )
    project: str
    environment: str | None
    collection_id: strawberry.ID | None
    collection_name: str | None
    changes: list[FieldChange]

    @classmethod
    def from_model(cls, event: Event) -> EventNode:
        return cls(
            model=event,
            id=strawberry.ID(encode_id("Event", str(event.seq))),
            cursor=encode_event_cursor(event.seq),
            type=event.type,
            occurred_at=event.occurred_at,
            actor=event.actor,
            project=event.project,
            environment=event.environment,
            collection_id=(
                strawberry.ID(encode_id("ServiceCollection", event.collection_id))
                if event.collection_id
                else None
            ),
            collection_name=event.collection_name,
            changes=FieldChange.many(event.changes),
        )

    @strawberry.field(
        description=(
            "The collection as it is now; null once deleted or when the viewer "
            "may not read it."
        )
    )
    async def collection(self, info: Info) -> ServiceCollectionType | None:
        if self.model.collection_id is None:
            return None
        found = await info.context.loaders.collection.load(self.model.collection_id)
        return ServiceCollectionType.from_model(found) if found else None

    @strawberry.field(
        description="The resource as it was at the time of a RESOURCE_* event."
    )
    async def resource(self, info: Info) -> ResourceReferenceType | None:
        if not self.model.resource:
            return None
        snapshot = resource_from_doc(self.model.resource)
        collection = None
        if self.model.collection_id:
            collection = await info.context.loaders.collection.load(
                self.model.collection_id
            )
        return ResourceReferenceType.from_model(snapshot, collection)

    @strawberry.field
    async def workflow_run(
        self, info: Info
    ) -> (
        Annotated[WorkflowRunNode, strawberry.lazy("gql_service.api.workflow_nodes")]
        | None
    ):
        from gql_service.api.workflow_nodes import WorkflowRunNode

        if self.model.run_id is None:
            return None
        context = info.context
        found = await context.services.workflows.get_run(
            context.access, self.model.run_id
        )
        return WorkflowRunNode.from_model(found) if found else None

    @strawberry.field
    async def promotion(self, info: Info) -> PromotionType | None:
        if self.model.promotion_id is None:
            return None
        context = info.context
        found = await context.services.promotions.get_readable(
            context.access, self.model.promotion_id
        )
        return PromotionType.from_model(found) if found else None


@strawberry.type
class EventEdge:
    cursor: str
    node: EventNode


@strawberry.type
class EventConnection(Counted):
    edges: list[EventEdge]
    nodes: list[EventNode]
    page_info: PageInfo


@strawberry.input
class EventFilter:
    project: str | None = None
    environment: str | None = None
    collection_id: strawberry.ID | None = None
    actor: str | None = None
    types: list[EventType] | None = None
    since: datetime | None = None
    until: datetime | None = None


async def event_page(
    info: Info, wanted: AuditFilter, first: int | None, after: str | None
) -> EventConnection:
    limit = page_size(first, 50)
    before = decode_event_cursor(after) if after else None
    context = info.context
    audit = context.services.audit
    found = await audit.list(context.access, wanted, before, limit + 1)
    page = found[:limit]
    nodes = [EventNode.from_model(event) for event in page]
    cursors = [node.cursor for node in nodes]

    async def count() -> int:
        return await audit.count(context.access, wanted)

    return EventConnection(
        edges=[
            EventEdge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)
        ],
        nodes=nodes,
        page_info=page_info(cursors, len(found) > limit, after),
        counter=count,
    )


def audit_filter(event_filter: EventFilter | None) -> AuditFilter:
    if event_filter is None:
        return AuditFilter()
    if (
        event_filter.since
        and event_filter.until
        and event_filter.since > event_filter.until
    ):
        raise BadUserInputError("since must not be after until.", field="since")
    return AuditFilter(
        project=event_filter.project,
        environment=event_filter.environment,
        collection_id=(
            decode_id(event_filter.collection_id, "ServiceCollection", "collectionId")
            if event_filter.collection_id
            else None
        ),
        actor=event_filter.actor,
        types=event_filter.types,
        since=event_filter.since,
        until=event_filter.until,
    )


@strawberry.type
class EventSubscriptions:
    @strawberry.subscription(
        description=(
            "Change events the subscriber may read, as they happen. With `after`, "
            "the events recorded after that cursor are replayed first, in order, "
            "with no gap and no duplicate between the replay and the live feed."
        )
    )
    async def collection_events(
        self,
        info: Info,
        project: str | None = None,
        environment: str | None = None,
        collection_id: strawberry.ID | None = None,
        types: list[EventType] | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[EventNode, None]:
        context = info.context
        hub = context.services.hub
        start = decode_event_cursor(after) if after else None
        if start is not None and start > await context.services.store.events.head():
            raise BadUserInputError(
                "after is not a cursor of this feed.", field="after"
            )
        wanted = FeedFilter(
            project=project,
            environment=environment,
            collection_id=(
                decode_id(collection_id, "ServiceCollection", "collectionId")
                if collection_id
                else None
            ),
            types=frozenset(types) if types else None,
        )
        stream = hub.stream(context.access.principal, wanted, start)
        try:
            async for event in stream:
                # The connection's context outlives one event: read afresh.
                context.forget()
                yield EventNode.from_model(event)
        except SubscriptionOverflowError as exc:
            last = exc.extensions["lastCursor"]
            raise SubscriptionOverflowError(
                exc.message, lastCursor=encode_event_cursor(int(last))
            ) from None
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
