"""The root Mutation type: decode ids, call one service, wrap the result."""

from __future__ import annotations

import strawberry

from gql_service.api.common import tag_pairs
from gql_service.api.context import Info, reads_fresh_around_each_field
from gql_service.api.ids import decode_id, encode_id
from gql_service.api.inputs import (
    AddResourceInput,
    AddResourcesInput,
    CreateCollectionInput,
    CreateProjectInput,
    DeleteCollectionInput,
    PromoteCollectionInput,
    RemoveResourceInput,
    SetResourceAccessInput,
    UpdateCollectionInput,
    UpdateCollectionPermissionsInput,
    UpdateProjectInput,
    UpdateProjectPermissionsInput,
    UpdateResourceInput,
)
from gql_service.api.payloads import (
    AddResourcesPayload,
    CollectionPayload,
    DeleteCollectionPayload,
    ProjectPayload,
    PromotionPayload,
    RemoveResourcePayload,
    ResourcePayload,
)
from gql_service.api.types import (
    AddResourceResult,
    ProjectType,
    PromotionType,
    ResourceReferenceType,
    ServiceCollectionType,
)
from gql_service.api.workflow_api import WorkflowMutations
from gql_service.domain import validation
from gql_service.domain.models import UNCHANGED, Protection, ResourceGrant
from gql_service.domain.workflows import Verdict
from gql_service.services.catalog import CollectionChanges, NewCollection
from gql_service.services.projects import NewProject
from gql_service.services.promotion import PromotionRequest
from gql_service.services.resources import NewResource, ResourceChanges


def _given(value: object) -> object:
    """UNSET (left out) becomes UNCHANGED; an explicit null stays None."""
    return UNCHANGED if value is strawberry.UNSET else value


def _collection_id(value: strawberry.ID, field: str = "collectionId") -> str:
    return decode_id(value, "ServiceCollection", field)


def _version(value: int | None) -> int | None:
    return None if value is strawberry.UNSET else value


@strawberry.input
class EnvironmentProtectionInput:
    approvers: list[str]
    required_approvals: int | None = 1
    prevent_self_review: bool | None = True


@strawberry.input
class SetEnvironmentProtectionInput:
    project: str
    environment: str
    protection: EnvironmentProtectionInput | None = strawberry.field(
        default=None, description="Null removes the protection."
    )


@strawberry.input
class ReviewPromotionInput:
    id: strawberry.ID
    comment: str | None = None


@reads_fresh_around_each_field
@strawberry.type
class Mutation(WorkflowMutations):
    @strawberry.mutation
    async def create_project(
        self, info: Info, input: CreateProjectInput
    ) -> ProjectPayload:
        context = info.context
        environments = (
            None if input.environments is strawberry.UNSET else input.environments
        )
        project = await context.services.projects.create(
            context.access,
            NewProject(
                name=input.name,
                description=input.description or "",
                environments=environments,
                editors=input.editors or [],
                viewers=input.viewers or [],
            ),
        )
        return ProjectPayload(project=ProjectType.from_model(project))

    @strawberry.mutation
    async def update_project(
        self, info: Info, input: UpdateProjectInput
    ) -> ProjectPayload:
        context = info.context
        description = (
            None if input.description is strawberry.UNSET else input.description
        )
        environments = (
            None if input.environments is strawberry.UNSET else input.environments
        )
        project = await context.services.projects.update(
            context.access,
            input.name,
            description=description,
            environments=environments,
            expected_version=_version(input.expected_version),
        )
        return ProjectPayload(project=ProjectType.from_model(project))

    @strawberry.mutation
    async def update_project_permissions(
        self, info: Info, input: UpdateProjectPermissionsInput
    ) -> ProjectPayload:
        context = info.context
        project = await context.services.projects.update_permissions(
            context.access,
            input.name,
            [grant.to_model() for grant in input.grant or []],
            input.revoke or [],
        )
        return ProjectPayload(project=ProjectType.from_model(project))

    @strawberry.mutation
    async def create_collection(
        self, info: Info, input: CreateCollectionInput
    ) -> CollectionPayload:
        context = info.context
        collection = await context.services.catalog.create(
            context.access,
            NewCollection(
                name=input.name,
                project=input.project,
                environment=input.environment,
                description=input.description or "",
                region=input.region,
                tags=tag_pairs(input.tags),
                owners=input.owners or [],
                editors=input.editors or [],
                viewers=input.viewers or [],
            ),
        )
        return CollectionPayload(
            collection=ServiceCollectionType.from_model(collection)
        )

    @strawberry.mutation
    async def update_collection(
        self, info: Info, input: UpdateCollectionInput
    ) -> CollectionPayload:
        context = info.context
        tags = input.tags
        changes = CollectionChanges(
            description=_given(input.description),
            region=_given(input.region),
            tags=UNCHANGED
            if tags is strawberry.UNSET
            else (None if tags is None else tag_pairs(tags)),
            expected_version=_version(input.expected_version),
        )
        collection = await context.services.catalog.update(
            context.access, _collection_id(input.id, "id"), changes
        )
        return CollectionPayload(
            collection=ServiceCollectionType.from_model(collection)
        )

    @strawberry.mutation
    async def delete_collection(
        self, info: Info, input: DeleteCollectionInput
    ) -> DeleteCollectionPayload:
        context = info.context
        collection, detached = await context.services.catalog.delete(
            context.access, _collection_id(input.id, "id"), bool(input.force)
        )
        return DeleteCollectionPayload(
            deleted_id=strawberry.ID(encode_id("ServiceCollection", collection.id)),
            detached_resource_count=detached,
        )

    @strawberry.mutation
    async def update_collection_permissions(
        self, info: Info, input: UpdateCollectionPermissionsInput
    ) -> CollectionPayload:
        context = info.context
        collection = await context.services.catalog.update_permissions(
            context.access,
            _collection_id(input.id, "id"),
            [grant.to_model() for grant in input.grant or []],
            input.revoke or [],
        )
        return CollectionPayload(
            collection=ServiceCollectionType.from_model(collection)
        )

    @strawberry.mutation
    async def add_resource_to_collection(
        self, info: Info, input: AddResourceInput
    ) -> ResourcePayload:
        context = info.context
        collection, resource = await context.services.resources.add(
            context.access,
            _collection_id(input.collection_id),
            NewResource(
                resource_type=input.resource_type,
                resource_id=input.resource_id,
                resource_name=input.resource_name,
                tags=tag_pairs(input.tags),
                metadata={} if input.metadata is None else input.metadata,
            ),
        )
        return ResourcePayload(
            collection=ServiceCollectionType.from_model(collection),
            resource=ResourceReferenceType.from_model(resource, collection),
        )

    @strawberry.mutation
    async def add_resources_to_collection(
        self, info: Info, input: AddResourcesInput
    ) -> AddResourcesPayload:
        context = info.context
        items = [
            NewResource(
                resource_type=item.resource_type,
                resource_id=item.resource_id,
                resource_name=item.resource_name,
                tags=tag_pairs(item.tags),
                metadata={} if item.metadata is None else item.metadata,
            )
            for item in input.resources
        ]
        collection, results = await context.services.resources.add_many(
            context.access, _collection_id(input.collection_id), items
        )
        return AddResourcesPayload(
            collection=ServiceCollectionType.from_model(collection),
            results=[
                AddResourceResult(
                    resource_type=result.resource_type,
                    resource_id=result.resource_id,
                    status=result.status,
                    message=result.message,
                    resource=(
                        ResourceReferenceType.from_model(result.resource, collection)
                        if result.resource
                        else None
                    ),
                )
                for result in results
            ],
        )

    @strawberry.mutation
    async def update_resource(
        self, info: Info, input: UpdateResourceInput
    ) -> ResourcePayload:
        context = info.context
        tags = input.tags
        changes = ResourceChanges(
            resource_name=_given(input.resource_name),
            tags=UNCHANGED
            if tags is strawberry.UNSET
            else (None if tags is None else tag_pairs(tags)),
            metadata=_given(input.metadata),
        )
        collection, resource = await context.services.resources.update(
            context.access,
            _collection_id(input.collection_id),
            input.resource_type,
            input.resource_id,
            changes,
        )
        return ResourcePayload(
            collection=ServiceCollectionType.from_model(collection),
            resource=ResourceReferenceType.from_model(resource, collection),
        )

    @strawberry.mutation
    async def remove_resource_from_collection(
        self, info: Info, input: RemoveResourceInput
    ) -> RemoveResourcePayload:
        context = info.context
        collection, removed = await context.services.resources.remove(
            context.access,
            _collection_id(input.collection_id),
            input.resource_type,
            input.resource_id,
        )
        return RemoveResourcePayload(
            collection=ServiceCollectionType.from_model(collection),
            removed=ResourceReferenceType.from_model(removed, collection),
        )

    @strawberry.mutation
    async def set_resource_access(
        self, info: Info, input: SetResourceAccessInput
    ) -> ResourcePayload:
        context = info.context
        collection, resource = await context.services.resources.set_access(
            context.access,
            _collection_id(input.collection_id),
            input.resource_type,
            input.resource_id,
            [ResourceGrant(grant.subject, grant.role) for grant in input.grants],
        )
        return ResourcePayload(
            collection=ServiceCollectionType.from_model(collection),
            resource=ResourceReferenceType.from_model(resource, collection),
        )

    @strawberry.mutation
    async def promote_collection(
        self, info: Info, input: PromoteCollectionInput
    ) -> PromotionPayload:
        context = info.context
        request = PromotionRequest(
            source_id=_collection_id(input.id, "id"),
            target_environment=input.target_environment,
            include_resources=bool(input.include_resources),
            include_workflows=bool(input.include_workflows),
            reason=input.reason,
            idempotency_key=input.idempotency_key,
            dry_run=bool(input.dry_run),
        )
        promotion = await context.services.promotions.promote(context.access, request)
        return PromotionPayload(promotion=PromotionType.from_model(promotion))

    @strawberry.mutation
    async def set_environment_protection(
        self, info: Info, input: SetEnvironmentProtectionInput
    ) -> ProjectPayload:
        context = info.context
        given = input.protection
        protection = (
            Protection(
                tuple(given.approvers),
                1 if given.required_approvals is None else given.required_approvals,
                given.prevent_self_review is not False,
            )
            if given is not None
            else None
        )
        project = await context.services.projects.set_protection(
            context.access, input.project, input.environment, protection
        )
        return ProjectPayload(project=ProjectType.from_model(project))

    @strawberry.mutation
    async def approve_promotion(
        self, info: Info, input: ReviewPromotionInput
    ) -> PromotionPayload:
        return await _review_promotion(info, input, Verdict.APPROVED)

    @strawberry.mutation
    async def reject_promotion(
        self, info: Info, input: ReviewPromotionInput
    ) -> PromotionPayload:
        return await _review_promotion(info, input, Verdict.REJECTED)

    @strawberry.mutation
    async def cancel_promotion(
        self, info: Info, input: ReviewPromotionInput
    ) -> PromotionPayload:
        context = info.context
        validation.reason(input.comment, "comment")
        promotion = await context.services.promotions.cancel(
            context.access, decode_id(input.id, "Promotion")
        )
        return PromotionPayload(promotion=PromotionType.from_model(promotion))


async def _review_promotion(
    info: Info, input: ReviewPromotionInput, verdict: Verdict
) -> PromotionPayload:
    context = info.context
    promotion = await context.services.promotions.review(
        context.access, decode_id(input.id, "Promotion"), verdict, input.comment
    )
    return PromotionPayload(promotion=PromotionType.from_model(promotion))
