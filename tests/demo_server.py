"""A real server on 127.0.0.1 with the demo data, for browser and client tests.

Like ``make run``: the embedded store, the demo data set and introspection
on, so the playground can load the schema.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from gql_service.config import Settings
from gql_service.demo import DEVELOPER, seed_demo
from gql_service.runtime import Runtime
from gql_service.storage.database import open_embedded
from tests.conftest import SECRET, data, token_for
from tests.live_server import serve
from tests.ws_support import wait_until

COLLECTION_ID = """
query($project: String!, $environment: String!, $name: String!) {
  collectionByName(project: $project, environment: $environment, name: $name) { id }
}"""

ADD_RESOURCE = """
mutation($input: AddResourceInput!) {
  addResourceToCollection(input: $input) { resource { id } }
}"""


@dataclass
class DemoServer:
    address: str
    runtime: Runtime

    def url(self, path: str) -> str:
        return f"http://{self.address}{path}"

    async def graphql(
        self, query: str, variables: dict[str, Any], *, as_: str = DEVELOPER
    ) -> dict[str, Any]:
        """Post as ``as_`` over real HTTP; the data, failing on any error."""
        headers = {"Authorization": "Bearer " + token_for(as_)}
        payload = {"query": query, "variables": variables}
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
            response = await http.post(
                self.url("/graphql"), json=payload, headers=headers
            )
        return data(response.json())

    async def collection_id(self, project: str, environment: str, name: str) -> str:
        variables = {"project": project, "environment": environment, "name": name}
        found = await self.graphql(COLLECTION_ID, variables)
        return str(found["collectionByName"]["id"])

    async def add_resource(self, collection_id: str, **fields: Any) -> None:
        """Add a resource as the demo editor, as another user's tool would."""
        await self.graphql(
            ADD_RESOURCE, {"input": {"collectionId": collection_id, **fields}}
        )

    async def wait_for_subscribers(self, count: int, within: float = 10.0) -> None:
        hub = self.runtime.services.hub
        await wait_until(lambda: hub.subscriber_count >= count, within)


@contextlib.asynccontextmanager
async def demo_server() -> AsyncIterator[DemoServer]:
    database = open_embedded("demo_" + uuid.uuid4().hex[:12])
    settings = Settings(jwt_secret=SECRET, event_poll_seconds=0.05, introspection=True)
    try:
        async with serve(database, settings) as (address, runtime):
            await seed_demo(runtime.services)
            yield DemoServer(address, runtime)
    finally:
        database.close()
