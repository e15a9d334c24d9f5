"""Per-environment counters, moved with each change instead of aggregated."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from gql_service.domain.models import EnvironmentCounts
from gql_service.storage.documents import object_id
from gql_service.storage.gateway import StoreCollection


class CountRepository:
    def __init__(self, collection: StoreCollection) -> None:
        self._docs = collection

    async def add(
        self, project_id: str, environment: str, *, collections: int = 0, resources: int = 0
    ) -> None:
        query = {"project_id": object_id(project_id), "environment": environment}
        update = {
            "$inc": {"collection_count": collections, "resource_count": resources}
        }
        try:
            await self._docs.update_one(query, update, upsert=True)
        except DuplicateKeyError:
            # Two first upserts raced; the document exists now, so the retry
            # is an ordinary update.
            await self._docs.update_one(query, update)

    async def for_projects(
        self, project_ids: list[str]
    ) -> dict[tuple[str, str], EnvironmentCounts]:
        docs = await self._docs.find_many(
            {"project_id": {"$in": [object_id(value) for value in project_ids]}}
        )
        return {
            (str(doc["project_id"]), doc["environment"]): EnvironmentCounts(
                doc["collection_count"],
                doc["resource_count"],
                tuple(doc.get("restricted_subjects", ())),
            )
            for doc in docs
        }

    async def mark_restricted(
        self, project_id: str, environment: str, subjects: list[str]
    ) -> None:
        await self._docs.update_one(
            {"project_id": object_id(project_id), "environment": environment},
            {"$addToSet": {"restricted_subjects": {"$each": subjects}}},
        )
