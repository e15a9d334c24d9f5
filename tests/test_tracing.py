"""OpenTelemetry: spans over OTLP/HTTP to the configured collector, or nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from gql_service.app import create_app
from gql_service.config import Settings
from gql_service.observability.tracing import traces_url
from gql_service.runtime import build_runtime
from tests.conftest import SECRET


class Collector:
    """A loopback OTLP/HTTP endpoint that keeps what it is sent."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                kind = self.headers.get("content-type", "")
                collector.posts.append((self.path, kind, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[dict[str, object]]:
        found = []
        for _path, _kind, body in self.posts:
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                service = {
                    a.key: a.value.string_value
                    for a in resource_spans.resource.attributes
                }["service.name"]
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        attributes = {
                            a.key: a.value.string_value for a in span.attributes
                        }
                        found.append(
                            {"name": span.name, "service": service, **attributes}
                        )
        return found


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def traced_app(database, endpoint: str | None):
    settings = Settings(jwt_secret=SECRET, otel_endpoint=endpoint)
    runtime = build_runtime(settings, database=database)
    return create_app(runtime)


async def call(app, path: str, request_id: str = "trace-1") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get(path, headers={"X-Request-ID": request_id})


def test_traces_url_appends_the_signal_path():
    assert traces_url("http://c:4318") == "http://c:4318/v1/traces"
    assert traces_url("http://c:4318/") == "http://c:4318/v1/traces"
    assert traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


def test_blank_endpoint_means_no_tracing():
    assert Settings(jwt_secret=SECRET, otel_endpoint=" ").otel_endpoint is None


async def test_no_endpoint_no_tracer(database):
    app = traced_app(database, None)

    assert not hasattr(app.state, "tracer_provider")


async def test_request_becomes_a_span_at_the_collector(database, collector):
    app = traced_app(database, collector.url)

    await call(app, "/graphql?query=%7B__typename%7D", "trace-1")
    app.state.tracer_provider.shutdown()

    path, kind, _body = collector.posts[0]
    assert path == "/v1/traces"
    assert kind == "application/x-protobuf"
    (server_span,) = [s for s in collector.spans() if s.get("request.id")]
    assert server_span["request.id"] == "trace-1"
    assert server_span["service"] == "gql-service"


async def test_probes_are_not_traced(database, collector):
    app = traced_app(database, collector.url)

    for path in ("/healthz", "/readyz", "/metrics"):
        await call(app, path)
    app.state.tracer_provider.shutdown()

    assert collector.spans() == []
