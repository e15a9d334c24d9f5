"""Mapping between MongoDB documents and domain records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from gql_service.domain.models import (
    FieldChange,
    Grant,
    Project,
    Promotion,
    PromotionStatus,
    Protection,
    ResourceGrant,
    ResourceReference,
    ResourceType,
    ServiceCollection,
    Tag,
)
from gql_service.domain.roles import ResourceRole, Role

Document = dict[str, Any]


def object_id(value: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError) as exc:
        raise ValueError("not an object id") from exc


def utc(value: datetime) -> datetime:
    """Stored datetimes come back in the driver's own UTC tzinfo (or naive)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def tags_to_doc(tags: list[Tag]) -> list[Document]:
    return [{"key": tag.key, "value": tag.value} for tag in tags]


def tags_from_doc(items: list[Document]) -> list[Tag]:
    return [Tag(item["key"], item["value"]) for item in items]


def grants_to_doc(grants: list[Grant]) -> list[Document]:
    return [{"subject": grant.subject, "role": grant.role.value} for grant in grants]


def grants_from_doc(items: list[Document]) -> list[Grant]:
    return [Grant(item["subject"], Role(item["role"])) for item in items]


def resource_grants_to_doc(grants: list[ResourceGrant]) -> list[Document]:
    return [{"subject": grant.subject, "role": grant.role.value} for grant in grants]


def protections_to_doc(protections: dict[str, Protection]) -> list[Document]:
    return [
        {
            "environment": environment,
            "approvers": list(p.approvers),
            "required_approvals": p.required_approvals,
            "prevent_self_review": p.prevent_self_review,
        }
        for environment, p in protections.items()
    ]


def protections_from_doc(items: list[Document]) -> dict[str, Protection]:
    return {
        item["environment"]: Protection(
            tuple(item["approvers"]),
            item["required_approvals"],
            item["prevent_self_review"],
        )
        for item in items
    }


def project_from_doc(doc: Document) -> Project:
    return Project(
        id=str(doc["_id"]),
        name=doc["name"],
        description=doc["description"],
        environments=list(doc["environments"]),
        grants=grants_from_doc(doc["grants"]),
        version=doc["version"],
        created_at=utc(doc["created_at"]),
        updated_at=utc(doc["updated_at"]),
        created_by=doc.get("created_by"),
        protections=protections_from_doc(doc.get("protections", [])),
    )


def project_to_doc(project: Project) -> Document:
    return {
        "_id": object_id(project.id),
        "name": project.name,
        "description": project.description,
        "environments": project.environments,
        "grants": grants_to_doc(project.grants),
        "version": project.version,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
        "created_by": project.created_by,
        "protections": protections_to_doc(project.protections),
    }


def collection_from_doc(doc: Document) -> ServiceCollection:
    promoted_from = doc.get("promoted_from_id")
    return ServiceCollection(
        id=str(doc["_id"]),
        project_id=str(doc["project_id"]),
        project=doc["project"],
        environment=doc["environment"],
        name=doc["name"],
        description=doc["description"],
        region=doc.get("region"),
        tags=tags_from_doc(doc["tags"]),
        grants=grants_from_doc(doc["grants"]),
        resource_count=doc["resource_count"],
        version=doc["version"],
        created_at=utc(doc["created_at"]),
        updated_at=utc(doc["updated_at"]),
        created_by=doc.get("created_by"),
        promoted_from_id=str(promoted_from) if promoted_from else None,
        restricted_subjects=list(doc.get("restricted_subjects", [])),
    )


def collection_to_doc(collection: ServiceCollection) -> Document:
    promoted_from = collection.promoted_from_id
    return {
        "_id": object_id(collection.id),
        "project_id": object_id(collection.project_id),
        "project": collection.project,
        "environment": collection.environment,
        "name": collection.name,
        "description": collection.description,
        "region": collection.region,
        "tags": tags_to_doc(collection.tags),
        "grants": grants_to_doc(collection.grants),
        "resource_count": collection.resource_count,
        "version": collection.version,
        "created_at": collection.created_at,
        "updated_at": collection.updated_at,
        "created_by": collection.created_by,
        "promoted_from_id": object_id(promoted_from) if promoted_from else None,
        "restricted_subjects": collection.restricted_subjects,
    }


def metadata_to_doc(metadata: dict[str, Any]) -> str:
    # Kept as JSON text so that client keys never become document field names.
    return json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)


def resource_from_doc(doc: Document) -> ResourceReference:
    return ResourceReference(
        id=str(doc["_id"]),
        collection_id=str(doc["collection_id"]),
        resource_type=ResourceType(doc["resource_type"]),
        resource_id=doc["resource_id"],
        resource_name=doc.get("resource_name"),
        tags=tags_from_doc(doc["tags"]),
        metadata=json.loads(doc["metadata_json"]),
        access=[
            ResourceGrant(item["subject"], ResourceRole(item["role"]))
            for item in doc["access"]
        ],
        created_at=utc(doc["created_at"]),
        updated_at=utc(doc["updated_at"]),
        added_by=doc.get("added_by"),
    )


def hidden_for(grants: list[ResourceGrant]) -> list[str]:
    return [grant.subject for grant in grants if grant.role is ResourceRole.NONE]


def resource_to_doc(resource: ResourceReference) -> Document:
    return {
        "_id": object_id(resource.id),
        "collection_id": object_id(resource.collection_id),
        "resource_type": resource.resource_type.value,
        "resource_id": resource.resource_id,
        "resource_name": resource.resource_name,
        "tags": tags_to_doc(resource.tags),
        "metadata_json": metadata_to_doc(resource.metadata),
        "access": resource_grants_to_doc(resource.access),
        "hidden_for": hidden_for(resource.access),
        "created_at": resource.created_at,
        "updated_at": resource.updated_at,
        "added_by": resource.added_by,
    }


def changes_to_doc(changes: list[FieldChange]) -> list[Document]:
    # Values are JSON text for the same reason as metadata.
    return [
        {
            "field": change.field,
            "before": json.dumps(change.before, ensure_ascii=False),
            "after": json.dumps(change.after, ensure_ascii=False),
        }
        for change in changes
    ]


def changes_from_doc(items: list[Document]) -> list[FieldChange]:
    return [
        FieldChange(
            item["field"], json.loads(item["before"]), json.loads(item["after"])
        )
        for item in items
    ]


def idempotency_scope(actor: str, key: str) -> str:
    """One string, so that a unique index on it is scoped to the actor."""
    return json.dumps([actor, key], ensure_ascii=False)


def promotion_to_doc(promotion: Promotion) -> Document:
    doc: Document = {
        "_id": object_id(promotion.id),
        "project_id": object_id(promotion.project_id),
        "project": promotion.project,
        "name": promotion.name,
        "source_environment": promotion.source_environment,
        "target_environment": promotion.target_environment,
        "source_id": object_id(promotion.source_id),
        "target_id": object_id(promotion.target_id) if promotion.target_id else None,
        "status": promotion.status.value,
        "created_target": promotion.created_target,
        "include_resources": promotion.include_resources,
        "include_workflows": promotion.include_workflows,
        "changes": changes_to_doc(promotion.changes),
        "actor": promotion.actor,
        "reason": promotion.reason,
        "created_at": promotion.created_at,
        "completed_at": promotion.completed_at,
        "fingerprint": promotion.fingerprint,
        "approvals": promotion.approvals,
        "approvers": list(promotion.approvers),
        "required_approvals": promotion.required_approvals,
        "prevent_self_review": promotion.prevent_self_review,
        "expires_at": promotion.expires_at,
        "version": promotion.version,
    }
    if promotion.idempotency_key is not None:
        # A sparse unique index on this one field scopes keys to their actor.
        doc["idempotency_scope"] = idempotency_scope(
            promotion.actor, promotion.idempotency_key
        )
    return doc


def promotion_from_doc(doc: Document) -> Promotion:
    scope = doc.get("idempotency_scope")
    key = json.loads(scope)[1] if scope else None
    completed = doc.get("completed_at")
    return Promotion(
        id=str(doc["_id"]),
        project_id=str(doc["project_id"]),
        project=doc["project"],
        name=doc["name"],
        source_environment=doc["source_environment"],
        target_environment=doc["target_environment"],
        source_id=str(doc["source_id"]),
        target_id=str(doc["target_id"]) if doc.get("target_id") else None,
        status=PromotionStatus(doc["status"]),
        created_target=doc["created_target"],
        include_resources=doc["include_resources"],
        include_workflows=doc["include_workflows"],
        changes=changes_from_doc(doc["changes"]),
        actor=doc["actor"],
        reason=doc.get("reason"),
        created_at=utc(doc["created_at"]),
        completed_at=utc(completed) if completed else None,
        idempotency_key=key,
        fingerprint=doc.get("fingerprint"),
        approvals=list(doc.get("approvals", [])),
        approvers=tuple(doc.get("approvers", [])),
        required_approvals=doc.get("required_approvals", 0),
        prevent_self_review=doc.get("prevent_self_review", True),
        expires_at=utc(doc["expires_at"]) if doc.get("expires_at") else None,
        version=doc.get("version", 1),
    )
