"""Resource references: reads. Writes go through storage.changes."""

from __future__ import annotations

from collections.abc import Iterator
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
# Pages of collections this small are read together, whole, in one query;
# bigger ones get a query of their own that stops at the page.
WHOLE_COLLECTION_ROWS = 200
# The most rows one combined query may bring back.
COMBINED_ROWS = 5_000


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One collection's page of resources, as a batched read asks for it."""

    collection_id: str
    # The collection's resource counter: an upper bound on the rows it has.
    size: int
    query: ResourceQuery
    after: str | None
    limit: int

    def shape(self) -> tuple[Any, ...]:
        """What the request asks for, apart from which collection."""
        return (*self.query.key(), self.after, self.limit)


@dataclass(frozen=True, slots=True)
class ResourceQuery:
    resource_types: list[ResourceType] | None = None
    tags: list[Tag] | None = None
    tag_keys: list[str] | None = None
    # Identities of the reader: resources that hide from them are left out.
    hidden_from: list[str] | None = None

    def key(self) -> tuple[Any, ...]:
        """A hashable form: equal for queries that select the same rows."""
        return (
            tuple(sorted(t.value for t in self.resource_types or [])),
            tuple(sorted((t.key, t.value) for t in self.tags or [])),
            tuple(sorted(self.tag_keys or [])),
            tuple(sorted(self.hidden_from or [])),
        )


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

    async def pages(self, requests: list[PageRequest]) -> list[list[ResourceReference]]:
        """Answer many pages with few queries, each in the order of ``requests``.

        Requests of the same shape over small collections share one query
        that reads those collections whole (their counters bound the rows);
        a big collection is read up to its page only.
        """
        answers: dict[int, list[ResourceReference]] = {}
        by_shape: dict[tuple[Any, ...], list[int]] = {}
        for index, request in enumerate(requests):
            if request.size > max(WHOLE_COLLECTION_ROWS, request.limit):
                answers[index] = await self.list(
                    request.collection_id, request.query, request.after, request.limit
                )
            else:
                by_shape.setdefault(request.shape(), []).append(index)
        for indexes in by_shape.values():
            for chunk in _chunks(indexes, requests):
                if len(chunk) == 1:
                    # Alone, a page is cheaper read up to its end only.
                    request = requests[chunk[0]]
                    answers[chunk[0]] = await self.list(
                        request.collection_id,
                        request.query,
                        request.after,
                        request.limit,
                    )
                else:
                    answers.update(await self._read_whole(chunk, requests))
        return [answers[index] for index in range(len(requests))]

    async def _read_whole(
        self, indexes: list[int], requests: list[PageRequest]
    ) -> dict[int, list[ResourceReference]]:
        first = requests[indexes[0]]
        ids = sorted({requests[i].collection_id for i in indexes})
        page = {"_id": {"$gt": ObjectId(first.after)}} if first.after else None
        docs = await self._docs.find_many(
            combine(_query_filter(ids, first.query), page),
            sort=SORT,
            projection=HIDDEN,
        )
        grouped: dict[str, list[dict[str, Any]]] = {cid: [] for cid in ids}
        for doc in docs:
            grouped[str(doc["collection_id"])].append(doc)
        return {
            i: [
                resource_from_doc(doc)
                for doc in grouped[requests[i].collection_id][: requests[i].limit]
            ]
            for i in indexes
        }

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


def _chunks(indexes: list[int], requests: list[PageRequest]) -> Iterator[list[int]]:
    """Split requests so no combined query brings back more than COMBINED_ROWS."""
    chunk: list[int] = []
    rows = 0
    for index in indexes:
        size = requests[index].size
        if chunk and rows + size > COMBINED_ROWS:
            yield chunk
            chunk, rows = [], 0
        chunk.append(index)
        rows += size
    if chunk:
        yield chunk


def _query_filter(
    collection_id: str | list[str], query: ResourceQuery
) -> dict[str, Any]:
    within: Any = (
        {"$in": [object_id(cid) for cid in collection_id]}
        if isinstance(collection_id, list)
        else object_id(collection_id)
    )
    parts: list[dict[str, Any]] = [{"collection_id": within, **LIVE}]
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
