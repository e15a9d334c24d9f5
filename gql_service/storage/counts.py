"""Per-environment counters: reads. Writes go through storage.changes."""

from __future__ import annotations

from gql_service.domain.models import EnvironmentCounts
from gql_service.storage.documents import object_id
from gql_service.storage.gateway import StoreCollection
from gql_service.storage.markers import HIDDEN


class CountRepository:
    def __init__(self, collection: StoreCollection) -> None:
        self._docs = collection

    async def for_projects(
        self, project_ids: list[str]
    ) -> dict[tuple[str, str], EnvironmentCounts]:
        docs = await self._docs.find_many(
            {"project_id": {"$in": [object_id(value) for value in project_ids]}},
            projection=HIDDEN,
        )
        return {
            (str(doc["project_id"]), doc["environment"]): EnvironmentCounts(
                doc["collection_count"],
                doc["resource_count"],
                tuple(doc.get("restricted_subjects", ())),
            )
            for doc in docs
        }
