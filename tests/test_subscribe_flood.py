"""Thousands of subscribe messages on one connection: refused past the limit,
the connection and the server keep serving."""

import asyncio
import json

import httpx
import websockets

from gql_service.config import Settings
from tests.conftest import SECRET, token_for
from tests.live_server import serve

HEADERS = {"Authorization": "Bearer " + token_for("owner@example.com")}
SUBSCRIBE = "subscription { collectionEvents { type } }"


async def test_subscribe_flood_is_refused_past_the_limit(database):
    settings = Settings(
        jwt_secret=SECRET,
        event_poll_seconds=0.05,
        max_subscriptions_per_connection=5,
        rate_limit_per_second=0,
    )
    async with (
        serve(database, settings) as (address, runtime),
        websockets.connect(
            f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]
        ) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": HEADERS}))
        await ws.recv()
        for number in range(2000):
            await ws.send(
                json.dumps(
                    {
                        "id": str(number),
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIBE},
                    }
                )
            )
        refused = 0
        while refused < 1995:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "error":
                refused += 1
        live = runtime.services.hub.subscriber_count

        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            answer = await http.post(
                "/graphql",
                json={"query": "{ viewer { subject } }"},
                headers=HEADERS,
            )
        await ws.send(json.dumps({"type": "ping"}))
        pong = json.loads(await asyncio.wait_for(ws.recv(), 5))

    assert refused == 1995
    assert live <= 5
    assert answer.json()["data"]["viewer"]["subject"] == "owner@example.com"
    assert pong["type"] == "pong"
