"""Fixtures for tests against a live server: the server, an API client on
it, and WebSockets that are dropped at teardown (loaded by conftest)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from gql_service.storage.database import Database
from tests.ws_support import TRANSPORT, Api, Server, Socket, api, live

OpenSocket = Callable[..., Awaitable[Socket]]


@pytest.fixture
async def server(database: Database) -> AsyncIterator[Server]:
    async with live(database) as running:
        yield running


@pytest.fixture
async def http(server: Server) -> AsyncIterator[Api]:
    async with api(server) as client:
        yield client


@pytest.fixture
async def open_socket(server: Server) -> AsyncIterator[OpenSocket]:
    """Open sockets to ``server`` (or another one); drop them all at teardown."""
    opened: list[Socket] = []

    async def opener(protocol: str = TRANSPORT, **options: Any) -> Socket:
        target = options.pop("to", server)
        socket = await Socket.open(target, protocol, **options)
        opened.append(socket)
        return socket

    yield opener
    for socket in opened:
        socket.abort()
