"""Open the configured store: a real MongoDB, or the embedded in-process one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gql_service.storage.gateway import GatewayOptions, StoreCollection

logger = logging.getLogger(__name__)

COLLECTION_NAMES = (
    "projects",
    "service_collections",
    "resources",
    "environment_counts",
    "promotions",
)


@dataclass(slots=True)
class Database:
    client: Any
    raw: Any
    options: GatewayOptions
    embedded: bool

    def collection(self, name: str) -> StoreCollection:
        return StoreCollection(self.raw[name], self.options)

    async def ping(self) -> None:
        await self.collection("projects").find_one({"_id": "__ping__"})

    def close(self) -> None:
        self.client.close()


def open_embedded(name: str, options: GatewayOptions | None = None) -> Database:
    from mongomock_motor import AsyncMongoMockClient

    from gql_service.storage import embedded_index

    embedded_index.install()
    client = AsyncMongoMockClient(tz_aware=True)
    return Database(client, client[name], options or GatewayOptions(), embedded=True)


def open_mongodb(
    uri: str, name: str, timeout_ms: int, options: GatewayOptions | None = None
) -> Database:
    from motor.motor_asyncio import AsyncIOMotorClient

    client = AsyncIOMotorClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms * 2,
        appname="gql-service",
    )
    return Database(client, client[name], options or GatewayOptions(), embedded=False)
