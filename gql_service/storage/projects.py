"""Projects: slug-named, with grants and the promotion path."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from gql_service.domain.models import Grant, Project
from gql_service.errors import ConflictError
from gql_service.storage.documents import (
    grants_to_doc,
    object_id,
    project_from_doc,
    project_to_doc,
)
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.paging import after_filter, combine

SORT = [("name", 1), ("_id", 1)]


class ProjectRepository:
    def __init__(self, collection: StoreCollection) -> None:
        self._docs = collection

    async def insert(self, project: Project) -> None:
        try:
            await self._docs.insert_one(project_to_doc(project))
        except DuplicateKeyError as exc:
            raise ConflictError(f"Project {project.name!r} already exists.") from exc

    async def get(self, project_id: str) -> Project | None:
        doc = await self._docs.find_one({"_id": object_id(project_id)})
        return project_from_doc(doc) if doc else None

    async def get_by_name(self, name: str) -> Project | None:
        doc = await self._docs.find_one({"name": name})
        return project_from_doc(doc) if doc else None

    async def get_many(self, project_ids: list[str]) -> list[Project]:
        ids = [object_id(value) for value in project_ids]
        return [project_from_doc(d) for d in await self._docs.find_many({"_id": {"$in": ids}})]

    async def member_project_ids(self, identities: list[str]) -> list[str]:
        docs = await self._docs.find_many(
            {"grants.subject": {"$in": identities}}, projection={"_id": 1}
        )
        return [str(doc["_id"]) for doc in docs]

    async def list(
        self, scope: dict[str, Any], after: tuple[str, str] | None, limit: int
    ) -> list[Project]:
        query = combine(
            scope, after_filter(SORT, [after[0], ObjectId(after[1])]) if after else None
        )
        docs = await self._docs.find_many(query, sort=SORT, limit=limit)
        return [project_from_doc(doc) for doc in docs]

    async def count(self, scope: dict[str, Any]) -> int:
        return await self._docs.count(scope)

    async def update_checked(
        self, project_id: str, version: int, fields: dict[str, Any]
    ) -> Project | None:
        """Set ``fields`` if the project is still at ``version``; None if not."""
        doc = await self._docs.find_one_and_update(
            {"_id": object_id(project_id), "version": version},
            {"$set": fields, "$inc": {"version": 1}},
        )
        return project_from_doc(doc) if doc else None

    async def set_grants_checked(
        self, project_id: str, version: int, grants: list[Grant], fields: dict[str, Any]
    ) -> Project | None:
        return await self.update_checked(
            project_id, version, {**fields, "grants": grants_to_doc(grants)}
        )


def scope_filter(project_ids: list[str] | None) -> dict[str, Any]:
    """Projects a subject may see: None means every project (admins)."""
    if project_ids is None:
        return {}
    return {"_id": {"$in": [object_id(value) for value in project_ids]}}
