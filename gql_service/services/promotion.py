"""Promotion: move a collection's definition to a later environment."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from bson import ObjectId

from gql_service.domain import validation
from gql_service.domain.models import (
    FieldChange,
    Grant,
    Project,
    Promotion,
    PromotionStatus,
    ResourceReference,
    ServiceCollection,
    utc_now,
)
from gql_service.domain.roles import Role
from gql_service.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PromotionNotAllowedError,
)
from gql_service.events.log import EventLog
from gql_service.events.model import EventType
from gql_service.services.access import Access
from gql_service.services.catalog import CatalogService, check_environment
from gql_service.services.recording import collection_event
from gql_service.storage.documents import (
    collection_to_doc,
    promotion_from_doc,
    promotion_to_doc,
    resource_to_doc,
    tags_to_doc,
)
from gql_service.storage.store import Store

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class PromotionRequest:
    source_id: str
    target_environment: str | None = None
    include_resources: bool = False
    include_workflows: bool = False
    reason: str | None = None
    idempotency_key: str | None = None
    dry_run: bool = False

    def fingerprint(self) -> str:
        fields = [
            self.source_id,
            self.target_environment,
            self.include_resources,
            self.include_workflows,
            self.reason,
        ]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


@dataclass(slots=True)
class Plan:
    project: Project
    source: ServiceCollection
    target: ServiceCollection | None
    target_environment: str
    changes: list[FieldChange]
    new_resources: list[ResourceReference]


class PromotionService:
    def __init__(self, store: Store, log: EventLog, catalog: CatalogService) -> None:
        self._store = store
        self._log = log
        self._catalog = catalog

    async def promote(self, access: Access, request: PromotionRequest) -> Promotion:
        validation.reason(request.reason)
        key = request.idempotency_key
        if key is not None:
            validation.check_text(
                key, "idempotencyKey", min_length=1, max_length=MAX_KEY_LENGTH
            )
            earlier = await self._store.promotions.get_by_key(
                access.principal.subject, key
            )
            if earlier is not None and not request.dry_run:
                return await self._replay(access, request, earlier)

        plan = await self._plan(access, request)
        promotion = self._record(access, request, plan)
        if request.dry_run:
            promotion.status = PromotionStatus.DRY_RUN
            return promotion

        try:
            return await self._apply(access, plan, promotion)
        except ConflictError:
            # A concurrent retry with the same key may have won the race.
            earlier = (
                await self._store.promotions.get_by_key(
                    access.principal.subject, key or ""
                )
                if key
                else None
            )
            if earlier is None:
                raise
            return await self._replay(access, request, earlier)

    async def _replay(
        self, access: Access, request: PromotionRequest, earlier: Promotion
    ) -> Promotion:
        # A retry is answered only to someone who could still make the call.
        await self._catalog.require(access, request.source_id, Role.EDITOR)
        if earlier.fingerprint != request.fingerprint():
            raise ConflictError(
                "This idempotency key was used for a different promotion."
            )
        # An IN_PROGRESS one is being finished by its writer or the sweeper.
        return earlier

    async def _plan(self, access: Access, request: PromotionRequest) -> Plan:
        source, _role = await self._catalog.require(
            access, request.source_id, Role.EDITOR
        )
        project = await self._store.projects.get(source.project_id)
        if project is None:
            raise NotFoundError("No such collection.")
        target_env = self._target_environment(access, project, source, request)
        target = await self._store.collections.get_by_name(
            project.id, target_env, source.name
        )
        await self._check_target_role(access, project, target)

        changes = _definition_changes(source, target)
        new_resources: list[ResourceReference] = []
        if request.include_resources:
            new_resources = await self._resources_to_copy(access, source, target)
            if new_resources:
                added = [
                    {"resourceType": r.resource_type.value, "resourceId": r.resource_id}
                    for r in new_resources
                ]
                changes.append(FieldChange("resources", None, added))
        return Plan(project, source, target, target_env, changes, new_resources)

    def _target_environment(
        self,
        access: Access,
        project: Project,
        source: ServiceCollection,
        request: PromotionRequest,
    ) -> str:
        path = project.environments
        position = path.index(source.environment) if source.environment in path else -1
        if request.target_environment is None:
            if position + 1 >= len(path):
                raise PromotionNotAllowedError(
                    f"{source.environment!r} is the last environment of the path."
                )
            return path[position + 1]

        target = validation.environment_name(
            request.target_environment, "targetEnvironment"
        )
        check_environment(project, target)
        if path.index(target) <= position:
            raise PromotionNotAllowedError(
                f"Promotion goes forward only: {target!r} does not come after "
                f"{source.environment!r} on the path."
            )
        if (
            path.index(target) > position + 1
            and access.project_role(project) is not Role.OWNER
        ):
            raise ForbiddenError("Skipping environments needs the project OWNER role.")
        return target

    async def _check_target_role(
        self, access: Access, project: Project, target: ServiceCollection | None
    ) -> None:
        if target is None:
            role = access.project_role(project)
        else:
            role = await access.collection_role(target)
        if role is None or not role.at_least(Role.EDITOR):
            raise ForbiddenError("Promoting needs the EDITOR role on the target.")

    async def _resources_to_copy(
        self,
        access: Access,
        source: ServiceCollection,
        target: ServiceCollection | None,
    ) -> list[ResourceReference]:
        present: set[tuple[str, str]] = set()
        if target is not None:
            present = {
                (r.resource_type.value, r.resource_id)
                for r in await self._store.resources.list_all(target.id)
            }
        now = utc_now()
        return [
            replace(
                resource,
                id=str(ObjectId()),
                collection_id=target.id if target else "",
                access=[],
                created_at=now,
                updated_at=now,
                added_by=access.principal.subject,
            )
            for resource in await self._store.resources.list_all(source.id)
            if (resource.resource_type.value, resource.resource_id) not in present
        ]

    def _record(
        self, access: Access, request: PromotionRequest, plan: Plan
    ) -> Promotion:
        return Promotion(
            id=str(ObjectId()),
            project_id=plan.project.id,
            project=plan.project.name,
            name=plan.source.name,
            source_environment=plan.source.environment,
            target_environment=plan.target_environment,
            source_id=plan.source.id,
            target_id=plan.target.id if plan.target else None,
            status=PromotionStatus.IN_PROGRESS,
            created_target=plan.target is None,
            include_resources=request.include_resources,
            include_workflows=request.include_workflows,
            changes=plan.changes,
            actor=access.principal.subject,
            reason=request.reason,
            created_at=utc_now(),
            idempotency_key=request.idempotency_key,
            fingerprint=request.fingerprint(),
        )

    async def _apply(
        self, access: Access, plan: Plan, promotion: Promotion
    ) -> Promotion:
        source = plan.source
        target_id = plan.target.id if plan.target else str(ObjectId())
        promotion.target_id = target_id
        operation: dict[str, Any] = {
            "kind": "promote",
            "promotion": promotion_to_doc(promotion),
            "target_doc": None,
            "update": None,
            "resources": [
                resource_to_doc(replace(r, collection_id=target_id))
                for r in plan.new_resources
            ],
        }
        if plan.target is None:
            operation["target_doc"] = collection_to_doc(
                self._new_target(access, plan, target_id)
            )
        else:
            operation["update"] = {
                "kind": "update_collection",
                "collection_id": ObjectId(target_id),
                "fields": {
                    "description": source.description,
                    "region": source.region,
                    "tags": tags_to_doc(source.tags),
                    "promoted_from_id": ObjectId(source.id),
                    "updated_at": utc_now(),
                },
            }
        target = plan.target or self._new_target(access, plan, target_id)
        event = collection_event(
            EventType.ENVIRONMENT_PROMOTED,
            access.principal.subject,
            target,
            operation,
            changes=plan.changes,
            promotion_id=promotion.id,
        )
        outcome = await self._log.execute([event])
        access.forget()
        logger.info(
            "Promoted %s/%s from %s to %s",
            plan.project.name,
            source.name,
            source.environment,
            plan.target_environment,
        )
        return promotion_from_doc(outcome.value["promotion"])

    def _new_target(
        self, access: Access, plan: Plan, target_id: str
    ) -> ServiceCollection:
        source = plan.source
        now = utc_now()
        owners = [
            Grant(g.subject, Role.OWNER) for g in source.grants if g.role is Role.OWNER
        ]
        return ServiceCollection(
            id=target_id,
            project_id=plan.project.id,
            project=plan.project.name,
            environment=plan.target_environment,
            name=source.name,
            description=source.description,
            region=source.region,
            tags=list(source.tags),
            grants=owners,
            resource_count=0,
            version=1,
            created_at=now,
            updated_at=now,
            created_by=access.principal.subject,
            promoted_from_id=source.id,
        )

    async def get_readable(self, access: Access, promotion_id: str) -> Promotion | None:
        promotion = await self._store.promotions.get(promotion_id)
        if promotion is None:
            return None
        ids = [promotion.source_id] + (
            [promotion.target_id] if promotion.target_id else []
        )
        readable = await self._catalog.get_many_readable(access, ids)
        return promotion if any(readable) else None


def _definition_changes(
    source: ServiceCollection, target: ServiceCollection | None
) -> list[FieldChange]:
    pairs = [
        ("description", source.description, target.description if target else None),
        ("region", source.region, target.region if target else None),
        (
            "tags",
            tags_to_doc(source.tags),
            tags_to_doc(target.tags) if target else None,
        ),
    ]
    return [
        FieldChange(field, before, after)
        for field, after, before in pairs
        if target is None or before != after
    ]
