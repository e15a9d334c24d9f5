"""Shared fixtures: an app on the embedded store (or a real MongoDB) and a client."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gql_service.app import create_app
from gql_service.auth.tokens import TokenVerifier, issue_token
from gql_service.config import Settings
from gql_service.runtime import Runtime, build_runtime
from gql_service.storage.database import Database, open_embedded, open_mongodb
from gql_service.storage.gateway import GatewayOptions

# Live-server fixtures (server, http, open_socket) for the WebSocket tests,
# and the workflow tests' harness, seed and receiver (h, ids, receiver).
pytest_plugins = ["tests.ws_fixtures", "tests.workflow_fixtures"]

SECRET = "test-secret-" + "x" * 40
MONGODB_URI = os.environ.get("GQL_SERVICE_TEST_MONGODB_URI")


def pytest_report_header() -> str:
    if MONGODB_URI:
        return (
            "storage tests: embedded store and the MongoDB "
            "at GQL_SERVICE_TEST_MONGODB_URI"
        )
    return (
        "storage tests: embedded store only; the real-MongoDB run is SKIPPED because "
        "GQL_SERVICE_TEST_MONGODB_URI is not set"
    )


def token_for(
    subject: str, *, groups: list[str] | None = None, admin: bool = False
) -> str:
    return issue_token(SECRET, subject, groups=groups, admin=admin)


@pytest.fixture(
    params=[
        "embedded",
        pytest.param(
            "mongodb",
            marks=pytest.mark.skipif(
                not MONGODB_URI,
                reason="GQL_SERVICE_TEST_MONGODB_URI is not set: "
                "the real-MongoDB run of the storage tests is skipped",
            ),
        ),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def gateway_options() -> GatewayOptions:
    # Yield around every call: mongomock-motor never does, so races would hide.
    return GatewayOptions(yield_around_calls=True)


@pytest.fixture
async def database(
    backend: str, gateway_options: GatewayOptions
) -> AsyncIterator[Database]:
    name = "test_" + uuid.uuid4().hex[:12]
    if backend == "embedded":
        db = open_embedded(name, gateway_options)
    else:
        assert MONGODB_URI
        db = open_mongodb(MONGODB_URI, name, 5000, gateway_options)
    yield db
    if backend == "mongodb":
        await db.client.drop_database(name)
    db.close()


@pytest.fixture
def settings() -> Settings:
    # The rate limit stays on but out of reach: tests fire bursts as one
    # subject. tests/test_rate_limit.py sets its own.
    return Settings(
        jwt_secret=SECRET,
        introspection=True,
        rate_limit_per_second=10_000,
        rate_limit_burst=10_000,
    )


@pytest.fixture
async def runtime(settings: Settings, database: Database) -> AsyncIterator[Runtime]:
    runtime = build_runtime(
        settings, database=database, verifier=TokenVerifier(secret=SECRET)
    )
    await runtime.store.create_indexes()
    yield runtime


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


class GraphQLClient:
    """Posts operations as a given subject and returns the decoded body."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: str | None = "owner@example.com",
        groups: list[str] | None = None,
        admin: bool = False,
    ) -> dict[str, Any]:
        headers = {}
        if as_ is not None:
            headers["Authorization"] = "Bearer " + token_for(
                as_, groups=groups, admin=admin
            )
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
        )
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def data(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"]
    return result
