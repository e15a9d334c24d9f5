"""The README's examples through a third-party client.

The ``gql`` library's HTTP (httpx) and WebSocket transports talk to a real
server on 127.0.0.1 with the demo data, as a client application would: a
query, a mutation and a subscription, over both WebSocket protocols.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from gql_service.demo import DEVELOPER, STAKEHOLDER
from tests.conftest import token_for
from tests.demo_server import DemoServer, demo_server

WAIT = 10.0

# "A first query" in the README.
FIRST_QUERY = """
{
  project(name: "ecommerce-platform") {
    name
    myRole
    environments {
      name
      collectionCount
      resourceCount
      collections {
        name
        region
        resources(first: 10) {
          totalCount
          nodes { resourceName resourceType resourceId tags { key value } }
        }
      }
    }
  }
}"""

# "What you can do": create a collection, add a resource.
CREATE_COLLECTION = """
mutation Create($input: CreateCollectionInput!) {
  createCollection(input: $input) {
    collection { id name environment region version myRole tags { key value } }
  }
}"""

ADD_RESOURCE = """
mutation Add($input: AddResourceInput!) {
  addResourceToCollection(input: $input) {
    collection { resourceCount version }
    resource { resourceName resourceType resourceId }
  }
}"""

# "What you can do": follow changes live.
FOLLOW_CHANGES = """
subscription {
  collectionEvents(project: "ecommerce-platform") {
    type cursor collectionName changes { field before after }
  }
}"""

SUBPROTOCOLS = [
    WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL,
    WebsocketsTransport.APOLLO_SUBPROTOCOL,
]


@pytest.fixture
async def server() -> AsyncIterator[DemoServer]:
    async with demo_server() as running:
        yield running


def http_client(server: DemoServer, subject: str) -> Client:
    transport = HTTPXAsyncTransport(
        url=server.url("/graphql"),
        headers={"Authorization": "Bearer " + token_for(subject)},
        trust_env=False,
        timeout=WAIT,
    )
    return Client(transport=transport, execute_timeout=WAIT)


def websocket_client(server: DemoServer, subject: str, subprotocol: str) -> Client:
    transport = WebsocketsTransport(
        url=f"ws://{server.address}/graphql",
        init_payload={"Authorization": "Bearer " + token_for(subject)},
        subprotocols=[subprotocol],
        connect_args={"proxy": None},
    )
    return Client(transport=transport, execute_timeout=WAIT)


async def create_collection(server: DemoServer, name: str) -> dict[str, Any]:
    variables = {
        "input": {
            "name": name,
            "project": "ecommerce-platform",
            "environment": "testing",
            "region": "ewr",
            "tags": [{"key": "team", "value": "checkout"}],
        }
    }
    async with http_client(server, DEVELOPER) as session:
        request = GraphQLRequest(CREATE_COLLECTION, variable_values=variables)
        result = await session.execute(request)
    collection: dict[str, Any] = result["createCollection"]["collection"]
    return collection


async def test_query_reads_the_nested_view(server):
    async with http_client(server, STAKEHOLDER) as session:
        result = await session.execute(gql(FIRST_QUERY))

    stages = {s["name"]: s for s in result["project"]["environments"]}
    assert result["project"]["myRole"] == "VIEWER"
    assert stages["production"]["resourceCount"] == 3
    web_app = stages["production"]["collections"][0]
    assert web_app["resources"]["totalCount"] == 3


async def test_mutation_creates_a_collection_and_adds_a_resource(server):
    collection = await create_collection(server, "checkout")
    variables = {
        "input": {
            "collectionId": collection["id"],
            "resourceType": "INSTANCE",
            "resourceId": "cb676a46-66fd-4dfb-b839-443f2e6c0b60",
            "resourceName": "checkout-1",
        }
    }

    async with http_client(server, DEVELOPER) as session:
        request = GraphQLRequest(ADD_RESOURCE, variable_values=variables)
        result = await session.execute(request)

    assert collection["myRole"] == "OWNER"
    added = result["addResourceToCollection"]
    assert added["collection"] == {"resourceCount": 1, "version": 2}
    assert added["resource"]["resourceName"] == "checkout-1"


async def test_mutation_errors_carry_their_code(server):
    async with http_client(server, STAKEHOLDER) as session:
        request = GraphQLRequest(
            CREATE_COLLECTION,
            variable_values={
                "input": {
                    "name": "no-rights",
                    "project": "ecommerce-platform",
                    "environment": "testing",
                }
            },
        )
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(request)

    codes = [error["extensions"]["code"] for error in raised.value.errors or []]
    assert codes == ["FORBIDDEN"]


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_subscription_follows_a_change(server, subprotocol):
    async with websocket_client(server, STAKEHOLDER, subprotocol) as session:
        feed = session.subscribe(gql(FOLLOW_CHANGES))
        first = asyncio.ensure_future(anext(feed))
        await server.wait_for_subscribers(1)

        await create_collection(server, "search")
        event = await asyncio.wait_for(first, WAIT)
        await feed.aclose()

    assert event["collectionEvents"]["type"] == "COLLECTION_CREATED"
    assert event["collectionEvents"]["collectionName"] == "search"
