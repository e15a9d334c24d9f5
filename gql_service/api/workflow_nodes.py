"""WorkflowDefinition and WorkflowRun nodes, and their lists."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from gql_service.api.common import Node, page_info
from gql_service.api.context import Info
from gql_service.api.ids import decode_cursor, encode_cursor, encode_id, page_size
from gql_service.api.workflow_types import (
    Schedule,
    WorkflowAction,
    WorkflowConditions,
    WorkflowRunConnection,
    WorkflowRunEdge,
    WorkflowStep,
    action_type,
    sees_full_urls,
)
from gql_service.domain import workflows as wf
from gql_service.services.workflows import RunFilter

if TYPE_CHECKING:
    from gql_service.api.events import EventNode
    from gql_service.api.types import ServiceCollectionType


async def _collection(info: Info, collection_id: str) -> ServiceCollectionType | None:
    from gql_service.api.types import ServiceCollectionType

    found = await info.context.loaders.collection.load(collection_id)
    return ServiceCollectionType.from_model(found) if found else None


@strawberry.type(name="WorkflowDefinition")
class WorkflowNode(Node):
    model: strawberry.Private[wf.Workflow]
    id: strawberry.ID
    name: str
    description: str
    triggers: list[wf.WorkflowTrigger]
    schedule: Schedule | None
    conditions: WorkflowConditions
    permissions: list[str] = strawberry.field(
        description=(
            "Subjects allowed to trigger it by hand besides owners; "
            "empty means every editor."
        )
    )
    enabled: bool
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, workflow: wf.Workflow) -> WorkflowNode:
        schedule = workflow.schedule
        return cls(
            model=workflow,
            id=strawberry.ID(encode_id("WorkflowDefinition", workflow.id)),
            name=workflow.name,
            description=workflow.description,
            triggers=list(workflow.triggers),
            schedule=Schedule(cron=schedule.cron, timezone=schedule.timezone)
            if schedule
            else None,
            conditions=WorkflowConditions.from_model(workflow.conditions),
            permissions=list(workflow.permissions),
            enabled=workflow.enabled,
            next_run_at=workflow.next_run_at,
            created_at=workflow.created_at,
            updated_at=workflow.updated_at,
        )

    @strawberry.field
    async def collection(
        self, info: Info
    ) -> Annotated[ServiceCollectionType, strawberry.lazy("gql_service.api.types")]:
        found = await _collection(info, self.model.collection_id)
        if found is None:
            raise RuntimeError("workflow without a readable collection")
        return found

    @strawberry.field
    async def actions(self, info: Info) -> list[WorkflowAction]:
        full = await sees_full_urls(info, self.model.collection_id)
        return [action_type(action, full) for action in self.model.actions]

    @strawberry.field
    async def runs(
        self,
        info: Info,
        status: list[wf.RunStatus] | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> WorkflowRunConnection:
        wanted = RunFilter(statuses=status or [])
        return await run_page(info, wanted, first, after, workflow_id=self.model.id)


@strawberry.type(name="WorkflowRun")
class WorkflowRunNode(Node):
    model: strawberry.Private[wf.Run]
    id: strawberry.ID
    trigger: wf.WorkflowTrigger
    triggered_by: str | None = strawberry.field(
        description=(
            "Who started it: the actor of the triggering event, "
            "or null for the scheduler."
        )
    )
    input: JSON
    status: wf.RunStatus
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_model(cls, run: wf.Run) -> WorkflowRunNode:
        return cls(
            model=run,
            id=strawberry.ID(encode_id("WorkflowRun", run.id)),
            trigger=run.trigger,
            triggered_by=run.triggered_by,
            input=run.input,
            status=run.status,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )

    @strawberry.field
    async def workflow(self, info: Info) -> WorkflowNode | None:
        context = info.context
        found = await context.services.workflows.get_readable(
            context.access, self.model.workflow_id
        )
        return WorkflowNode.from_model(found) if found else None

    @strawberry.field
    async def collection(
        self, info: Info
    ) -> (
        Annotated[ServiceCollectionType, strawberry.lazy("gql_service.api.types")]
        | None
    ):
        from gql_service.api.types import decided_collection

        approvers = [
            subject
            for step in self.model.steps
            if isinstance(step.action, wf.ApprovalAction)
            for subject in step.action.approvers
        ]
        return await decided_collection(info, self.model.collection_id, approvers)

    @strawberry.field(
        description=(
            "The event that started the run; null for MANUAL and SCHEDULED runs."
        )
    )
    async def event(
        self, info: Info
    ) -> Annotated[EventNode, strawberry.lazy("gql_service.api.events")] | None:
        from gql_service.api.events import EventNode

        if self.model.event_seq is None:
            return None
        context = info.context
        found = await context.services.audit.get(context.access, self.model.event_seq)
        return EventNode.from_model(found) if found else None

    @strawberry.field
    async def steps(self, info: Info) -> list[WorkflowStep]:
        full = await sees_full_urls(info, self.model.collection_id)
        return [WorkflowStep.from_model(step, full) for step in self.model.steps]


async def run_page(
    info: Info,
    wanted: RunFilter,
    first: int | None,
    after: str | None,
    *,
    workflow_id: str | None = None,
) -> WorkflowRunConnection:
    limit = page_size(first, 20)
    after_id = decode_cursor(after, "run", 1)[0] if after else None
    context = info.context
    service = context.services.workflows
    found = await service.list_runs(
        context.access, wanted, workflow_id=workflow_id, after=after_id, limit=limit + 1
    )
    page = found[:limit]
    cursors = [encode_cursor("run", run.id) for run in page]
    nodes = [WorkflowRunNode.from_model(run) for run in page]

    async def count() -> int:
        return await service.count_runs(context.access, wanted, workflow_id=workflow_id)

    return WorkflowRunConnection(
        edges=[
            WorkflowRunEdge(cursor=c, node=n)
            for c, n in zip(cursors, nodes, strict=True)
        ],  # type: ignore[arg-type]
        nodes=nodes,  # type: ignore[arg-type]
        page_info=page_info(cursors, len(found) > limit, after),
        counter=count,
    )


WorkflowRun = WorkflowRunNode
