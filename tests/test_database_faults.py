"""A database that goes away or hangs: quick SERVICE_UNAVAILABLE, then recovery."""

import asyncio
import time

from gql_service.errors import ServiceUnavailableError
from tests.conftest import codes, data
from tests.factories import create_collection

QUERY = "{ projects { totalCount } }"


def unreachable(_collection: str, _command: str) -> None:
    raise ServiceUnavailableError("connection refused")


def hanging(_collection: str, _command: str):
    return asyncio.sleep(30)


async def test_unreachable_store_answers_service_unavailable(gql, gateway_options):
    gateway_options.fault = unreachable

    body = await gql(QUERY)

    assert codes(body) == ["SERVICE_UNAVAILABLE"]
    assert "Traceback" not in str(body)


async def test_hanging_store_answers_quickly(gql, gateway_options):
    gateway_options.command_timeout = 0.2
    gateway_options.fault = hanging
    started = time.monotonic()

    body = await gql(QUERY)

    assert codes(body) == ["SERVICE_UNAVAILABLE"]
    assert time.monotonic() - started < 2


async def test_readyz_reports_the_outage_and_the_recovery(client, gateway_options):
    gateway_options.fault = unreachable
    down = await client.get("/readyz")
    gateway_options.fault = None

    up = await client.get("/readyz")

    assert down.status_code == 503
    assert down.json() == {"status": "unavailable"}
    assert up.status_code == 200


async def test_service_recovers_by_itself(gql, gateway_options):
    gateway_options.fault = unreachable
    await gql(QUERY)
    gateway_options.fault = None

    await create_collection(gql)
    body = await gql(QUERY)

    assert data(body)["projects"]["totalCount"] == 1


async def test_failed_write_leaves_nothing_behind(gql, gateway_options, runtime):
    def fail_collection_insert(collection: str, command: str) -> None:
        if collection == "service_collections" and command == "insert":
            raise ServiceUnavailableError("down")

    gateway_options.fault = fail_collection_insert
    body = await gql(
        """mutation { createCollection(input: {name: "a", project: "p",
           environment: "development"}) { collection { id } } }"""
    )
    gateway_options.fault = None

    assert codes(body) == ["SERVICE_UNAVAILABLE"]
    listed = data(await gql("{ collections { totalCount } }", admin=True))
    assert listed["collections"]["totalCount"] == 0
