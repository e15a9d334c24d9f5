"""An app with settings of the test's own, for limits the shared fixture fixes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette

from gql_service.app import create_app
from gql_service.auth.tokens import TokenVerifier
from gql_service.config import Settings
from gql_service.runtime import build_runtime
from gql_service.storage.database import Database
from tests.conftest import SECRET

LOOPBACK = ("127.0.0.1", 123)


async def build_app(
    database: Database, *, demo: bool = False, **overrides: Any
) -> Starlette:
    """An app over ``database`` built with ``Settings(**overrides)``."""
    settings = Settings(jwt_secret=SECRET, **overrides)
    runtime = build_runtime(
        settings, database=database, verifier=TokenVerifier(secret=SECRET)
    )
    await runtime.store.create_indexes()
    return create_app(runtime, demo=demo)


@contextlib.asynccontextmanager
async def client_of(
    app: Starlette, client: tuple[str, int] = LOOPBACK
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` whose requests come from the address ``client``."""
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@contextlib.asynccontextmanager
async def http_client(
    database: Database,
    *,
    demo: bool = False,
    client: tuple[str, int] = LOOPBACK,
    **overrides: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a new app built with ``Settings(**overrides)``."""
    app = await build_app(database, demo=demo, **overrides)
    async with client_of(app, client) as http:
        yield http
