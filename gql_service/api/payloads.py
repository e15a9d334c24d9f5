"""Mutation payloads."""

from __future__ import annotations

import strawberry

from gql_service.api.types import (
    AddResourceResult,
    ProjectType,
    PromotionType,
    ResourceReferenceType,
    ServiceCollectionType,
)


@strawberry.type
class ProjectPayload:
    project: ProjectType


@strawberry.type
class CollectionPayload:
    collection: ServiceCollectionType


@strawberry.type
class ResourcePayload:
    collection: ServiceCollectionType
    resource: ResourceReferenceType


@strawberry.type
class AddResourcesPayload:
    collection: ServiceCollectionType
    results: list[AddResourceResult]


@strawberry.type
class RemoveResourcePayload:
    collection: ServiceCollectionType
    removed: ResourceReferenceType


@strawberry.type
class DeleteCollectionPayload:
    deleted_id: strawberry.ID
    detached_resource_count: int


@strawberry.type
class PromotionPayload:
    promotion: PromotionType
