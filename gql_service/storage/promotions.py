"""Promotions: reads. Writes go through storage.changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from gql_service.domain.models import Promotion, PromotionStatus
from gql_service.storage.documents import (
    idempotency_scope,
    object_id,
    promotion_from_doc,
)
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.paging import combine

# Newest first.
SORT = [("_id", -1)]


class PromotionRepository:
    def __init__(self, collection: StoreCollection) -> None:
        self._docs = collection

    async def get(self, promotion_id: str) -> Promotion | None:
        doc = await self._docs.find_one({"_id": object_id(promotion_id)})
        return promotion_from_doc(doc) if doc else None

    async def get_by_key(self, actor: str, key: str) -> Promotion | None:
        doc = await self._docs.find_one(
            {"idempotency_scope": idempotency_scope(actor, key)}
        )
        return promotion_from_doc(doc) if doc else None

    async def pending_expired(self, now: datetime, limit: int) -> list[Promotion]:
        docs = await self._docs.find_many(
            {
                "status": PromotionStatus.PENDING_APPROVAL.value,
                "expires_at": {"$lt": now},
            },
            limit=limit,
        )
        return [promotion_from_doc(doc) for doc in docs]

    async def list(
        self,
        scope: dict[str, Any],
        *,
        project: str | None,
        collection_id: str | None,
        statuses: list[PromotionStatus] | None,
        after: str | None,
        limit: int,
    ) -> list[Promotion]:
        query = _query(project, collection_id, statuses)
        page = {"_id": {"$lt": ObjectId(after)}} if after else None
        docs = await self._docs.find_many(
            combine(scope, query, page), sort=SORT, limit=limit
        )
        return [promotion_from_doc(doc) for doc in docs]

    async def count(
        self,
        scope: dict[str, Any],
        *,
        project: str | None,
        collection_id: str | None,
        statuses: list[PromotionStatus] | None,
    ) -> int:
        return await self._docs.count(
            combine(scope, _query(project, collection_id, statuses))
        )


def scope_filter(
    member_project_ids: list[str] | None,
    readable_collection_ids: list[str],
    identities: list[str],
) -> dict[str, Any]:
    """Promotions out of or into a collection the subject may read."""
    if member_project_ids is None:
        return {}
    ids = [object_id(value) for value in readable_collection_ids]
    return {
        "$or": [
            {"project_id": {"$in": [object_id(v) for v in member_project_ids]}},
            {"source_id": {"$in": ids}},
            {"target_id": {"$in": ids}},
            {"approvers": {"$in": identities}},
        ]
    }


def _query(
    project: str | None,
    collection_id: str | None,
    statuses: list[PromotionStatus] | None,
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if project is not None:
        parts.append({"project": project})
    if collection_id is not None:
        oid = object_id(collection_id)
        parts.append({"$or": [{"source_id": oid}, {"target_id": oid}]})
    if statuses:
        parts.append({"status": {"$in": [status.value for status in statuses]}})
    return combine(*parts)
