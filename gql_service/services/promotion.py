"""Promotion: move a collection's definition to a later environment."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from gql_service.domain import validation
from gql_service.domain.models import (
    FieldChange,
    Grant,
    Project,
    Promotion,
    PromotionStatus,
    Protection,
    ResourceReference,
    ServiceCollection,
    utc_now,
)
from gql_service.domain.roles import Role
from gql_service.domain.workflows import Verdict
from gql_service.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PromotionNotAllowedError,
)
from gql_service.events.log import EventLog
from gql_service.events.model import EventType, NewEvent
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
from gql_service.storage.workflow_documents import workflow_to_doc

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
    include_workflows: bool = False


class PromotionService:
    def __init__(
        self,
        store: Store,
        log: EventLog,
        catalog: CatalogService,
        approval_window: timedelta = timedelta(hours=72),
    ) -> None:
        self._store = store
        self._log = log
        self._catalog = catalog
        self._approval_window = approval_window

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

        protection = plan.project.protections.get(plan.target_environment)
        try:
            if protection is not None:
                return await self._hold(access, plan, promotion, protection)
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

    async def _hold(
        self, access: Access, plan: Plan, promotion: Promotion, protection: Protection
    ) -> Promotion:
        """Record the promotion as waiting; nothing in the target changes yet."""
        promotion.status = PromotionStatus.PENDING_APPROVAL
        promotion.approvers = protection.approvers
        promotion.required_approvals = protection.required_approvals
        promotion.prevent_self_review = protection.prevent_self_review
        promotion.expires_at = utc_now() + self._approval_window
        event = collection_event(
            EventType.PROMOTION_UPDATED,
            access.principal.subject,
            plan.source,
            {"kind": "insert_promotion", "promotion": promotion_to_doc(promotion)},
            changes=[
                FieldChange("status", None, PromotionStatus.PENDING_APPROVAL.value)
            ],
            promotion_id=promotion.id,
        )
        await self._log.execute([event])
        logger.info("Promotion %s waits for approval", promotion.id)
        return promotion

    async def _plan(
        self,
        access: Access | None,
        request: PromotionRequest,
        *,
        checked: bool = True,
        actor: str = "",
    ) -> Plan:
        """What the promotion changes; unchecked when an approval completes it."""
        if access is not None:
            actor = access.principal.subject
        if checked and access is not None:
            source, _role = await self._catalog.require(
                access, request.source_id, Role.EDITOR
            )
        else:
            found = await self._store.collections.get(request.source_id)
            if found is None:
                raise ConflictError("The source collection is gone.")
            source = found
        project = await self._store.projects.get(source.project_id)
        if project is None:
            raise NotFoundError("No such collection.")
        if checked and access is not None:
            target_env = self._target_environment(access, project, source, request)
        else:
            target_env = request.target_environment or ""
        target = await self._store.collections.get_by_name(
            project.id, target_env, source.name
        )
        if checked and access is not None:
            await self._check_target_role(access, project, target)

        changes = _definition_changes(source, target)
        new_resources: list[ResourceReference] = []
        if request.include_resources:
            new_resources = await self._resources_to_copy(actor, source, target)
            if new_resources:
                added = [
                    {"resourceType": r.resource_type.value, "resourceId": r.resource_id}
                    for r in new_resources
                ]
                changes.append(FieldChange("resources", None, added))
        return Plan(
            project,
            source,
            target,
            target_env,
            changes,
            new_resources,
            request.include_workflows,
        )

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
        actor: str,
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
                added_by=actor,
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
        self,
        access: Access | None,
        plan: Plan,
        promotion: Promotion,
        *,
        claim_version: int | None = None,
    ) -> Promotion:
        source = plan.source
        target_id = plan.target.id if plan.target else str(ObjectId())
        promotion.target_id = target_id
        promotion.created_target = plan.target is None
        promotion.changes = plan.changes
        target = plan.target or self._new_target(promotion.actor, plan, target_id)
        operation: dict[str, Any] = {
            "kind": "promote",
            "promotion": promotion_to_doc(promotion),
            "claim_version": claim_version,
            "target_doc": None if plan.target else collection_to_doc(target),
            "update": None,
            "resources": [
                resource_to_doc(replace(r, collection_id=target_id))
                for r in plan.new_resources
            ],
            "workflows": await self._workflows_to_copy(plan, target_id),
        }
        if plan.target is not None:
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
        event = collection_event(
            EventType.ENVIRONMENT_PROMOTED,
            promotion.actor,
            target,
            operation,
            changes=plan.changes,
            promotion_id=promotion.id,
        )
        outcome = await self._log.execute([event])
        if access is not None:
            access.forget()
        logger.info(
            "Promoted %s/%s from %s to %s",
            plan.project.name,
            source.name,
            source.environment,
            plan.target_environment,
        )
        return promotion_from_doc(outcome.value["promotion"])

    async def _workflows_to_copy(self, plan: Plan, target_id: str) -> list[Any]:
        """Source workflows the target lacks (by name); promotion only adds."""
        if not plan.include_workflows:
            return []
        present = set()
        if plan.target is not None:
            present = {
                w.name for w in await self._store.workflows.for_collections([target_id])
            }
        now = utc_now()
        copies = []
        for workflow in await self._store.workflows.for_collections([plan.source.id]):
            if workflow.name in present:
                continue
            copy = replace(
                workflow,
                id=str(ObjectId()),
                collection_id=target_id,
                created_at=now,
                updated_at=now,
                version=1,
            )
            copies.append(workflow_to_doc(copy))
        return copies

    # Reviews of promotions into protected environments ----------------------

    async def review(
        self, access: Access, promotion_id: str, verdict: Verdict, comment: str | None
    ) -> Promotion:
        validation.reason(comment, "comment")
        promotion = await self.get_readable(access, promotion_id)
        if promotion is None:
            raise NotFoundError("No such promotion.")
        self._check_reviewer(access, promotion)
        decision = {
            "approver": access.principal.subject,
            "verdict": verdict.value,
            "comment": comment,
            "decided_at": utc_now(),
        }
        approvals = [*promotion.approvals, decision]
        approved = sum(1 for d in approvals if d["verdict"] == Verdict.APPROVED.value)
        if verdict is Verdict.APPROVED and approved >= promotion.required_approvals:
            plan = await self._plan(
                None, promotion_request(promotion), checked=False, actor=promotion.actor
            )
            promotion.approvals = approvals
            return await self._apply(
                None, plan, promotion, claim_version=promotion.version
            )
        fields: dict[str, Any] = {"approvals": approvals}
        if verdict is Verdict.REJECTED:
            fields |= {
                "status": PromotionStatus.REJECTED.value,
                "completed_at": utc_now(),
            }
        return await self._change(access.principal.subject, promotion, fields)

    def _check_reviewer(self, access: Access, promotion: Promotion) -> None:
        principal = access.principal
        if promotion.status is not PromotionStatus.PENDING_APPROVAL:
            raise ConflictError(f"The promotion is {promotion.status.value}.")
        if promotion.expires_at and promotion.expires_at < utc_now():
            raise ConflictError("The promotion has expired.")
        if principal.identities.isdisjoint(promotion.approvers):
            raise ForbiddenError("You are not an approver of this promotion.")
        if promotion.prevent_self_review and principal.subject == promotion.actor:
            raise ForbiddenError("The promotion's own actor may not review it.")
        if any(d["approver"] == principal.subject for d in promotion.approvals):
            raise ConflictError("You have already decided on this promotion.")

    async def cancel(self, access: Access, promotion_id: str) -> Promotion:
        promotion = await self.get_readable(access, promotion_id)
        if promotion is None:
            raise NotFoundError("No such promotion.")
        project = await self._store.projects.get(promotion.project_id)
        is_owner = project is not None and access.project_role(project) is Role.OWNER
        if access.principal.subject != promotion.actor and not is_owner:
            raise ForbiddenError("Only the promotion's actor and project owners may.")
        if promotion.status is not PromotionStatus.PENDING_APPROVAL:
            raise ConflictError(f"The promotion is {promotion.status.value}.")
        fields = {"status": PromotionStatus.CANCELLED.value, "completed_at": utc_now()}
        return await self._change(access.principal.subject, promotion, fields)

    async def expire_due(self, now: datetime) -> int:
        expired = 0
        for promotion in await self._store.promotions.pending_expired(now, 20):
            fields = {"status": PromotionStatus.EXPIRED.value, "completed_at": now}
            try:
                await self._change(None, promotion, fields)
            except (ConflictError, NotFoundError):
                continue
            expired += 1
        return expired

    async def _change(
        self, actor: str | None, promotion: Promotion, fields: dict[str, Any]
    ) -> Promotion:
        source = await self._store.collections.get(promotion.source_id)
        operation = {
            "kind": "update_promotion",
            "promotion_id": ObjectId(promotion.id),
            "expect": {
                "version": promotion.version,
                "status": PromotionStatus.PENDING_APPROVAL.value,
            },
            "set": fields,
            "inc": {"version": 1},
            "conflict": "The promotion changed meanwhile; reload it and retry.",
        }
        changes = []
        if "status" in fields:
            changes.append(
                FieldChange("status", promotion.status.value, fields["status"])
            )
        event = NewEvent(
            type=EventType.PROMOTION_UPDATED,
            actor=actor,
            project_id=promotion.project_id,
            project=promotion.project,
            operation=operation,
            environment=promotion.source_environment,
            collection_id=promotion.source_id if source else None,
            collection_name=promotion.name,
            changes=changes,
            promotion_id=promotion.id,
        )
        outcome = await self._log.execute([event])
        return promotion_from_doc(outcome.value["promotion"])

    def _new_target(self, actor: str, plan: Plan, target_id: str) -> ServiceCollection:
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
            created_by=actor,
            promoted_from_id=source.id,
        )

    async def get_readable(self, access: Access, promotion_id: str) -> Promotion | None:
        promotion = await self._store.promotions.get(promotion_id)
        if promotion is None:
            return None
        ids = [promotion.source_id] + (
            [promotion.target_id] if promotion.target_id else []
        )
        # Approvers named on the protection may read what they decide on,
        # like the promotions list shows it to them (storage scope_filter).
        if not access.principal.identities.isdisjoint(promotion.approvers):
            return promotion
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


def promotion_request(promotion: Promotion) -> PromotionRequest:
    """The request a held promotion was made with, to plan it again on approval."""
    return PromotionRequest(
        source_id=promotion.source_id,
        target_environment=promotion.target_environment,
        include_resources=promotion.include_resources,
        include_workflows=promotion.include_workflows,
        reason=promotion.reason,
    )
