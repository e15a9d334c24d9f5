"""Resource references: reads. Writes go through storage.changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from gql_service.domain.models import ResourceReference, ResourceType, Tag
from gql_service.storage.documents import object_id, resource_from_doc
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.markers import HIDDEN
from gql_service.storage.paging import combine

SORT = [("_id", 1)]
# A resource whose removal is under way is already gone for readers.
LIVE = {"removed_by": None}


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
        query = {
            "collection_id": object_id(collection_id),
            "resource_type": resource_type.value,
            "resource_id": resource_id,
            **LIVE,
        }
        doc = await self._docs.find_one(query, HIDDEN)
        return resource_from_doc(doc) if doc else None

    async def get_by_id(self, resource_ref_id: str) -> ResourceReference | None:
        doc = await self._docs.find_one(
            {"_id": object_id(resource_ref_id), **LIVE}, HIDDEN
        )
        return resource_from_doc(doc) if doc else None

    async def list(
        self, collection_id: str, query: ResourceQuery, after: str | None, limit: int
    ) -> list[ResourceReference]:
        page = {"_id": {"$gt": ObjectId(after)}} if after else None
        docs = await self._docs.find_many(
            combine(_query_filter(collection_id, query), page),
            sort=SORT,
            limit=limit,
            projection=HIDDEN,
        )
        return [resource_from_doc(doc) for doc in docs]

    async def list_all(self, collection_id: str) -> list[ResourceReference]:
        docs = await self._docs.find_many(
            {"collection_id": object_id(collection_id), **LIVE},
            sort=SORT,
            projection=HIDDEN,
        )
        return [resource_from_doc(doc) for doc in docs]

    async def list_for_collections(
        self, collection_ids: list[str]
    ) -> list[ResourceReference]:
        docs = await self._docs.find_many(
            {"collection_id": {"$in": [object_id(v) for v in collection_ids]}, **LIVE},
            sort=SORT,
            projection=HIDDEN,
        )
        return [resource_from_doc(doc) for doc in docs]

    async def count(self, collection_id: str, query: ResourceQuery) -> int:
        return await self._docs.count(_query_filter(collection_id, query))


def _query_filter(collection_id: str, query: ResourceQuery) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"collection_id": object_id(collection_id), **LIVE}]
    if query.resource_types:
        parts.append(
            {"resource_type": {"$in": [t.value for t in query.resource_types]}}
        )
    for tag in query.tags or []:
        parts.append({"tags": {"$elemMatch": {"key": tag.key, "value": tag.value}}})
    for key in query.tag_keys or []:
        parts.append({"tags.key": key})
    if query.hidden_from:
        parts.append({"hidden_for": {"$nin": query.hidden_from}})
    return combine(*parts)
