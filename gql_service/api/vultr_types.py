"""Vultr in GraphQL: live state, cost and drift. Null without an API key."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as PyDecimal
from decimal import InvalidOperation

import strawberry

from gql_service.api.context import Info
from gql_service.domain.models import ResourceReference, ResourceType, ServiceCollection
from gql_service.errors import BadUserInputError, UpstreamUnavailableError
from gql_service.vultr import cost as vultr_cost
from gql_service.vultr import drift as vultr_drift
from gql_service.vultr.resources import LiveState as VultrLiveState


def _parse_decimal(value: object) -> PyDecimal:
    try:
        return PyDecimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise BadUserInputError("A Decimal is a number written as a string.") from exc


Decimal = strawberry.scalar(
    name="Decimal",
    description='A decimal number serialized as a string ("12.50"), used for money.',
    serialize=lambda value: f"{value:.2f}",
    parse_value=_parse_decimal,
)


@strawberry.type
class LiveState:
    exists: bool = strawberry.field(
        description="False when Vultr answered that the resource does not exist."
    )
    label: str | None
    status: str | None
    power_status: str | None
    region: str | None
    plan: str | None
    monthly_cost: PyDecimal | None
    vultr_tags: list[str]
    checked_at: datetime

    @classmethod
    def from_model(cls, state: VultrLiveState) -> LiveState:
        return cls(
            exists=state.exists,
            label=state.label,
            status=state.status,
            power_status=state.power_status,
            region=state.region,
            plan=state.plan,
            monthly_cost=state.monthly_cost,
            vultr_tags=list(state.vultr_tags),
            checked_at=state.checked_at,
        )


@strawberry.type
class CostLine:
    resource_type: ResourceType
    count: int
    monthly_cost: PyDecimal


@strawberry.type
class CostSummary:
    monthly_cost: PyDecimal
    currency: str
    by_resource_type: list[CostLine]
    unknown_count: int = strawberry.field(
        description="Resources whose cost could not be determined."
    )

    @classmethod
    def from_model(cls, summary: vultr_cost.CostSummary) -> CostSummary:
        return cls(
            monthly_cost=summary.monthly_cost,
            currency=summary.currency,
            by_resource_type=[
                CostLine(
                    resource_type=line.resource_type,
                    count=line.count,
                    monthly_cost=line.monthly_cost,
                )
                for line in summary.by_resource_type
            ],
            unknown_count=summary.unknown_count,
        )


@strawberry.type
class DriftItem:
    resource_type: ResourceType
    resource_id: str
    kind: str = strawberry.field(
        description="MISSING_IN_VULTR, UNTRACKED_IN_VULTR or CHANGED."
    )
    detail: str | None


async def live_state(info: Info, resource: ResourceReference) -> LiveState | None:
    inventory = info.context.services.vultr
    if inventory is None:
        return None
    state = await info.context.loaders.live.load(
        (resource.resource_type, resource.resource_id)
    )
    return LiveState.from_model(state) if state is not None else None


async def cost_of(
    info: Info, collections: list[ServiceCollection]
) -> CostSummary | None:
    """Monthly cost of the resources the viewer sees in these collections."""
    inventory = info.context.services.vultr
    if inventory is None:
        return None
    access = info.context.access
    keys = []
    for collection in collections:
        resources = await info.context.loaders.collection_resources.load(collection.id)
        for resource in resources:
            if await access.resource_role(collection, resource) is not None:
                keys.append((resource.resource_type, resource.resource_id))
    try:
        summary = await inventory.cost_summary(keys)
    except UpstreamUnavailableError:
        raise
    return CostSummary.from_model(summary)


def drift_items(items: list[vultr_drift.DriftItem]) -> list[DriftItem]:
    return [
        DriftItem(
            resource_type=item.resource_type,
            resource_id=item.resource_id,
            kind=str(item.kind),
            detail=item.detail,
        )
        for item in items
    ]
