"""Resource references: one document each, unique by type and id per collection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError

from gql_service.domain.models import ResourceReference, ResourceType, Tag
from gql_service.errors import ConflictError
from gql_service.storage.documents import (
    object_id,
    resource_from_doc,
    resource_to_doc,
)
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.paging import combine

SORT = [("_id", 1)]


@dataclass(frozen=True, slots=True)
class ResourceQuery:
    resource_types: list[ResourceType] | None = None
    tags: list[Tag] | None = None
    tag_keys: list[str] | None = None
    # Identities of the reader: resources that hide from them are left out.
    hidden_from: list[str] | None = None


class ResourceRepository:
    def __init__(self, collection: StoreCollection) -> None:
        self._docs = collection

    async def insert(self, resource: ResourceReference) -> None:
        try:
            await self._docs.insert_one(resource_to_doc(resource))
        except DuplicateKeyError as exc:
            raise ConflictError(
                f"{resource.resource_type.value} {resource.resource_id!r} "
                "is already in the collection."
            ) from exc

    async def insert_new(self, resources: list[ResourceReference]) -> list[bool]:
        """Insert many; return, per item, whether it was new (False: duplicate)."""
        if not resources:
            return []
        inserted = [True] * len(resources)
        try:
            await self._docs.insert_many([resource_to_doc(r) for r in resources])
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != 11000:
                    raise
                inserted[error["index"]] = False
        return inserted

    async def existing_keys(
        self, collection_id: str, keys: list[tuple[ResourceType, str]]
    ) -> set[tuple[str, str]]:
        ids = sorted({resource_id for _, resource_id in keys})
        docs = await self._docs.find_many(
            {"collection_id": object_id(collection_id), "resource_id": {"$in": ids}},
            projection={"resource_type": 1, "resource_id": 1},
        )
        return {(doc["resource_type"], doc["resource_id"]) for doc in docs}

    async def get(
        self, collection_id: str, resource_type: ResourceType, resource_id: str
    ) -> ResourceReference | None:
        doc = await self._docs.find_one(_key(collection_id, resource_type, resource_id))
        return resource_from_doc(doc) if doc else None

    async def get_by_id(self, resource_ref_id: str) -> ResourceReference | None:
        doc = await self._docs.find_one({"_id": object_id(resource_ref_id)})
        return resource_from_doc(doc) if doc else None

    async def list(
        self, collection_id: str, query: ResourceQuery, after: str | None, limit: int
    ) -> list[ResourceReference]:
        page = {"_id": {"$gt": ObjectId(after)}} if after else None
        docs = await self._docs.find_many(
            combine(_query_filter(collection_id, query), page), sort=SORT, limit=limit
        )
        return [resource_from_doc(doc) for doc in docs]

    async def list_all(self, collection_id: str) -> list[ResourceReference]:
        docs = await self._docs.find_many(
            {"collection_id": object_id(collection_id)}, sort=SORT
        )
        return [resource_from_doc(doc) for doc in docs]

    async def count(self, collection_id: str, query: ResourceQuery) -> int:
        return await self._docs.count(_query_filter(collection_id, query))

    async def update(
        self,
        collection_id: str,
        resource_type: ResourceType,
        resource_id: str,
        fields: dict[str, Any],
    ) -> ResourceReference | None:
        doc = await self._docs.find_one_and_update(
            _key(collection_id, resource_type, resource_id), {"$set": fields}
        )
        return resource_from_doc(doc) if doc else None

    async def delete(self, resource_ref_id: str) -> bool:
        return await self._docs.delete_one({"_id": object_id(resource_ref_id)}) == 1

    async def delete_all(self, collection_id: str) -> int:
        return await self._docs.delete_many({"collection_id": object_id(collection_id)})


def _key(
    collection_id: str, resource_type: ResourceType, resource_id: str
) -> dict[str, Any]:
    return {
        "collection_id": object_id(collection_id),
        "resource_type": resource_type.value,
        "resource_id": resource_id,
    }


def _query_filter(collection_id: str, query: ResourceQuery) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"collection_id": object_id(collection_id)}]
    if query.resource_types:
        parts.append({"resource_type": {"$in": [t.value for t in query.resource_types]}})
    for tag in query.tags or []:
        parts.append({"tags": {"$elemMatch": {"key": tag.key, "value": tag.value}}})
    for key in query.tag_keys or []:
        parts.append({"tags.key": key})
    if query.hidden_from:
        parts.append({"hidden_for": {"$nin": query.hidden_from}})
    return combine(*parts)
