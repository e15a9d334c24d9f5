"""GraphQL input types. UNSET marks a field the client left out."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from gql_service.api.common import GrantInput, TagInput
from gql_service.api.enums import PromotionStatus, ResourceRole, ResourceType


@strawberry.input
class CreateProjectInput:
    name: str
    description: str | None = ""
    environments: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Environment slugs in promotion order; defaults to the standard four."
        ),
    )
    editors: list[str] | None = strawberry.field(default_factory=list)
    viewers: list[str] | None = strawberry.field(default_factory=list)


@strawberry.input
class UpdateProjectInput:
    name: str
    description: str | None = strawberry.UNSET
    environments: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Replaces the promotion path. An environment that still holds "
            "collections may not be dropped."
        ),
    )
    expected_version: int | None = strawberry.UNSET


@strawberry.input
class UpdateProjectPermissionsInput:
    name: str
    grant: list[GrantInput] | None = strawberry.field(
        default_factory=list,
        description="Sets each subject's role, moving it out of any other role.",
    )
    revoke: list[str] | None = strawberry.field(
        default_factory=list, description="Removes each subject from every role."
    )


@strawberry.input
class CollectionFilter:
    project: str | None = None
    environment: str | None = None
    tags: list[TagInput] | None = strawberry.field(
        default=None, description="Every listed tag must be on the collection."
    )
    name_contains: str | None = None


@strawberry.input
class CreateCollectionInput:
    name: str
    project: str
    environment: str
    description: str | None = ""
    region: str | None = None
    tags: list[TagInput] | None = strawberry.field(default_factory=list)
    owners: list[str] | None = strawberry.field(default_factory=list)
    editors: list[str] | None = strawberry.field(default_factory=list)
    viewers: list[str] | None = strawberry.field(default_factory=list)


@strawberry.input
class UpdateCollectionInput:
    id: strawberry.ID
    description: str | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    tags: list[TagInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the collection's tags."
    )
    expected_version: int | None = strawberry.UNSET


@strawberry.input
class DeleteCollectionInput:
    id: strawberry.ID
    force: bool | None = strawberry.field(
        default=False,
        description=(
            "Delete even when resources remain; they are detached, "
            "never destroyed in Vultr."
        ),
    )


@strawberry.input
class UpdateCollectionPermissionsInput:
    id: strawberry.ID
    grant: list[GrantInput] | None = strawberry.field(default_factory=list)
    revoke: list[str] | None = strawberry.field(default_factory=list)


@strawberry.input
class ResourceInput:
    resource_type: ResourceType
    resource_id: str
    resource_name: str | None = None
    tags: list[TagInput] | None = strawberry.field(default_factory=list)
    metadata: JSON | None = strawberry.field(default_factory=dict)


@strawberry.input
class AddResourceInput:
    collection_id: strawberry.ID
    resource_type: ResourceType
    resource_id: str
    resource_name: str | None = None
    tags: list[TagInput] | None = strawberry.field(default_factory=list)
    metadata: JSON | None = strawberry.field(default_factory=dict)


@strawberry.input
class AddResourcesInput:
    collection_id: strawberry.ID
    resources: list[ResourceInput]


@strawberry.input
class UpdateResourceInput:
    collection_id: strawberry.ID
    resource_type: ResourceType
    resource_id: str
    resource_name: str | None = strawberry.UNSET
    tags: list[TagInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the resource's tags."
    )
    metadata: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the resource's metadata."
    )


@strawberry.input
class RemoveResourceInput:
    collection_id: strawberry.ID
    resource_type: ResourceType
    resource_id: str


@strawberry.input
class ResourceGrantInput:
    subject: str
    role: ResourceRole


@strawberry.input
class SetResourceAccessInput:
    collection_id: strawberry.ID
    resource_type: ResourceType
    resource_id: str
    grants: list[ResourceGrantInput] = strawberry.field(
        description="Replaces the resource's grants."
    )


@strawberry.input
class PromotionFilter:
    project: str | None = None
    collection_id: strawberry.ID | None = strawberry.field(
        default=None, description="Promotions out of or into this collection."
    )
    status: list[PromotionStatus] | None = None


@strawberry.input
class PromoteCollectionInput:
    id: strawberry.ID
    target_environment: str | None = strawberry.field(
        default=None,
        description="Defaults to the next environment on the project's promotion path.",
    )
    include_resources: bool | None = strawberry.field(
        default=False,
        description=(
            "Copy resource references into the target "
            "(default: only the definition moves)."
        ),
    )
    include_workflows: bool | None = False
    reason: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "A retry by the same actor with the same key and input returns the "
            "first promotion; other input with that key is CONFLICT."
        ),
    )
    dry_run: bool | None = strawberry.field(
        default=False,
        description="Compute and return the changes without applying them.",
    )
