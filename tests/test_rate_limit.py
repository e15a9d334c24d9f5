"""Rate limiting: a token bucket per subject (per address without a token),
refused before execution with RATE_LIMITED, a retry hint and HTTP 429."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from gql_service.api.rate_limit import MAX_KEYS, RateLimiter
from gql_service.config import Settings
from gql_service.errors import RateLimitedError
from tests.app_support import build_app, client_of, http_client
from tests.conftest import GraphQLClient, codes, data, token_for
from tests.readback import world
from tests.ws_support import Socket, live

OWNER = "owner@example.com"
OTHER = "other@example.com"
VIEWER = "{ viewer { subject } }"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _post(
    http: httpx.AsyncClient, query: str = VIEWER, *, as_: str | None = OWNER
) -> httpx.Response:
    headers = {"Authorization": "Bearer " + token_for(as_)} if as_ else {}
    return await http.post("/graphql", json={"query": query}, headers=headers)


async def _spend(http: httpx.AsyncClient, count: int, **options: Any) -> None:
    for _ in range(count):
        response = await _post(http, **options)
        assert response.status_code in (200, 401), response.text


# --------------------------------------------------------------------------
# The bucket
# --------------------------------------------------------------------------


def test_burst_is_allowed_then_refused():
    limiter = RateLimiter(rate=1, burst=3, clock=Clock())

    waits = [limiter.wait_seconds("a") for _ in range(4)]

    assert waits[:3] == [0, 0, 0]
    assert waits[3] == pytest.approx(1.0)


def test_tokens_come_back_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=2, clock=clock)
    for _ in range(2):
        limiter.wait_seconds("a")

    clock.now += 0.5

    assert limiter.wait_seconds("a") == 0
    assert limiter.wait_seconds("a") == pytest.approx(0.5)


def test_bucket_never_holds_more_than_the_burst():
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=2, clock=clock)
    limiter.wait_seconds("a")

    clock.now += 3600

    assert [limiter.wait_seconds("a") for _ in range(3)][2] > 0


def test_keys_have_buckets_of_their_own():
    limiter = RateLimiter(rate=1, burst=1, clock=Clock())
    limiter.wait_seconds("a")

    assert limiter.wait_seconds("b") == 0


def test_refusal_carries_a_whole_number_of_seconds():
    limiter = RateLimiter(rate=4, burst=1, clock=Clock())
    limiter.check("a")

    with pytest.raises(RateLimitedError) as refused:
        limiter.check("a")

    assert refused.value.code == "RATE_LIMITED"
    assert refused.value.extensions == {"retryAfterSeconds": 1}


def test_zero_rate_turns_the_limit_off():
    limiter = RateLimiter(rate=0, burst=1, clock=Clock())

    assert [limiter.wait_seconds("a") for _ in range(100)] == [0] * 100


def test_idle_buckets_are_forgotten_past_the_key_limit():
    clock = Clock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    for n in range(MAX_KEYS):
        limiter.wait_seconds(f"idle-{n}")
    clock.now += 10

    limiter.wait_seconds("busy-1")
    limiter.wait_seconds("busy-2")

    assert set(limiter.buckets) == {"busy-1", "busy-2"}


def test_busy_buckets_are_bounded_too():
    limiter = RateLimiter(rate=1, burst=1, clock=Clock())

    for n in range(MAX_KEYS + 50):
        limiter.wait_seconds(f"busy-{n}")

    assert len(limiter.buckets) <= MAX_KEYS
    assert f"busy-{MAX_KEYS + 49}" in limiter.buckets


def test_settings_default_to_20_per_second_burst_40(monkeypatch):
    monkeypatch.delenv("GQL_SERVICE_RATE_LIMIT_PER_SECOND", raising=False)
    monkeypatch.delenv("GQL_SERVICE_RATE_LIMIT_BURST", raising=False)

    settings = Settings(jwt_secret="s" * 32)

    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (20, 40)


def test_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("GQL_SERVICE_RATE_LIMIT_PER_SECOND", "5.5")
    monkeypatch.setenv("GQL_SERVICE_RATE_LIMIT_BURST", "7")

    settings = Settings(jwt_secret="s" * 32)

    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (5.5, 7)


# --------------------------------------------------------------------------
# Over HTTP
# --------------------------------------------------------------------------

# Slow enough that no token comes back during a test.
SLOW = {"rate_limit_per_second": 0.01, "rate_limit_burst": 3}


async def test_requests_within_the_burst_are_answered(database):
    async with http_client(database, **SLOW) as http:
        responses = [await _post(http) for _ in range(3)]

    assert [r.status_code for r in responses] == [200] * 3
    assert all("errors" not in r.json() for r in responses)


async def test_request_over_the_burst_is_429_with_a_retry_hint(database):
    async with http_client(database, **SLOW) as http:
        await _spend(http, 3)

        response = await _post(http)

    body = response.json()
    retry = body["errors"][0]["extensions"]["retryAfterSeconds"]
    assert response.status_code == 429
    assert codes(body) == ["RATE_LIMITED"]
    assert response.headers["retry-after"] == str(retry)
    assert 1 <= retry <= 100
    assert "data" not in body


async def test_refused_mutation_changes_nothing(database):
    mutation = 'mutation { createProject(input: {name: "shop"}) { project { id } } }'
    async with http_client(database, **SLOW) as http:
        await _spend(http, 3)

        response = await _post(http, mutation)

    async with http_client(database) as http:
        after = await world(GraphQLClient(http))
    assert response.status_code == 429
    assert after["projects"]["totalCount"] == 0


async def test_subjects_are_limited_separately(database):
    async with http_client(database, **SLOW) as http:
        await _spend(http, 3)

        response = await _post(http, as_=OTHER)

    assert response.status_code == 200
    assert data(response.json())["viewer"]["subject"] == OTHER


async def test_each_process_has_buckets_of_its_own(database):
    async with http_client(database, **SLOW) as first:
        await _spend(first, 3)
    async with http_client(database, **SLOW) as second:
        response = await _post(second)

    assert response.status_code == 200


async def test_one_process_limits_a_subject_across_addresses(database):
    app = await build_app(database, **SLOW)
    async with client_of(app, ("10.0.0.1", 1)) as first:
        await _spend(first, 3)
    async with client_of(app, ("10.0.0.2", 1)) as second:
        response = await _post(second)

    assert response.status_code == 429


async def test_anonymous_requests_are_limited_per_address(database):
    app = await build_app(database, **SLOW)
    async with client_of(app, ("10.0.0.1", 1)) as first:
        await _spend(first, 3, as_=None)
        refused = await _post(first, as_=None)
    async with client_of(app, ("10.0.0.2", 1)) as second:
        elsewhere = await _post(second, as_=None)

    assert refused.status_code == 429
    assert codes(refused.json()) == ["RATE_LIMITED"]
    assert elsewhere.status_code == 401
    assert codes(elsewhere.json()) == ["UNAUTHENTICATED"]


async def test_bad_tokens_count_against_the_address(database):
    async with http_client(database, **SLOW) as http:
        for _ in range(3):
            await http.post(
                "/graphql",
                json={"query": VIEWER},
                headers={"Authorization": "Bearer guessed"},
            )

        refused = await http.post(
            "/graphql",
            json={"query": VIEWER},
            headers={"Authorization": "Bearer guessed-again"},
        )
        signed_in = await _post(http)

    assert refused.status_code == 429
    assert signed_in.status_code == 200


async def test_get_queries_count_too(database):
    async with http_client(database, **SLOW) as http:
        await _spend(http, 3)

        response = await http.get(
            "/graphql",
            params={"query": VIEWER},
            headers={
                "Authorization": "Bearer " + token_for(OWNER),
                "Accept": "application/json",
            },
        )

    assert response.status_code == 429


async def test_limit_is_refused_before_the_query_is_parsed(database):
    async with http_client(database, **SLOW) as http:
        await _spend(http, 3)

        response = await _post(http, "{ this is not graphql")

    assert codes(response.json()) == ["RATE_LIMITED"]


async def test_tokens_come_back_over_time(database):
    fast = {"rate_limit_per_second": 20, "rate_limit_burst": 2}
    async with http_client(database, **fast) as http:
        await _spend(http, 2)
        refused = await _post(http)

        await asyncio.sleep(0.15)
        again = await _post(http)

    assert refused.status_code == 429
    assert again.status_code == 200


async def test_playground_page_is_not_counted(database):
    async with http_client(database, **SLOW) as http:
        pages = [
            await http.get("/graphql", headers={"Accept": "text/html"})
            for _ in range(5)
        ]
        response = await _post(http)

    assert [p.status_code for p in pages] == [200] * 5
    assert response.status_code == 200


async def test_rate_limited_answer_carries_the_security_headers(database):
    async with http_client(database, **SLOW) as http:
        await _spend(http, 3)

        response = await _post(http)

    assert response.status_code == 429
    assert response.headers["x-content-type-options"] == "nosniff"


# --------------------------------------------------------------------------
# Over WebSocket
# --------------------------------------------------------------------------


async def test_websocket_operations_share_the_subject_bucket(database):
    async with live(database, **SLOW) as server:
        socket = await Socket.open(server)
        try:
            await socket.authenticate()
            for op_id in ("1", "2", "3"):
                await socket.subscribe(op_id)

            await socket.subscribe("4")
            errors = await _errors_of(socket, "4")
        finally:
            await socket.close()

    assert [e["extensions"]["code"] for e in errors] == ["RATE_LIMITED"]
    assert errors[0]["extensions"]["retryAfterSeconds"] >= 1


async def _errors_of(socket: Socket, op_id: str) -> list[dict[str, Any]]:
    while True:
        message = await socket.receive()
        if message.get("id") == op_id:
            payload = message["payload"]
            assert message["type"] == "error", message
            return payload if isinstance(payload, list) else [payload]
