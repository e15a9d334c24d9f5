"""Service collections: reads. Writes go through storage.changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from gql_service.domain.models import ServiceCollection, Tag
from gql_service.storage.documents import collection_from_doc, object_id
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.markers import HIDDEN
from gql_service.storage.paging import after_filter, combine

SORT = [("name", 1), ("_id", 1)]
# A collection being deleted is already gone for readers.
LIVE = {"deleting_by": None}


@dataclass(frozen=True, slots=True)
class CollectionQuery:
    """What a listing asks for; text is matched literally, never as a pattern."""

    project_ids: list[str] | None = None
    environment: str | None = None
    tags: list[Tag] | None = None
    name_contains: str | None = None


class CollectionRepository:
    def __init__(self, collection: StoreCollection) -> None:
        self._docs = collection

    async def get(self, collection_id: str) -> ServiceCollection | None:
        doc = await self._docs.find_one(
            {"_id": object_id(collection_id), **LIVE}, HIDDEN
        )
        return collection_from_doc(doc) if doc else None

    async def get_many(self, collection_ids: list[str]) -> list[ServiceCollection]:
        ids = [object_id(value) for value in collection_ids]
        docs = await self._docs.find_many(
            {"_id": {"$in": ids}, **LIVE}, projection=HIDDEN
        )
        return [collection_from_doc(doc) for doc in docs]

    async def get_by_name(
        self, project_id: str, environment: str, name: str
    ) -> ServiceCollection | None:
        query = {
            "project_id": object_id(project_id),
            "environment": environment,
            "name": name,
            **LIVE,
        }
        doc = await self._docs.find_one(query, HIDDEN)
        return collection_from_doc(doc) if doc else None

    async def granted(self, identities: list[str]) -> list[tuple[str, str]]:
        """(collection id, project id) of every collection granted to these."""
        docs = await self._docs.find_many(
            {"grants.subject": {"$in": identities}, **LIVE},
            projection={"_id": 1, "project_id": 1},
        )
        return [(str(doc["_id"]), str(doc["project_id"])) for doc in docs]

    async def list(
        self,
        scope: dict[str, Any],
        query: CollectionQuery,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[ServiceCollection]:
        page = after_filter(SORT, [after[0], ObjectId(after[1])]) if after else None
        docs = await self._docs.find_many(
            combine(LIVE, scope, _query_filter(query), page),
            sort=SORT,
            limit=limit,
            projection=HIDDEN,
        )
        return [collection_from_doc(doc) for doc in docs]

    async def count(self, scope: dict[str, Any], query: CollectionQuery) -> int:
        return await self._docs.count(combine(LIVE, scope, _query_filter(query)))

    async def list_in_projects(
        self, scope: dict[str, Any], project_ids: list[str]
    ) -> list[ServiceCollection]:
        """Every readable collection of these projects, by name (nested views)."""
        query = _query_filter(CollectionQuery(project_ids=project_ids))
        docs = await self._docs.find_many(
            combine(LIVE, scope, query), sort=SORT, projection=HIDDEN
        )
        return [collection_from_doc(doc) for doc in docs]


def scope_filter(
    member_project_ids: list[str] | None, identities: list[str]
) -> dict[str, Any]:
    """Collections a subject may read; None project ids means all (admins)."""
    if member_project_ids is None:
        return {}
    return {
        "$or": [
            {"project_id": {"$in": [object_id(value) for value in member_project_ids]}},
            {"grants.subject": {"$in": identities}},
        ]
    }


def _query_filter(query: CollectionQuery) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if query.project_ids is not None:
        parts.append({"project_id": {"$in": [object_id(v) for v in query.project_ids]}})
    if query.environment is not None:
        parts.append({"environment": query.environment})
    for tag in query.tags or []:
        parts.append({"tags": {"$elemMatch": {"key": tag.key, "value": tag.value}}})
    if query.name_contains:
        # A literal substring: escaped before it reaches the regex engine.
        parts.append(
            {"name": {"$regex": re.escape(query.name_contains), "$options": "i"}}
        )
    return combine(*parts)
