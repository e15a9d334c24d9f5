"""Drift between a service collection and the Vultr account.

Tag convention: a Vultr resource belongs to a collection when it carries
the tag ``collection=<project>/<environment>/<name>``, exactly and case
sensitively, e.g. ``collection=ecommerce-platform/production/web-app``.
Instances and bare metal carry it in their ``tags`` list; a managed
database carries it as its single ``tag``. Other kinds have no tags in
Vultr's API, so they can be MISSING or CHANGED but never UNTRACKED.

Drift kinds:

- MISSING_IN_VULTR: the collection references a resource Vultr does not
  have (deleted, or a wrong id).
- UNTRACKED_IN_VULTR: a Vultr resource carries the collection's tag but the
  collection does not reference it.
- CHANGED: the resource exists but its label differs from the reference's
  resourceName, or its region differs from the collection's region. A name
  or region the caller leaves as None is not compared; regions compare
  case-insensitively (databases answer "EWR").

References of a type Vultr cannot look up (DNS_RECORD) are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gql_service.domain.models import ResourceReference, ResourceType, ServiceCollection
from gql_service.vultr.endpoints import lookup_id
from gql_service.vultr.resources import (
    TAGGABLE_TYPES,
    read_label,
    read_region,
    read_tags,
    spec_for,
)

COLLECTION_TAG_KEY = "collection"

# Resource items of one type, keyed by id.
ItemsById = Mapping[str, dict[str, Any]]


class DriftKind(StrEnum):
    MISSING_IN_VULTR = "MISSING_IN_VULTR"
    UNTRACKED_IN_VULTR = "UNTRACKED_IN_VULTR"
    CHANGED = "CHANGED"


@dataclass(frozen=True, slots=True)
class DriftRef:
    """A reference as drift compares it: what the collection expects."""

    resource_type: ResourceType
    resource_id: str
    resource_name: str | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class DriftItem:
    resource_type: ResourceType
    resource_id: str
    kind: DriftKind
    detail: str | None = None


def collection_tag(project: str, environment: str, name: str) -> str:
    return f"{COLLECTION_TAG_KEY}={project}/{environment}/{name}"


def tag_of(collection: ServiceCollection) -> str:
    return collection_tag(collection.project, collection.environment, collection.name)


def drift_refs(
    collection: ServiceCollection, references: Iterable[ResourceReference]
) -> list[DriftRef]:
    """The collection's references, each expected in the collection's region."""
    return [
        DriftRef(
            ref.resource_type, ref.resource_id, ref.resource_name, collection.region
        )
        for ref in references
    ]


def find_drift(
    tag: str,
    refs: Iterable[DriftRef],
    items: Mapping[ResourceType, ItemsById],
) -> list[DriftItem]:
    """Drift items: referenced ones in reference order, then untracked ones."""
    found: list[DriftItem] = []
    referenced: set[tuple[ResourceType, str]] = set()
    for ref in refs:
        referenced.add((ref.resource_type, ref.resource_id))
        spec = spec_for(ref.resource_type)
        if spec is None or ref.resource_type not in items:
            continue
        item = items[ref.resource_type].get(lookup_id(spec.kind, ref.resource_id))
        if item is None:
            found.append(
                DriftItem(
                    ref.resource_type, ref.resource_id, DriftKind.MISSING_IN_VULTR
                )
            )
            continue
        detail = _changes(ref, item)
        if detail:
            found.append(
                DriftItem(ref.resource_type, ref.resource_id, DriftKind.CHANGED, detail)
            )
    found.extend(_untracked(tag, referenced, items))
    return found


def _changes(ref: DriftRef, item: dict[str, Any]) -> str | None:
    spec = spec_for(ref.resource_type)
    if spec is None:
        return None
    changes: list[str] = []
    label = read_label(spec, item)
    if ref.resource_name is not None and label != ref.resource_name:
        changes.append(f"label is {label!r} in Vultr, {ref.resource_name!r} here")
    region = read_region(spec, item)
    if ref.region is not None and region is not None and region != ref.region.lower():
        changes.append(f"region is {region!r} in Vultr, {ref.region.lower()!r} here")
    return "; ".join(changes) or None


def _untracked(
    tag: str,
    referenced: set[tuple[ResourceType, str]],
    items: Mapping[ResourceType, ItemsById],
) -> list[DriftItem]:
    untracked: list[DriftItem] = []
    for resource_type in TAGGABLE_TYPES:
        for resource_id, item in sorted(items.get(resource_type, {}).items()):
            if (resource_type, resource_id) in referenced:
                continue
            if tag in read_tags(item):
                untracked.append(
                    DriftItem(
                        resource_type,
                        resource_id,
                        DriftKind.UNTRACKED_IN_VULTR,
                        f"tagged {tag!r} in Vultr but not in the collection",
                    )
                )
    return untracked
