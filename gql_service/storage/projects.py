"""Projects: reads. Writes go through storage.changes, with their events."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from gql_service.domain.models import Project
from gql_service.storage.documents import object_id, project_from_doc
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.markers import HIDDEN
from gql_service.storage.paging import after_filter, combine

SORT = [("name", 1), ("_id", 1)]


class ProjectRepository:
    def __init__(self, collection: StoreCollection) -> None:
        self._docs = collection

    async def get(self, project_id: str) -> Project | None:
        doc = await self._docs.find_one({"_id": object_id(project_id)}, HIDDEN)
        return project_from_doc(doc) if doc else None

    async def get_by_name(self, name: str) -> Project | None:
        doc = await self._docs.find_one({"name": name}, HIDDEN)
        return project_from_doc(doc) if doc else None

    async def get_many(self, project_ids: list[str]) -> list[Project]:
        query = {"_id": {"$in": [object_id(value) for value in project_ids]}}
        docs = await self._docs.find_many(query, projection=HIDDEN)
        return [project_from_doc(doc) for doc in docs]

    async def member_projects(self, identities: list[str]) -> list[Project]:
        docs = await self._docs.find_many(
            {"grants.subject": {"$in": identities}}, projection=HIDDEN
        )
        return [project_from_doc(doc) for doc in docs]

    async def list(
        self, scope: dict[str, Any], after: tuple[str, str] | None, limit: int
    ) -> list[Project]:
        page = after_filter(SORT, [after[0], ObjectId(after[1])]) if after else None
        docs = await self._docs.find_many(
            combine(scope, page), sort=SORT, limit=limit, projection=HIDDEN
        )
        return [project_from_doc(doc) for doc in docs]

    async def count(self, scope: dict[str, Any]) -> int:
        return await self._docs.count(scope)


def scope_filter(project_ids: list[str] | None) -> dict[str, Any]:
    """Projects a subject may see: None means every project (admins)."""
    if project_ids is None:
        return {}
    return {"_id": {"$in": [object_id(value) for value in project_ids]}}
