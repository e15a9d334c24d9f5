"""Where each ResourceType lives in Vultr and how to read its live fields.

Vultr names the same idea differently per kind: a firewall group's or a
VPC's "label" is its ``description``, an SSH key's is its ``name``, a
domain's is the domain itself; instances and bare metal carry a ``tags``
list while managed databases carry a single ``tag`` string. The table below
absorbs those differences so the rest of the service reads one shape.

A type without an entry (DNS_RECORD: records are listed per domain, and a
reference does not name its domain) cannot be looked up: its live state is
None and the caller reports it as unknown, never as missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from gql_service.domain.models import ResourceType
from gql_service.vultr.endpoints import VultrKind


@dataclass(frozen=True, slots=True)
class LiveState:
    exists: bool
    checked_at: datetime
    label: str | None = None
    status: str | None = None
    power_status: str | None = None
    region: str | None = None
    plan: str | None = None
    monthly_cost: Decimal | None = None
    vultr_tags: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """How one ResourceType is found and read; None fields are not offered."""

    kind: VultrKind
    label_field: str | None = "label"
    status_field: str | None = "status"
    power_field: str | None = None
    region_field: str | None = "region"
    plan_field: str | None = None


SPECS: dict[ResourceType, ResourceSpec] = {
    ResourceType.INSTANCE: ResourceSpec(
        VultrKind.INSTANCES, power_field="power_status", plan_field="plan"
    ),
    ResourceType.BARE_METAL: ResourceSpec(VultrKind.BARE_METALS, plan_field="plan"),
    ResourceType.KUBERNETES_CLUSTER: ResourceSpec(VultrKind.KUBERNETES_CLUSTERS),
    ResourceType.LOAD_BALANCER: ResourceSpec(VultrKind.LOAD_BALANCERS),
    ResourceType.BLOCK_STORAGE: ResourceSpec(VultrKind.BLOCKS),
    ResourceType.OBJECT_STORAGE: ResourceSpec(VultrKind.OBJECT_STORAGE),
    ResourceType.MANAGED_DATABASE: ResourceSpec(VultrKind.DATABASES, plan_field="plan"),
    ResourceType.DOMAIN: ResourceSpec(
        VultrKind.DOMAINS, label_field="domain", status_field=None, region_field=None
    ),
    ResourceType.FIREWALL_GROUP: ResourceSpec(
        VultrKind.FIREWALLS,
        label_field="description",
        status_field=None,
        region_field=None,
    ),
    ResourceType.VPC: ResourceSpec(
        VultrKind.VPCS, label_field="description", status_field=None
    ),
    ResourceType.VPC2: ResourceSpec(
        VultrKind.VPC2, label_field="description", status_field=None
    ),
    ResourceType.RESERVED_IP: ResourceSpec(VultrKind.RESERVED_IPS, status_field=None),
    ResourceType.SNAPSHOT: ResourceSpec(
        VultrKind.SNAPSHOTS, label_field="description", region_field=None
    ),
    ResourceType.SSH_KEY: ResourceSpec(
        VultrKind.SSH_KEYS, label_field="name", status_field=None, region_field=None
    ),
    ResourceType.STARTUP_SCRIPT: ResourceSpec(
        VultrKind.STARTUP_SCRIPTS,
        label_field="name",
        status_field=None,
        region_field=None,
    ),
    ResourceType.CONTAINER_REGISTRY: ResourceSpec(
        VultrKind.REGISTRIES, label_field="name", status_field=None
    ),
    # A pull zone serves from many regions; it has no single one.
    ResourceType.CDN: ResourceSpec(VultrKind.CDN_PULL_ZONES, region_field=None),
}

# Kinds whose items can carry the collection tag (see drift.py).
TAGGABLE_TYPES: tuple[ResourceType, ...] = (
    ResourceType.INSTANCE,
    ResourceType.BARE_METAL,
    ResourceType.MANAGED_DATABASE,
)


def spec_for(resource_type: ResourceType) -> ResourceSpec | None:
    """The lookup recipe, or None for a type Vultr cannot look up by id alone."""
    return SPECS.get(resource_type)


def read_tags(item: dict[str, Any]) -> list[str]:
    """Vultr tags: the ``tags`` list, plus the older single ``tag`` string."""
    tags = [tag for tag in item.get("tags") or [] if isinstance(tag, str)]
    single = item.get("tag")
    if isinstance(single, str) and single and single not in tags:
        tags.append(single)
    return tags


def read_label(spec: ResourceSpec, item: dict[str, Any]) -> str | None:
    return _text(item, spec.label_field)


def read_region(spec: ResourceSpec, item: dict[str, Any]) -> str | None:
    # Databases answer upper case ("EWR"); every other kind lower case.
    region = _text(item, spec.region_field)
    return region.lower() if region else None


def live_state(
    spec: ResourceSpec,
    item: dict[str, Any],
    checked_at: datetime,
    monthly_cost: Decimal | None,
) -> LiveState:
    return LiveState(
        exists=True,
        checked_at=checked_at,
        label=read_label(spec, item),
        status=_text(item, spec.status_field),
        power_status=_text(item, spec.power_field),
        region=read_region(spec, item),
        plan=_text(item, spec.plan_field),
        monthly_cost=monthly_cost,
        vultr_tags=read_tags(item),
    )


def missing_state(checked_at: datetime) -> LiveState:
    return LiveState(exists=False, checked_at=checked_at)


def _text(item: dict[str, Any], name: str | None) -> str | None:
    if name is None:
        return None
    value = item.get(name)
    if value is None or value == "":
        return None
    return str(value)
