"""/healthz and /readyz: open to anyone, and they say nothing but the status."""

import pytest

from gql_service.errors import ServiceUnavailableError


def unreachable(_collection: str, _command: str) -> None:
    raise ServiceUnavailableError("connection refused to mongodb://db:27017")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_probe_needs_no_token(client, path):
    response = await client.get(path)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_probe_ignores_a_bad_token(client, path):
    response = await client.get(path, headers={"Authorization": "Bearer nonsense"})

    assert response.status_code == 200
    assert "www-authenticate" not in response.headers


async def test_readyz_is_503_when_the_store_fails(client, gateway_options):
    gateway_options.fault = unreachable

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


async def test_readyz_failure_reveals_no_detail(client, gateway_options):
    gateway_options.fault = unreachable

    response = await client.get("/readyz")

    assert "mongodb" not in response.text
    assert "refused" not in response.text


async def test_healthz_stays_up_when_the_store_fails(client, gateway_options):
    gateway_options.fault = unreachable

    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_recovers_with_the_store(client, gateway_options):
    gateway_options.fault = unreachable
    await client.get("/readyz")
    gateway_options.fault = None

    response = await client.get("/readyz")

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_probe_refuses_writes(client, path):
    response = await client.post(path)

    assert response.status_code == 405
