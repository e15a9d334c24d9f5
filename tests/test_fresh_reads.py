"""Loaded records never outlive a write the reader should see.

A context lasts one HTTP request but a whole WebSocket connection, and a
request may hold several mutations: each operation, each mutation and each
subscription event reads the store afresh (found by a review: pages and
roles cached from the first read came back for the rest of a connection).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import data
from tests.factories import add_resource, create_collection
from tests.ws_fixtures import OpenSocket
from tests.ws_support import TRANSPORT, Socket

VIEWER = "viewer@example.com"
PAGE = "collection { resourceCount resources { nodes { resourceId } } }"
THREE_MUTATIONS = f"""mutation($c: ID!) {{
  a: addResourceToCollection(
    input: {{collectionId: $c, resourceType: INSTANCE, resourceId: "r2"}}) {{ {PAGE} }}
  b: addResourceToCollection(
    input: {{collectionId: $c, resourceType: INSTANCE, resourceId: "r3"}}) {{ {PAGE} }}
  c: removeResourceFromCollection(
    input: {{collectionId: $c, resourceType: INSTANCE, resourceId: "r1"}}) {{ {PAGE} }}
}}"""
READ = """query($id: ID!) { collection(id: $id) {
  resourceCount resources { nodes { resourceId myRole } } } }"""
HIDE = """mutation($input: SetResourceAccessInput!) {
  setResourceAccess(input: $input) { resource { id } } }"""
FEED = f"subscription {{ collectionEvents {{ type {PAGE} }} }}"


def ids(page: dict[str, Any]) -> list[str]:
    return [node["resourceId"] for node in page["resources"]["nodes"]]


async def test_each_mutation_of_a_request_sees_the_ones_before(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "r1")

    answer = data(await gql(THREE_MUTATIONS, {"c": collection["id"]}))

    assert ids(answer["a"]["collection"]) == ["r1", "r2"]
    assert ids(answer["b"]["collection"]) == ["r1", "r2", "r3"]
    assert ids(answer["c"]["collection"]) == ["r2", "r3"]
    assert answer["c"]["collection"]["resourceCount"] == 2


@pytest.fixture
async def socket(open_socket: OpenSocket) -> Callable[[str], Awaitable[Socket]]:
    async def signed_in(subject: str) -> Socket:
        connection = await open_socket(TRANSPORT)
        await connection.authenticate(subject)
        return connection

    return signed_in


async def ask(socket: Socket, op_id: str, collection_id: str) -> dict[str, Any]:
    await socket.send(
        {
            "id": op_id,
            "type": "subscribe",
            "payload": {"query": READ, "variables": {"id": collection_id}},
        }
    )
    answer = await socket.receive()
    assert (await socket.receive())["type"] == "complete"
    return answer["payload"]["data"]["collection"]  # type: ignore[no-any-return]


async def test_a_query_on_an_open_socket_sees_later_writes(socket, http):
    collection_id = await http.create_collection("web-app")
    await http.add_resource(collection_id, "r0")
    connection = await socket("owner@example.com")
    assert ids(await ask(connection, "1", collection_id)) == ["r0"]

    await http.add_resource(collection_id, "r1")

    later = await ask(connection, "2", collection_id)
    assert ids(later) == ["r0", "r1"]
    assert later["resourceCount"] == 2


def hide(collection_id: str, resource_id: str) -> dict[str, Any]:
    grants = [{"subject": VIEWER, "role": "NONE"}]
    return {
        "input": {
            "collectionId": collection_id,
            "resourceType": "INSTANCE",
            "resourceId": resource_id,
            "grants": grants,
        }
    }


async def test_a_hidden_resource_disappears_from_an_open_socket(socket, http):
    collection_id = await http.create_collection("web-app", viewers=[VIEWER])
    for resource_id in ("r0", "r1", "r2"):
        await http.add_resource(collection_id, resource_id)
    data(await http(HIDE, hide(collection_id, "r0")))
    connection = await socket(VIEWER)
    assert ids(await ask(connection, "1", collection_id)) == ["r1", "r2"]

    data(await http(HIDE, hide(collection_id, "r1")))
    await http.remove_resource(collection_id, "r2")

    assert ids(await ask(connection, "2", collection_id)) == []


async def test_each_event_reads_the_collection_as_it_is_then(socket, http, server):
    collection_id = await http.create_collection("web-app")
    await server.wait_caught_up()
    connection = await socket("owner@example.com")
    await connection.send(
        {"id": "feed", "type": "subscribe", "payload": {"query": FEED}}
    )
    await server.wait_for_subscribers(1)

    for resource_id in ("r1", "r2", "r3"):
        await http.add_resource(collection_id, resource_id)

    seen = []
    for _ in range(3):
        message = await connection.receive()
        seen.append(message["payload"]["data"]["collectionEvents"]["collection"])
    assert ids(seen[-1]) == ["r1", "r2", "r3"]
    assert seen[-1]["resourceCount"] == 3
