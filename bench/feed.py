"""A bench subscriber's start: connect over graphql-transport-ws, sign in,
subscribe (shared by the soak and the subscription benchmark)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import websockets


@contextlib.asynccontextmanager
async def subscribed(
    url: str, token: str, query: str, **connect_options: Any
) -> AsyncIterator[Any]:
    """The WebSocket to ``url``'s /graphql, signed in and subscribed to
    ``query`` as operation "1"; closed when the block ends."""
    async with websockets.connect(
        url.replace("http", "ws") + "/graphql",
        subprotocols=["graphql-transport-ws"],
        **connect_options,
    ) as ws:
        init = {
            "type": "connection_init",
            "payload": {"Authorization": "Bearer " + token},
        }
        await ws.send(json.dumps(init))
        await ws.recv()
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})
        )
        yield ws
