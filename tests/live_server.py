"""A real uvicorn server on a loopback port, for WebSocket and HTTP tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn

from gql_service.app import create_app
from gql_service.auth.tokens import TokenVerifier
from gql_service.config import Settings
from gql_service.runtime import Runtime, build_runtime
from gql_service.storage.database import Database
from tests.conftest import SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(
    database: Database, settings: Settings | None = None
) -> AsyncIterator[tuple[str, Runtime]]:
    """Serve an app over ``database`` on 127.0.0.1; yield its base URL and runtime."""
    settings = settings or Settings(jwt_secret=SECRET, event_poll_seconds=0.05)
    runtime = build_runtime(
        settings, database=database, verifier=TokenVerifier(secret=SECRET)
    )
    port = free_port()
    config = uvicorn.Config(
        create_app(runtime),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}", runtime
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
