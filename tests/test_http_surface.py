"""The HTTP surface: methods, content types, CORS, WebSocket Origin, security
headers and the body size limit, including bodies that lie about their size.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import websockets

from gql_service.app import create_app
from gql_service.config import Settings
from tests.app_support import http_client
from tests.conftest import codes, data, token_for
from tests.readback import world
from tests.ws_support import Socket, live

OWNER = "owner@example.com"
APP_ORIGIN = "https://app.example.com"
OTHER_ORIGIN = "https://evil.example.net"
CREATE_PROJECT = 'mutation { createProject(input: {name: "shop"}) { project { id } } }'


def _auth(**headers: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token_for(OWNER), **headers}


def _graphql_shaped(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body["errors"] and all("code" in e["extensions"] for e in body["errors"])
    return body


# --------------------------------------------------------------------------
# Methods: queries over GET, mutations only over POST
# --------------------------------------------------------------------------


async def test_mutation_over_get_is_405_and_changes_nothing(gql, client):
    before = await world(gql)

    response = await client.get(
        "/graphql",
        params={"query": CREATE_PROJECT},
        headers=_auth(Accept="application/json"),
    )

    assert response.status_code == 405
    assert codes(_graphql_shaped(response)) == ["METHOD_NOT_ALLOWED"]
    assert await world(gql) == before


SUBSCRIPTION = "subscription { collectionEvents { cursor } }"


async def test_subscription_over_get_is_405(client):
    response = await client.get(
        "/graphql",
        params={"query": SUBSCRIPTION},
        headers=_auth(Accept="application/json"),
    )

    assert response.status_code == 405
    _graphql_shaped(response)


async def test_subscription_over_a_json_post_is_400(client):
    response = await client.post(
        "/graphql", json={"query": SUBSCRIPTION}, headers=_auth()
    )

    assert response.status_code == 400
    _graphql_shaped(response)


async def test_query_over_get_is_answered(client):
    response = await client.get(
        "/graphql",
        params={"query": "{ viewer { subject } }"},
        headers=_auth(Accept="application/json"),
    )

    assert response.json() == {"data": {"viewer": {"subject": OWNER}}}


async def test_mutation_over_post_takes_effect(gql):
    body = await gql(CREATE_PROJECT)

    assert data(body)["createProject"]["project"]["id"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405(client, method):
    response = await client.request(method, "/graphql", headers=_auth())

    assert response.status_code == 405
    _graphql_shaped(response)


# --------------------------------------------------------------------------
# Content types: application/json and application/graphql
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/graphql", "application/graphql; charset=utf-8"]
)
async def test_query_as_application_graphql_is_answered(client, content_type):
    response = await client.post(
        "/graphql",
        content="{ viewer { subject } }",
        headers=_auth(**{"Content-Type": content_type}),
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"subject": OWNER}}}


async def test_mutation_as_application_graphql_takes_effect(gql, client):
    response = await client.post(
        "/graphql",
        content=CREATE_PROJECT,
        headers=_auth(**{"Content-Type": "application/graphql"}),
    )

    assert data(response.json())["createProject"]["project"]["id"]
    assert (await world(gql))["projects"]["totalCount"] == 1


async def test_application_graphql_body_is_the_query_not_json(client):
    body = json.dumps({"query": "{ viewer { subject } }"})

    response = await client.post(
        "/graphql",
        content=body,
        headers=_auth(**{"Content-Type": "application/graphql"}),
    )

    assert codes(response.json()) == ["GRAPHQL_PARSE_FAILED"]


async def test_application_graphql_runs_the_operation_named_in_the_url(client):
    document = "query A { viewer { subject } } query B { __typename }"

    response = await client.post(
        "/graphql?operationName=B",
        content=document,
        headers=_auth(**{"Content-Type": "application/graphql"}),
    )

    assert response.json() == {"data": {"__typename": "Query"}}


async def test_application_graphql_that_is_not_utf8_is_400(client):
    response = await client.post(
        "/graphql",
        content=b"{ viewer { subject \xff } }",
        headers=_auth(**{"Content-Type": "application/graphql"}),
    )

    assert response.status_code == 400
    _graphql_shaped(response)


async def test_application_graphql_goes_through_the_limits(client):
    query = "{ " + " ".join(f"v{n}: viewer {{ subject }}" for n in range(31)) + " }"

    response = await client.post(
        "/graphql",
        content=query,
        headers=_auth(**{"Content-Type": "application/graphql"}),
    )

    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"]


async def test_other_content_type_is_415(client):
    response = await client.post(
        "/graphql",
        content="{ viewer { subject } }",
        headers=_auth(**{"Content-Type": "text/plain"}),
    )

    assert response.status_code == 415
    assert codes(_graphql_shaped(response)) == ["UNSUPPORTED_MEDIA_TYPE"]


# --------------------------------------------------------------------------
# CORS
# --------------------------------------------------------------------------

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


async def test_no_origin_is_allowed_by_default(client):
    preflight = await client.options(
        "/graphql", headers={"Origin": APP_ORIGIN, **PREFLIGHT}
    )

    simple = await client.post(
        "/graphql",
        json={"query": "{ viewer { subject } }"},
        headers=_auth(Origin=APP_ORIGIN),
    )

    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_configured_origin_passes_the_preflight(database):
    async with http_client(database, allowed_origins=[APP_ORIGIN]) as http:
        response = await http.options(
            "/graphql", headers={"Origin": APP_ORIGIN, **PREFLIGHT}
        )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type"} <= set(allowed.replace(" ", "").split(","))
    assert "access-control-allow-credentials" not in response.headers


async def test_configured_origin_reads_the_answer(database):
    async with http_client(database, allowed_origins=[APP_ORIGIN]) as http:
        response = await http.post(
            "/graphql",
            json={"query": "{ viewer { subject } }"},
            headers=_auth(Origin=APP_ORIGIN),
        )

    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert data(response.json())["viewer"]["subject"] == OWNER


async def test_unlisted_origin_is_refused(database):
    async with http_client(database, allowed_origins=[APP_ORIGIN]) as http:
        preflight = await http.options(
            "/graphql", headers={"Origin": OTHER_ORIGIN, **PREFLIGHT}
        )
        simple = await http.post(
            "/graphql",
            json={"query": "{ viewer { subject } }"},
            headers=_auth(Origin=OTHER_ORIGIN),
        )

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


def test_allowed_origins_are_read_comma_separated(monkeypatch):
    monkeypatch.setenv(
        "GQL_SERVICE_ALLOWED_ORIGINS", f" {APP_ORIGIN}, https://other.example.org ,"
    )

    settings = Settings(jwt_secret="s" * 32)

    assert settings.allowed_origins == [APP_ORIGIN, "https://other.example.org"]


# --------------------------------------------------------------------------
# WebSocket Origin
# --------------------------------------------------------------------------

OpenSocket = Callable[..., Awaitable[Socket]]


@pytest.fixture
async def socket_to(database) -> AsyncIterator[Callable[..., Awaitable[Socket]]]:
    """Opens sockets to a real server allowing APP_ORIGIN; closes them after."""
    async with live(database, allowed_origins=[APP_ORIGIN]) as server:
        sockets: list[Socket] = []

        async def opener(**options: Any) -> Socket:
            socket = await Socket.open(server, **options)
            sockets.append(socket)
            return socket

        opener.server = server  # type: ignore[attr-defined]
        yield opener
        for socket in sockets:
            await socket.close()


async def test_websocket_from_an_unlisted_origin_is_refused(socket_to):
    with pytest.raises(websockets.InvalidStatus) as refused:
        await socket_to(origin=OTHER_ORIGIN)

    assert refused.value.response.status_code == 403


async def test_websocket_from_a_listed_origin_is_accepted(socket_to):
    socket = await socket_to(origin=APP_ORIGIN)

    await socket.authenticate()


async def test_websocket_without_an_origin_is_accepted(socket_to):
    # Browsers always send Origin; command-line and server clients do not.
    socket = await socket_to()

    await socket.authenticate()


async def test_websocket_from_the_same_origin_is_accepted(socket_to):
    # The playground served by this service subscribes from its own origin.
    socket = await socket_to(origin=f"http://{socket_to.server.address}")

    await socket.authenticate()


async def test_websocket_origin_is_refused_when_no_origin_is_listed(database):
    async with live(database) as server:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await Socket.open(server, origin=APP_ORIGIN)

    assert refused.value.response.status_code == 403


# --------------------------------------------------------------------------
# Security headers
# --------------------------------------------------------------------------

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _has_security_headers(response: httpx.Response) -> bool:
    return all(response.headers.get(k) == v for k, v in SECURITY_HEADERS.items())


async def test_graphql_answers_carry_the_security_headers(client):
    response = await client.post(
        "/graphql", json={"query": "{ viewer { subject } }"}, headers=_auth()
    )

    assert _has_security_headers(response)
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/graphql", {}),
        ("PUT", "/graphql", {}),
        ("GET", "/healthz", {}),
        ("GET", "/nowhere", {}),
        ("OPTIONS", "/graphql", {"Origin": APP_ORIGIN, **PREFLIGHT}),
    ],
    ids=["unauthenticated", "method-not-allowed", "health", "not-found", "preflight"],
)
async def test_other_answers_carry_the_security_headers(client, method, path, headers):
    response = await client.request(method, path, headers=headers, json={})

    assert _has_security_headers(response)


async def test_playground_page_has_a_policy_of_its_own(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})

    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert response.headers["content-type"].startswith("text/html")
    assert _has_security_headers(response)
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]


# --------------------------------------------------------------------------
# Request body size
# --------------------------------------------------------------------------

ASGIMessage = dict[str, Any]


async def _asgi_post(
    app: Any, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, bytes, int]:
    """POST ``chunks`` straight to the ASGI app; (status, body, chunks read)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 123),
        "server": ("test", 80),
    }
    pending = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]
    read = 0
    sent: list[ASGIMessage] = []

    async def receive() -> ASGIMessage:
        nonlocal read
        if not pending:
            await asyncio.sleep(0)
            return {"type": "http.disconnect"}
        read += 1
        return pending.pop(0)

    async def send(message: ASGIMessage) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] != start["type"])
    return start["status"], body, read


def _padded_body(size: int) -> bytes:
    padding = "x" * size
    return json.dumps(
        {"query": "{ viewer { subject } }", "variables": {"p": padding}}
    ).encode()


@pytest.fixture
def app(runtime):
    return create_app(runtime)


async def test_body_over_the_limit_is_413(client, settings):
    response = await client.post(
        "/graphql",
        content=_padded_body(settings.max_body_bytes),
        headers=_auth(**{"Content-Type": "application/json"}),
    )

    assert response.status_code == 413
    assert codes(_graphql_shaped(response)) == ["PAYLOAD_TOO_LARGE"]


async def test_declared_length_over_the_limit_is_413_unread(app, settings):
    headers = _auth(
        **{
            "Content-Type": "application/json",
            "Content-Length": str(settings.max_body_bytes + 1),
        }
    )

    status, body, read = await _asgi_post(app, headers, [b"{}"])

    assert status == 413
    assert codes(json.loads(body)) == ["PAYLOAD_TOO_LARGE"]
    assert read == 0


async def test_body_longer_than_its_content_length_is_413(app, settings):
    chunk = b" " * 65536
    chunks = [chunk] * (2 * settings.max_body_bytes // len(chunk))
    headers = _auth(**{"Content-Type": "application/json", "Content-Length": "10"})

    status, body, read = await _asgi_post(app, headers, chunks)

    assert status == 413
    assert codes(json.loads(body)) == ["PAYLOAD_TOO_LARGE"]
    assert read <= settings.max_body_bytes // len(chunk) + 1


async def test_chunked_body_over_the_limit_is_413_early(app, settings):
    chunk = b" " * 65536
    chunks = [chunk] * (4 * settings.max_body_bytes // len(chunk))
    headers = _auth(
        **{"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    )

    status, body, read = await _asgi_post(app, headers, chunks)

    assert status == 413
    assert codes(json.loads(body)) == ["PAYLOAD_TOO_LARGE"]
    assert read <= settings.max_body_bytes // len(chunk) + 1


async def test_chunked_body_within_the_limit_is_answered(app):
    body = json.dumps({"query": "{ viewer { subject } }"}).encode()
    chunks = [body[:10], body[10:20], body[20:]]
    headers = _auth(
        **{"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    )

    status, answer, _read = await _asgi_post(app, headers, chunks)

    assert status == 200
    assert json.loads(answer) == {"data": {"viewer": {"subject": OWNER}}}


async def test_application_graphql_over_the_limit_is_413(client, settings):
    query = "{ viewer { subject } }" + " " * settings.max_body_bytes

    response = await client.post(
        "/graphql",
        content=query,
        headers=_auth(**{"Content-Type": "application/graphql"}),
    )

    assert response.status_code == 413
    _graphql_shaped(response)


async def test_chunked_upload_to_a_real_server_is_413(database):
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b" " * 65536

    async with (
        live(database) as server,
        httpx.AsyncClient(trust_env=False, timeout=30) as http,
    ):
        response = await http.post(
            f"http://{server.address}/graphql",
            content=chunks(),
            headers=_auth(**{"Content-Type": "application/json"}),
        )

    assert response.status_code == 413
    assert codes(_graphql_shaped(response)) == ["PAYLOAD_TOO_LARGE"]
