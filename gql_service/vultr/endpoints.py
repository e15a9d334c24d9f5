"""Vultr API v2 list endpoints, their envelopes and how their items are keyed.

A list answers ``{"<list_key>": [...], "meta": {"total": N, "links": {...}}}``
and a get answers ``{"<get_key>": {...}}``; container registries are the
exception and answer the bare object (govultr's tests show it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class VultrKind(StrEnum):
    """A resource kind Vultr can list; the value is its path under /v2."""

    INSTANCES = "instances"
    BARE_METALS = "bare-metals"
    LOAD_BALANCERS = "load-balancers"
    BLOCKS = "blocks"
    OBJECT_STORAGE = "object-storage"
    DATABASES = "databases"
    DOMAINS = "domains"
    FIREWALLS = "firewalls"
    VPCS = "vpcs"
    VPC2 = "vpc2"
    RESERVED_IPS = "reserved-ips"
    SNAPSHOTS = "snapshots"
    SSH_KEYS = "ssh-keys"
    STARTUP_SCRIPTS = "startup-scripts"
    REGISTRIES = "registries"
    KUBERNETES_CLUSTERS = "kubernetes/clusters"
    CDN_PULL_ZONES = "cdns/pull-zones"


@dataclass(frozen=True, slots=True)
class Endpoint:
    list_path: str
    list_key: str
    get_path: str
    # None: the get answers the bare object, without an envelope.
    get_key: str | None
    id_field: str = "id"


ENDPOINTS: dict[VultrKind, Endpoint] = {
    VultrKind.INSTANCES: Endpoint("/instances", "instances", "/instances", "instance"),
    VultrKind.BARE_METALS: Endpoint(
        "/bare-metals", "bare_metals", "/bare-metals", "bare_metal"
    ),
    VultrKind.LOAD_BALANCERS: Endpoint(
        "/load-balancers", "load_balancers", "/load-balancers", "load_balancer"
    ),
    VultrKind.BLOCKS: Endpoint("/blocks", "blocks", "/blocks", "block"),
    VultrKind.OBJECT_STORAGE: Endpoint(
        "/object-storage", "object_storages", "/object-storage", "object_storage"
    ),
    VultrKind.DATABASES: Endpoint("/databases", "databases", "/databases", "database"),
    # Domains are keyed by their name; they have no id.
    VultrKind.DOMAINS: Endpoint(
        "/domains", "domains", "/domains", "domain", id_field="domain"
    ),
    VultrKind.FIREWALLS: Endpoint(
        "/firewalls", "firewall_groups", "/firewalls", "firewall_group"
    ),
    VultrKind.VPCS: Endpoint("/vpcs", "vpcs", "/vpcs", "vpc"),
    VultrKind.VPC2: Endpoint("/vpc2", "vpcs", "/vpc2", "vpc"),
    VultrKind.RESERVED_IPS: Endpoint(
        "/reserved-ips", "reserved_ips", "/reserved-ips", "reserved_ip"
    ),
    VultrKind.SNAPSHOTS: Endpoint("/snapshots", "snapshots", "/snapshots", "snapshot"),
    VultrKind.SSH_KEYS: Endpoint("/ssh-keys", "ssh_keys", "/ssh-keys", "ssh_key"),
    VultrKind.STARTUP_SCRIPTS: Endpoint(
        "/startup-scripts", "startup_scripts", "/startup-scripts", "startup_script"
    ),
    # Listed under the plural, read one by one under the singular.
    VultrKind.REGISTRIES: Endpoint("/registries", "registries", "/registry", None),
    VultrKind.KUBERNETES_CLUSTERS: Endpoint(
        "/kubernetes/clusters", "vke_clusters", "/kubernetes/clusters", "vke_cluster"
    ),
    VultrKind.CDN_PULL_ZONES: Endpoint(
        "/cdns/pull-zones", "pull_zones", "/cdns/pull-zones", "pull_zone"
    ),
}

# The plan catalogues: (path, list key). /databases/plans is not paginated.
PLAN_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("/plans", "plans"),
    ("/plans-metal", "plans_metal"),
    ("/databases/plans", "plans"),
)


def endpoint_for(kind: VultrKind) -> Endpoint:
    return ENDPOINTS[kind]


def item_id(kind: VultrKind, item: dict[str, object]) -> str | None:
    """The item's identifier, normalised as ``lookup_id`` does."""
    value = item.get(ENDPOINTS[kind].id_field)
    return None if value is None else lookup_id(kind, str(value))


def lookup_id(kind: VultrKind, resource_id: str) -> str:
    # Domain names are case-insensitive; every other id is compared as is.
    return resource_id.lower() if kind is VultrKind.DOMAINS else resource_id
