"""OpenTelemetry traces over OTLP/HTTP, when GQL_SERVICE_OTEL_ENDPOINT is set.

Each HTTP request and WebSocket connection becomes a server span (health,
readiness and metrics probes excepted), tagged with the request id. The
tracer provider belongs to the app, not to the process, so several apps in
one process (tests) keep their spans apart.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette

from gql_service.config import Settings
from gql_service.observability.logging import request_id
from gql_service.runtime import ConfigurationError

logger = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
UNTRACED = "healthz,readyz,metrics"


def traces_url(endpoint: str) -> str:
    """The collector's traces URL from its base URL (or the full URL)."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def instrument_tracing(app: Starlette, settings: Settings) -> None:
    if settings.otel_endpoint is None:
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigurationError(
            "GQL_SERVICE_OTEL_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'gql-service[otel]'"
        ) from exc

    url = traces_url(str(settings.otel_endpoint))
    resource = Resource.create({"service.name": settings.otel_service_name})
    # The SDK flushes and shuts the provider down at process exit.
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    app.add_middleware(
        OpenTelemetryMiddleware,
        excluded_urls=UNTRACED,
        server_request_hook=_tag_request,
        tracer_provider=provider,
    )
    app.state.tracer_provider = provider
    parts = urlsplit(url)
    logger.info("Sending traces to %s://%s", parts.scheme, parts.hostname)


def _tag_request(span: Any, _scope: dict[str, Any]) -> None:
    current = request_id.get()
    if current is not None and span.is_recording():
        span.set_attribute("request.id", current)
