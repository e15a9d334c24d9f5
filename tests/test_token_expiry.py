"""A long-lived subscription stops delivering when its token expires."""

import asyncio
import json
import time

import httpx
import jwt
import websockets

from gql_service.config import Settings
from tests.conftest import SECRET, token_for
from tests.live_server import serve

SUBSCRIBE = "subscription { collectionEvents { type } }"
CREATE = """mutation($name: String!) { createCollection(input: {name: $name,
  project: "shop", environment: "development"}) { collection { id } } }"""


def short_token(seconds: float) -> str:
    claims = {"sub": "owner@example.com", "exp": time.time() + seconds}
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def test_subscription_ends_when_the_token_expires(database):
    settings = Settings(jwt_secret=SECRET, event_poll_seconds=0.05)
    async with (
        serve(database, settings) as (address, _runtime),
        websockets.connect(
            f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]
        ) as ws,
    ):
        token = short_token(1.5)
        await ws.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"Authorization": "Bearer " + token},
                }
            )
        )
        await ws.recv()
        await ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}
            )
        )
        await asyncio.sleep(2.0)
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            await http.post(
                "/graphql",
                json={"query": CREATE, "variables": {"name": "after-expiry"}},
                headers={"Authorization": "Bearer " + token_for("owner@example.com")},
            )

        messages = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            messages.append(message)
            if message["type"] in ("complete", "error"):
                break

    nexts = [m for m in messages if m["type"] == "next"]
    assert len(nexts) == 1
    error = nexts[0]["payload"]["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert nexts[0]["payload"]["data"] is None
