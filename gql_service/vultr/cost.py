"""Monthly cost of Vultr resources, in USD before tax; never guessed.

What a resource costs here:

- instances and bare metal: their plan's ``monthly_cost``, or the plan's
  ``location_cost`` for the resource's region when the catalogue has one.
  Add-ons are not included: automatic backups, DDoS protection, bandwidth
  overage, stored snapshots.
- managed databases: their plan's price from ``/databases/plans``.
- Kubernetes clusters: each node pool's plan price times ``node_quantity``;
  a cluster with HA control planes (billed on top) is unknown.
- block storage: the monthly ``cost`` Vultr reports for the block; when
  absent, ``size_gb`` times the per-GB price of its ``block_type`` below.
- load balancers: ``nodes`` times the per-node price below.
- object storage: the ``price`` of its tier as Vultr reports it.
- container registries: ``metadata.subscription.billing.monthly_price``.
- SSH keys, startup scripts, firewall groups, VPCs and DNS domains are free.

Anything else (reserved IPs, snapshots, CDN pull zones, DNS records, a plan
missing from the catalogue, a resource Vultr does not have) is unknown: it
is left out of the total and counted in ``unknown_count``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from gql_service.domain.models import ResourceType

CURRENCY = "USD"
CENT = Decimal("0.01")

# Vultr's published price per load balancer node and month; the API does
# not report it. Source: https://www.vultr.com/pricing/ ("Load Balancers",
# $10.00/mo), as published when this was written.
LOAD_BALANCER_NODE_MONTHLY_USD = Decimal("10.00")

# Per GB and month by block_type, used only when a block lacks its own
# ``cost``. Source: https://www.vultr.com/pricing/ ("Block Storage": HDD
# $0.025/GB, NVMe $0.10/GB), as published when this was written.
BLOCK_MONTHLY_USD_PER_GB: dict[str, Decimal] = {
    "storage_opt": Decimal("0.025"),
    "high_perf": Decimal("0.10"),
}

FREE_TYPES = frozenset(
    {
        ResourceType.SSH_KEY,
        ResourceType.STARTUP_SCRIPT,
        ResourceType.FIREWALL_GROUP,
        ResourceType.VPC,
        ResourceType.VPC2,
        ResourceType.DOMAIN,
    }
)

# Types whose cost needs the plan catalogue.
PLAN_PRICED_TYPES = frozenset(
    {
        ResourceType.INSTANCE,
        ResourceType.BARE_METAL,
        ResourceType.MANAGED_DATABASE,
        ResourceType.KUBERNETES_CLUSTER,
    }
)


@dataclass(frozen=True, slots=True)
class CostLine:
    resource_type: ResourceType
    # Resources of this type whose cost is known and included.
    count: int
    monthly_cost: Decimal


@dataclass(frozen=True, slots=True)
class CostSummary:
    monthly_cost: Decimal
    by_resource_type: list[CostLine]
    unknown_count: int
    currency: str = CURRENCY


@dataclass(frozen=True, slots=True)
class PlanPrice:
    monthly_cost: Decimal
    by_region: dict[str, Decimal] = field(default_factory=dict)

    def in_region(self, region: str | None) -> Decimal:
        if region and region.lower() in self.by_region:
            return self.by_region[region.lower()]
        return self.monthly_cost


class PlanCatalog:
    """Plan id -> price, from the raw items of Vultr's plan catalogues."""

    def __init__(self, prices: dict[str, PlanPrice]) -> None:
        self.prices = prices

    @classmethod
    def from_items(cls, items: Iterable[dict[str, Any]]) -> PlanCatalog:
        prices: dict[str, PlanPrice] = {}
        for item in items:
            plan_id = item.get("id")
            cost = to_decimal(item.get("monthly_cost"))
            if isinstance(plan_id, str) and cost is not None:
                prices[plan_id] = PlanPrice(cost, _location_costs(item))
        return cls(prices)

    def monthly(self, plan_id: object, region: str | None = None) -> Decimal | None:
        price = self.prices.get(plan_id) if isinstance(plan_id, str) else None
        return price.in_region(region) if price else None


def to_decimal(value: object) -> Decimal | None:
    """A non-negative JSON number as a Decimal (a float through its repr)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def monthly_cost(
    resource_type: ResourceType, item: dict[str, Any], plans: PlanCatalog
) -> Decimal | None:
    """What one existing Vultr resource costs a month, or None when unknown."""
    if resource_type in FREE_TYPES:
        return money(Decimal(0))
    reader = _READERS.get(resource_type)
    cost = reader(item, plans) if reader else None
    return money(cost) if cost is not None else None


def summarize(costs: Iterable[tuple[ResourceType, Decimal | None]]) -> CostSummary:
    """One line per type with a known cost; unknown costs are only counted."""
    totals: dict[ResourceType, Decimal] = {}
    counts: dict[ResourceType, int] = {}
    unknown = 0
    for resource_type, cost in costs:
        if cost is None:
            unknown += 1
            continue
        totals[resource_type] = totals.get(resource_type, Decimal(0)) + cost
        counts[resource_type] = counts.get(resource_type, 0) + 1
    lines = [
        CostLine(resource_type, counts[resource_type], money(totals[resource_type]))
        for resource_type in ResourceType
        if resource_type in totals
    ]
    total = money(sum(totals.values(), Decimal(0)))
    return CostSummary(
        monthly_cost=total, by_resource_type=lines, unknown_count=unknown
    )


def _plan_cost(item: dict[str, Any], plans: PlanCatalog) -> Decimal | None:
    region = item.get("region")
    return plans.monthly(item.get("plan"), region if isinstance(region, str) else None)


def _kubernetes_cost(item: dict[str, Any], plans: PlanCatalog) -> Decimal | None:
    pools = item.get("node_pools")
    if item.get("ha_controlplanes") is True or not isinstance(pools, list):
        return None
    region = item.get("region") if isinstance(item.get("region"), str) else None
    total = Decimal(0)
    for pool in pools:
        if not isinstance(pool, dict):
            return None
        quantity = _count(pool.get("node_quantity"))
        price = plans.monthly(pool.get("plan"), region)
        if price is None or quantity is None:
            return None
        total += price * quantity
    return total


def _block_cost(item: dict[str, Any], _plans: PlanCatalog) -> Decimal | None:
    reported = to_decimal(item.get("cost"))
    if reported is not None:
        return reported
    per_gb = BLOCK_MONTHLY_USD_PER_GB.get(str(item.get("block_type")))
    size = to_decimal(item.get("size_gb"))
    return per_gb * size if per_gb is not None and size is not None else None


def _load_balancer_cost(item: dict[str, Any], _plans: PlanCatalog) -> Decimal | None:
    nodes = _count(item.get("nodes"))
    if nodes is None or nodes < 1:
        return None
    return LOAD_BALANCER_NODE_MONTHLY_USD * nodes


def _object_storage_cost(item: dict[str, Any], _plans: PlanCatalog) -> Decimal | None:
    tier = item.get("tier")
    return to_decimal(tier.get("price")) if isinstance(tier, dict) else None


def _registry_cost(item: dict[str, Any], _plans: PlanCatalog) -> Decimal | None:
    billing: Any = item.get("metadata")
    for key in ("subscription", "billing"):
        billing = billing.get(key) if isinstance(billing, dict) else None
    return (
        to_decimal(billing.get("monthly_price")) if isinstance(billing, dict) else None
    )


def _location_costs(item: dict[str, Any]) -> dict[str, Decimal]:
    locations = item.get("location_cost")
    if not isinstance(locations, dict):
        return {}
    by_region: dict[str, Decimal] = {}
    for region, prices in locations.items():
        cost = (
            to_decimal(prices.get("monthly_cost")) if isinstance(prices, dict) else None
        )
        if cost is not None:
            by_region[str(region).lower()] = cost
    return by_region


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


_READERS = {
    ResourceType.INSTANCE: _plan_cost,
    ResourceType.BARE_METAL: _plan_cost,
    ResourceType.MANAGED_DATABASE: _plan_cost,
    ResourceType.KUBERNETES_CLUSTER: _kubernetes_cost,
    ResourceType.BLOCK_STORAGE: _block_cost,
    ResourceType.LOAD_BALANCER: _load_balancer_cost,
    ResourceType.OBJECT_STORAGE: _object_storage_cost,
    ResourceType.CONTAINER_REGISTRY: _registry_cost,
}
