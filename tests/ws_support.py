"""Real WebSocket and HTTP clients for the live-feed tests.

``live`` starts a real server (tests.live_server.serve) over a database
that the server may not close, so two servers can share one store and the
``database`` fixture stays the one that closes it. ``Api`` posts over real
HTTP; ``Socket`` speaks graphql-transport-ws or the legacy graphql-ws
protocol over a real WebSocket. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from gql_service.config import Settings
from gql_service.runtime import Runtime
from gql_service.storage.database import Database
from tests.conftest import SECRET, data, token_for
from tests.live_server import serve

TRANSPORT = "graphql-transport-ws"
LEGACY = "graphql-ws"
OWNER = "owner@example.com"
WAIT = 3.0

EVENTS = """
subscription Feed($project: String, $environment: String, $collectionId: ID,
                  $types: [EventType!], $after: String) {
  collectionEvents(project: $project, environment: $environment,
                   collectionId: $collectionId, types: $types, after: $after) {
    cursor type project environment collectionId collectionName
    resource { resourceId }
  }
}"""

CREATE_COLLECTION = """
mutation($input: CreateCollectionInput!) {
  createCollection(input: $input) { collection { id name } }
}"""

UPDATE_COLLECTION = """
mutation($input: UpdateCollectionInput!) {
  updateCollection(input: $input) { collection { id } }
}"""

ADD_RESOURCE = """
mutation($input: AddResourceInput!) {
  addResourceToCollection(input: $input) { resource { id } }
}"""

ADD_RESOURCES = """
mutation($input: AddResourcesInput!) {
  addResourcesToCollection(input: $input) { results { status } }
}"""

REMOVE_RESOURCE = """
mutation($input: RemoveResourceInput!) {
  removeResourceFromCollection(input: $input) { collection { id } }
}"""

PERMISSIONS = """
mutation($input: UpdateCollectionPermissionsInput!) {
  updateCollectionPermissions(input: $input) { collection { id } }
}"""

AUDIT_LOG = """
query($first: Int) {
  auditLog(first: $first) {
    edges { cursor node { type collectionName resource { resourceId } } }
  }
}"""

COLLECTION_CURSOR = "query { collections(first: 1) { pageInfo { endCursor } } }"


class SharedDatabase(Database):
    """The same store, but closing it is left to whoever opened it."""

    def close(self) -> None:
        return None

    @classmethod
    def of(cls, database: Database) -> SharedDatabase:
        return cls(database.client, database.raw, database.options, database.embedded)


def feed_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"jwt_secret": SECRET, "event_poll_seconds": 0.05}
    values.update(overrides)
    return Settings(**values)


@dataclass
class Server:
    address: str
    runtime: Runtime

    @property
    def subscribers(self) -> int:
        return self.runtime.services.hub.subscriber_count

    async def wait_for_subscribers(self, count: int, within: float = WAIT) -> None:
        await wait_until(lambda: self.subscribers == count, within)

    async def wait_caught_up(self, within: float = WAIT) -> None:
        """Wait until this process has tailed every event written so far.

        A subscription without ``after`` starts where the process's tailer
        is, so an event committed just before it may still arrive; tests that
        expect only later events wait for the tailer first.
        """
        head = await self.runtime.store.events.head()
        hub = self.runtime.services.hub
        await wait_until(lambda: hub.position >= head, within)


@contextlib.asynccontextmanager
async def live(database: Database, **overrides: Any) -> AsyncIterator[Server]:
    async with serve(SharedDatabase.of(database), feed_settings(**overrides)) as (
        address,
        runtime,
    ):
        yield Server(address, runtime)


async def wait_until(condition: Callable[[], bool], within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


class Api:
    """GraphQL over real HTTP, as a given subject."""

    def __init__(self, http: httpx.AsyncClient, address: str) -> None:
        self.http = http
        self.url = f"http://{address}/graphql"

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: str = OWNER
    ) -> dict[str, Any]:
        headers = {"Authorization": "Bearer " + token_for(as_)}
        response = await self.http.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers=headers,
        )
        body: dict[str, Any] = response.json()
        return body

    async def create_collection(
        self,
        name: str,
        *,
        project: str = "shop",
        environment: str = "development",
        as_: str = OWNER,
        **fields: Any,
    ) -> str:
        input_ = {
            "name": name,
            "project": project,
            "environment": environment,
            **fields,
        }
        body = await self(CREATE_COLLECTION, {"input": input_}, as_=as_)
        return str(data(body)["createCollection"]["collection"]["id"])

    async def add_resource(
        self, collection_id: str, resource_id: str, *, as_: str = OWNER
    ) -> None:
        input_ = {
            "collectionId": collection_id,
            "resourceType": "INSTANCE",
            "resourceId": resource_id,
        }
        data(await self(ADD_RESOURCE, {"input": input_}, as_=as_))

    async def add_resources(self, collection_id: str, resource_ids: list[str]) -> None:
        items = [{"resourceType": "INSTANCE", "resourceId": r} for r in resource_ids]
        input_ = {"collectionId": collection_id, "resources": items}
        results = data(await self(ADD_RESOURCES, {"input": input_}))
        statuses = {r["status"] for r in results["addResourcesToCollection"]["results"]}
        assert statuses == {"ADDED"}, statuses

    async def remove_resource(self, collection_id: str, resource_id: str) -> None:
        input_ = {
            "collectionId": collection_id,
            "resourceType": "INSTANCE",
            "resourceId": resource_id,
        }
        data(await self(REMOVE_RESOURCE, {"input": input_}))

    async def describe(self, collection_id: str, description: str) -> None:
        input_ = {"id": collection_id, "description": description}
        data(await self(UPDATE_COLLECTION, {"input": input_}))

    async def revoke(self, collection_id: str, subject: str) -> None:
        input_ = {"id": collection_id, "revoke": [subject]}
        data(await self(PERMISSIONS, {"input": input_}))

    async def audit_log(self) -> list[dict[str, Any]]:
        """The owner's events, oldest first, as (cursor, type, name, resource)."""
        edges = data(await self(AUDIT_LOG, {"first": 100}))["auditLog"]["edges"]
        return [feed_entry(edge["cursor"], edge["node"]) for edge in reversed(edges)]

    async def collection_list_cursor(self) -> str:
        body = data(await self(COLLECTION_CURSOR))
        return str(body["collections"]["pageInfo"]["endCursor"])


@contextlib.asynccontextmanager
async def api(server: Server) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        yield Api(http, server.address)


def feed_entry(cursor: str, event: dict[str, Any]) -> dict[str, Any]:
    resource = event.get("resource") or {}
    return {
        "cursor": cursor,
        "type": event["type"],
        "collectionName": event["collectionName"],
        "resourceId": resource.get("resourceId"),
    }


class ClosedError(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class Socket:
    """One WebSocket speaking ``protocol``; messages are decoded JSON."""

    def __init__(self, connection: ClientConnection, protocol: str) -> None:
        self.connection = connection
        self.protocol = protocol
        self.keep_alives = 0

    @classmethod
    async def open(
        cls, server: Server, protocol: str = TRANSPORT, **options: Any
    ) -> Socket:
        connection = await websockets.connect(
            f"ws://{server.address}/graphql",
            subprotocols=[protocol],  # type: ignore[list-item]
            proxy=None,
            open_timeout=WAIT,
            **options,
        )
        assert connection.subprotocol == protocol
        return cls(connection, protocol)

    async def init(self, payload: dict[str, Any] | None) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload})
        answer: dict[str, Any] = await self.receive()
        return answer

    async def authenticate(self, subject: str = OWNER, **claims: Any) -> None:
        token = token_for(subject, **claims)
        answer = await self.init({"Authorization": "Bearer " + token})
        assert answer["type"] == "connection_ack", answer

    async def subscribe(self, op_id: str, **variables: Any) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT else "start"
        payload = {"query": EVENTS, "variables": variables}
        await self.send({"id": op_id, "type": kind, "payload": payload})

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, within: float = WAIT, *, keep_alive: bool = False) -> Any:
        """The next message; legacy "ka" messages are counted and skipped."""
        while True:
            try:
                raw = await asyncio.wait_for(self.connection.recv(), within)
            except websockets.ConnectionClosed as exc:
                received = exc.rcvd
                code = received.code if received else None
                raise ClosedError(code, received.reason if received else "") from exc
            # Browser clients read text frames only: every message must be one.
            assert isinstance(raw, str), f"a binary frame: {raw[:80]!r}"
            message = json.loads(raw)
            if message.get("type") == "ka" and not keep_alive:
                self.keep_alives += 1
                continue
            return message

    async def event(self, op_id: str = "1", within: float = WAIT) -> dict[str, Any]:
        """The next event of ``op_id``; fails on an error or another message."""
        message = await self.receive(within)
        expected = "next" if self.protocol == TRANSPORT else "data"
        assert message.get("id") == op_id, message
        assert message["type"] == expected, message
        payload = message["payload"]
        assert not payload.get("errors"), payload
        event: dict[str, Any] = payload["data"]["collectionEvents"]
        return event

    async def events(self, count: int, op_id: str = "1") -> list[dict[str, Any]]:
        return [await self.event(op_id) for _ in range(count)]

    async def event_entries(self, count: int, op_id: str = "1") -> list[dict[str, Any]]:
        return [feed_entry(e["cursor"], e) for e in await self.events(count, op_id)]

    async def errors(self, op_id: str = "1") -> list[dict[str, Any]]:
        """The GraphQL errors of ``op_id``, sent as "error" or as a result."""
        message = await self.receive()
        assert message.get("id") == op_id, message
        payload = message["payload"]
        if message["type"] == "error":
            return payload if isinstance(payload, list) else [payload]
        assert message["type"] in {"next", "data"}, message
        assert payload.get("errors"), payload
        errors: list[dict[str, Any]] = payload["errors"]
        return errors

    async def close_code(self, within: float = WAIT) -> int | None:
        """Wait for the server to close; return its close code."""
        try:
            message = await self.receive(within)
        except ClosedError as closed:
            return closed.code
        raise AssertionError(f"expected the server to close, got {message}")

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake."""
        self.connection.transport.abort()

    async def close(self) -> None:
        await self.connection.close()
