"""The Starlette application: routes, the GraphQL view and the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gql_service.api.schema import build_schema
from gql_service.api.view import GraphQLView
from gql_service.demo_hooks import DemoHooks
from gql_service.errors import ServiceUnavailableError
from gql_service.runtime import Runtime

logger = logging.getLogger(__name__)


def create_app(runtime: Runtime, *, demo: bool = False) -> Starlette:
    settings = runtime.settings
    schema = build_schema(introspection=settings.introspection or demo)
    view = GraphQLView(
        schema,
        runtime.services,
        runtime.verifier,
        max_body_bytes=settings.max_body_bytes,
        graphql_ide="graphiql",
        keep_alive=True,
        keep_alive_interval=settings.keepalive_seconds,
        connection_init_wait_timeout=timedelta(seconds=10),
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
    )

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        try:
            await runtime.database.ping()
        except ServiceUnavailableError:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    routes: list[BaseRoute] = [
        Route("/graphql", view),
        WebSocketRoute("/graphql", view),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    hooks_url = None
    if demo:
        routes += DemoHooks().routes()
        hooks_url = f"http://{settings.host}:{settings.port}/demo/hooks"

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await runtime.start(demo=demo, hooks_url=hooks_url)
        logger.info("Service ready")
        try:
            yield
        finally:
            await runtime.stop()
            logger.info("Service stopped")

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runtime = runtime
    return app
