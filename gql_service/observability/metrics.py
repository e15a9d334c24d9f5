"""Prometheus metrics of one app, served at /metrics from the app's own registry.

GraphQL requests over HTTP are counted and timed around the endpoint. The
tallies kept by lower layers (events recorded, run status changes, database
commands and errors) and the live subscriber count are read from the
runtime at scrape time, so those layers need no metrics library.

Label values stay bounded: an operation name is kept only when it looks
like a GraphQL name and is among the first ``MAX_OPERATION_NAMES`` seen;
an outcome is "ok" or an error code, which the service defines.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from gql_service.domain.workflows import RunStatus
from gql_service.errors import HTTP_STATUS_CODES
from gql_service.events.model import EventType

if TYPE_CHECKING:
    from gql_service.runtime import Runtime

PREFIX = "gql_service_"
MAX_OPERATION_NAMES = 100
OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


@dataclass(slots=True)
class RequestRecord:
    """What one GraphQL request over HTTP turned out to be."""

    operation: str | None = None
    # Set once the request named an operation (the IDE page never does).
    is_operation: bool = False
    # The execution result, read when the answer has gone out: by then every
    # extension has put its codes on the errors.
    result: Any = None

    @property
    def errors(self) -> list[Any]:
        return list(getattr(self.result, "errors", None) or [])


current_request: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar(
    "current_request", default=None
)


def note_operation(name: str | None) -> None:
    """Record the operation name a request asked for, before it runs."""
    record = current_request.get()
    if record is not None:
        record.is_operation = True
        record.operation = name


class OperationRecorder(SchemaExtension):
    """Tells the request's record the operation's real name and its errors."""

    def on_operation(self) -> Iterator[None]:
        yield
        record = current_request.get()
        if record is None:
            return
        context = self.execution_context
        record.is_operation = True
        record.operation = context.operation_name or record.operation
        record.result = context.result


class OperationNames:
    """Maps operation names to a bounded set of label values."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if not OPERATION_NAME.fullmatch(name):
            return "other"
        if name not in self._seen:
            if len(self._seen) >= self._limit:
                return "other"
            self._seen.add(name)
        return name


def outcome_of(record: RequestRecord, status: int) -> str:
    """The outcome label: ok, or the code of the answer's first error."""
    if status >= 500:
        return "INTERNAL_SERVER_ERROR"
    if status >= 400:
        return HTTP_STATUS_CODES.get(status, "BAD_REQUEST")
    errors = record.errors
    if not errors:
        return "ok"
    extensions = getattr(errors[0], "extensions", None) or {}
    code = extensions.get("code")
    if not isinstance(code, str):
        return "INTERNAL_SERVER_ERROR"
    return code if ERROR_CODE.fullmatch(code) else "other"


class RuntimeCollector:
    """Reads the process's own tallies when Prometheus scrapes."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def describe(self) -> Iterable[Metric]:
        # Nothing to check at registration: the names are fixed and unique.
        return []

    def collect(self) -> Iterable[Metric]:
        services = self._runtime.services
        subscriptions = GaugeMetricFamily(
            PREFIX + "active_subscriptions",
            "Live GraphQL subscriptions of this process.",
            value=services.hub.subscriber_count,
        )
        events = CounterMetricFamily(
            PREFIX + "events_recorded",
            "Events committed to the log by this process, by type.",
            labels=["type"],
        )
        recorded = services.log.recorded
        for event_type in EventType:
            events.add_metric([event_type.value], recorded[event_type.value])
        runs = CounterMetricFamily(
            PREFIX + "workflow_run_transitions",
            "Workflow runs entering a status in this process (QUEUED on creation).",
            labels=["status"],
        )
        transitions = services.recorder.transitions
        for status in RunStatus:
            runs.add_metric([status.value], transitions[status.value])
        yield from (subscriptions, events, runs, *self._database())

    def _database(self) -> Iterator[Metric]:
        totals = self._runtime.database.options.totals
        yield CounterMetricFamily(
            PREFIX + "database_commands",
            "Database commands sent by this process.",
            value=totals.commands,
        )
        yield CounterMetricFamily(
            PREFIX + "database_command_seconds",
            "Time spent in database commands.",
            value=totals.seconds,
        )
        yield CounterMetricFamily(
            PREFIX + "database_errors",
            "Database commands that failed (unreachable or refused by the server).",
            value=totals.errors,
        )


class Metrics:
    """The metrics of one app; several apps in one process stay apart."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            PREFIX + "graphql_requests",
            "GraphQL requests over HTTP by operation name and outcome "
            "(ok, or the code of the first error).",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            PREFIX + "graphql_request_duration_seconds",
            "Time to answer a GraphQL request over HTTP.",
            ["operation"],
            registry=self.registry,
        )
        self.registry.register(RuntimeCollector(runtime))
        self.names = OperationNames()

    def instrument(self, endpoint: ASGIApp) -> ASGIApp:
        """Wrap the HTTP side of the GraphQL endpoint to count and time it."""
        return MeteredEndpoint(endpoint, self)

    def observe(self, record: RequestRecord, status: int, seconds: float) -> None:
        if not record.is_operation and status < 400:
            return
        operation = self.names.label(record.operation)
        self.requests.labels(operation, outcome_of(record, status)).inc()
        self.latency.labels(operation).observe(seconds)

    async def endpoint(self, _request: Request) -> Response:
        return Response(
            generate_latest(self.registry), media_type=CONTENT_TYPE_PLAIN_0_0_4
        )


class MeteredEndpoint:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        record = RequestRecord()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        token = current_request.set(record)
        started = time.perf_counter()
        try:
            await self._app(scope, receive, send_status)
        finally:
            current_request.reset(token)
            self._metrics.observe(record, status, time.perf_counter() - started)
