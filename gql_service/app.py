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

from gql_service.api.http_security import add_browser_protections
from gql_service.api.limits import QueryLimits
from gql_service.api.pages import page_routes
from gql_service.api.rate_limit import RateLimiter
from gql_service.api.schema import build_schema
from gql_service.api.view import GraphQLView
from gql_service.bench_support import BenchMode
from gql_service.demo_hooks import DemoHooks
from gql_service.errors import ServiceUnavailableError
from gql_service.observability.heap import freeze_startup_objects
from gql_service.observability.logging import RequestIdMiddleware
from gql_service.observability.metering import DatabaseMeteringMiddleware
from gql_service.observability.metrics import Metrics
from gql_service.observability.tracing import instrument_tracing
from gql_service.runtime import Runtime

logger = logging.getLogger(__name__)


def create_app(
    runtime: Runtime, *, demo: bool = False, freeze_heap: bool = False
) -> Starlette:
    """The ASGI app. ``freeze_heap`` is for the process that serves (the CLI):
    it moves what startup built out of the garbage collector's way."""
    settings = runtime.settings
    schema = build_schema(
        introspection=settings.introspection or demo,
        limits=QueryLimits.from_settings(settings),
    )
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
        allowed_origins=settings.allowed_origins,
        rate_limiter=RateLimiter(
            settings.rate_limit_per_second, settings.rate_limit_burst
        ),
    )

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        try:
            await runtime.database.ping()
        except ServiceUnavailableError:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    metrics = Metrics(runtime)
    routes: list[BaseRoute] = [
        Route("/graphql", metrics.instrument(view)),
        WebSocketRoute("/graphql", view),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics.endpoint),
        *page_routes(),
    ]
    hooks_url = None
    if demo:
        routes += DemoHooks().routes()
        hooks_url = f"http://{settings.host}:{settings.port}/demo/hooks"
    bench: BenchMode | None = None
    if settings.bench_dataset:
        # Bench only (make bench): the data set and the baseline endpoints.
        bench = BenchMode(runtime, settings.bench_dataset)
        routes += bench.routes()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if bench is not None:
            await bench.load()
        await runtime.start(demo=demo, hooks_url=hooks_url)
        if freeze_heap:
            freeze_startup_objects()
        logger.info("Service ready")
        try:
            yield
        finally:
            await runtime.stop()
            logger.info("Service stopped")

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runtime = runtime
    add_browser_protections(app, settings.allowed_origins)
    app.state.metrics = metrics
    instrument_tracing(app, settings)
    if settings.expose_db_metrics:
        app.add_middleware(DatabaseMeteringMiddleware)
    # Added last, so outermost: every line logged for a request carries its id.
    app.add_middleware(RequestIdMiddleware)
    return app
