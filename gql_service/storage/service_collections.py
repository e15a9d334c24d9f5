"""Service collections: one document each, with grants and a resource counter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from gql_service.domain.models import Grant, ServiceCollection, Tag
from gql_service.errors import ConflictError
from gql_service.storage.documents import (
    collection_from_doc,
    collection_to_doc,
    grants_to_doc,
    object_id,
)
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.paging import after_filter, combine

SORT = [("name", 1), ("_id", 1)]


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

    async def insert(self, collection: ServiceCollection) -> None:
        try:
            await self._docs.insert_one(collection_to_doc(collection))
        except DuplicateKeyError as exc:
            raise ConflictError(
                f"Collection {collection.name!r} already exists in "
                f"{collection.project}/{collection.environment}."
            ) from exc

    async def get(self, collection_id: str) -> ServiceCollection | None:
        doc = await self._docs.find_one({"_id": object_id(collection_id)})
        return collection_from_doc(doc) if doc else None

    async def get_many(self, collection_ids: list[str]) -> list[ServiceCollection]:
        ids = [object_id(value) for value in collection_ids]
        docs = await self._docs.find_many({"_id": {"$in": ids}})
        return [collection_from_doc(doc) for doc in docs]

    async def get_by_name(
        self, project_id: str, environment: str, name: str
    ) -> ServiceCollection | None:
        doc = await self._docs.find_one(
            {"project_id": object_id(project_id), "environment": environment, "name": name}
        )
        return collection_from_doc(doc) if doc else None

    async def granted_project_ids(self, identities: list[str]) -> list[str]:
        docs = await self._docs.find_many(
            {"grants.subject": {"$in": identities}}, projection={"project_id": 1}
        )
        return sorted({str(doc["project_id"]) for doc in docs})

    async def granted_ids(self, identities: list[str]) -> list[str]:
        docs = await self._docs.find_many(
            {"grants.subject": {"$in": identities}}, projection={"_id": 1}
        )
        return [str(doc["_id"]) for doc in docs]

    async def list(
        self,
        scope: dict[str, Any],
        query: CollectionQuery,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[ServiceCollection]:
        page = after_filter(SORT, [after[0], ObjectId(after[1])]) if after else None
        docs = await self._docs.find_many(
            combine(scope, _query_filter(query), page), sort=SORT, limit=limit
        )
        return [collection_from_doc(doc) for doc in docs]

    async def count(self, scope: dict[str, Any], query: CollectionQuery) -> int:
        return await self._docs.count(combine(scope, _query_filter(query)))

    async def list_in_projects(
        self, scope: dict[str, Any], project_ids: list[str]
    ) -> list[ServiceCollection]:
        """Every readable collection of these projects, by name (nested views)."""
        query = _query_filter(CollectionQuery(project_ids=project_ids))
        docs = await self._docs.find_many(combine(scope, query), sort=SORT)
        return [collection_from_doc(doc) for doc in docs]

    async def update_checked(
        self,
        collection_id: str,
        expected_version: int | None,
        fields: dict[str, Any],
    ) -> ServiceCollection | None:
        """Set ``fields`` and bump the version; None when nothing matched."""
        query: dict[str, Any] = {"_id": object_id(collection_id)}
        if expected_version is not None:
            query["version"] = expected_version
        doc = await self._docs.find_one_and_update(
            query, {"$set": fields, "$inc": {"version": 1}}
        )
        return collection_from_doc(doc) if doc else None

    async def set_grants_checked(
        self, collection_id: str, version: int, grants: list[Grant], fields: dict[str, Any]
    ) -> ServiceCollection | None:
        return await self.update_checked(
            collection_id, version, {**fields, "grants": grants_to_doc(grants)}
        )

    async def count_resources(
        self, collection_id: str, delta: int, fields: dict[str, Any]
    ) -> ServiceCollection | None:
        """Move the resource counter and the version in one atomic update."""
        doc = await self._docs.find_one_and_update(
            {"_id": object_id(collection_id)},
            {"$set": fields, "$inc": {"resource_count": delta, "version": 1}},
        )
        return collection_from_doc(doc) if doc else None

    async def mark_restricted(self, collection_id: str, subjects: list[str]) -> None:
        await self._docs.update_one(
            {"_id": object_id(collection_id)},
            {"$addToSet": {"restricted_subjects": {"$each": subjects}}},
        )

    async def delete(self, collection_id: str) -> bool:
        return await self._docs.delete_one({"_id": object_id(collection_id)}) == 1


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

