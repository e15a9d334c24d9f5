"""What remains of a deleted collection: who could read it, for its old events."""

from __future__ import annotations

from gql_service.storage.documents import object_id
from gql_service.storage.gateway import StoreCollection


class TombstoneRepository:
    def __init__(self, collection: StoreCollection) -> None:
        self._docs = collection

    async def readers(self, collection_id: str) -> list[str] | None:
        doc = await self._docs.find_one({"_id": object_id(collection_id)})
        return list(doc["readers"]) if doc else None

    async def readable_ids(self, identities: list[str]) -> list[str]:
        docs = await self._docs.find_many(
            {"readers": {"$in": identities}}, projection={"_id": 1}
        )
        return [str(doc["_id"]) for doc in docs]
