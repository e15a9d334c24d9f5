"""VultrClient against the fake Vultr API on a real loopback port."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from pydantic import ValidationError

from gql_service.config import Settings
from gql_service.vultr.client import VultrApiError, VultrClient
from gql_service.vultr.endpoints import VultrKind, item_id
from gql_service.vultr.fake import FakeVultr, serve_fake

API_KEY = "vk-test-" + "S3cr3tK3y" * 4
WRONG_KEY = "vk-wrong-" + "N0tTh3K3y" * 4
MAX_RETRIES = 3


def make_client(base_url: str, key: str = API_KEY, **options: object) -> VultrClient:
    settings: dict[str, object] = {
        "per_page": 2,
        "max_retries": MAX_RETRIES,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "rate_limit_per_second": 1000.0,
    }
    settings.update(options)
    return VultrClient(base_url, key, **settings)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> FakeVultr:
    return FakeVultr(api_key=API_KEY)


@pytest.fixture
async def base_url(fake: FakeVultr) -> AsyncIterator[str]:
    async with serve_fake(fake) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[VultrClient]:
    client = make_client(base_url)
    yield client
    await client.aclose()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_list_follows_cursor_across_pages(
    client: VultrClient, fake: FakeVultr
) -> None:
    expected = [item["id"] for item in fake.items[VultrKind.INSTANCES]]

    items = await client.list_all(VultrKind.INSTANCES)

    assert [item["id"] for item in items] == expected
    assert len(expected) == 4
    assert client.calls == fake.requests == 2
    assert "cursor=" in fake.log[1]


@pytest.mark.parametrize("kind", list(VultrKind))
async def test_list_all_reads_every_kind(
    client: VultrClient, fake: FakeVultr, kind: VultrKind
) -> None:
    items = await client.list_all(kind)

    assert len(items) == len(fake.items[kind]) > 0


async def test_list_of_many_pages_with_added_resources(
    client: VultrClient, fake: FakeVultr
) -> None:
    fake.add_instances(7)

    items = await client.list_all(VultrKind.INSTANCES)

    assert len(items) == 11
    assert len({item["id"] for item in items}) == 11
    assert fake.requests == 6


async def test_get_returns_the_item(client: VultrClient, fake: FakeVultr) -> None:
    instance = fake.items[VultrKind.INSTANCES][1]

    found = await client.get(VultrKind.INSTANCES, instance["id"])

    assert found == instance


async def test_get_of_unknown_id_is_none(client: VultrClient) -> None:
    found = await client.get(
        VultrKind.INSTANCES, "4b6f7e2c-0000-4000-8000-000000000000"
    )

    assert found is None


async def test_get_registry_reads_the_bare_object(
    client: VultrClient, fake: FakeVultr
) -> None:
    registry = fake.items[VultrKind.REGISTRIES][0]

    found = await client.get(VultrKind.REGISTRIES, registry["id"])

    assert found == registry


async def test_rate_limited_then_success(client: VultrClient, fake: FakeVultr) -> None:
    instance_id = fake.items[VultrKind.INSTANCES][0]["id"]
    fake.fail_next(1, 429, retry_after=0)

    found = await client.get(VultrKind.INSTANCES, instance_id)

    assert found is not None
    assert client.calls == fake.requests == 2


async def test_retry_after_is_honoured(client: VultrClient, fake: FakeVultr) -> None:
    fake.fail_next(1, 429, retry_after=1)
    started = time.monotonic()

    await client.list_all(VultrKind.SSH_KEYS)

    assert time.monotonic() - started >= 1.0
    assert fake.requests == 2


async def test_too_long_retry_after_fails_at_once(
    client: VultrClient, fake: FakeVultr
) -> None:
    fake.fail_next(1, 429, retry_after=600)

    with pytest.raises(VultrApiError) as caught:
        await client.list_all(VultrKind.SSH_KEYS)

    assert caught.value.code == "UPSTREAM_UNAVAILABLE"
    assert caught.value.reason == "rate_limited"
    assert fake.requests == 1


async def test_server_error_exhausts_retries(
    client: VultrClient, fake: FakeVultr
) -> None:
    fake.fail_next(MAX_RETRIES + 1, 500)

    with pytest.raises(VultrApiError) as caught:
        await client.list_all(VultrKind.INSTANCES)

    assert caught.value.code == "UPSTREAM_UNAVAILABLE"
    assert caught.value.status == 500
    assert client.calls == fake.requests == MAX_RETRIES + 1


async def test_server_error_then_success(client: VultrClient, fake: FakeVultr) -> None:
    fake.fail_next(MAX_RETRIES, 503)

    items = await client.list_all(VultrKind.SSH_KEYS)

    assert len(items) == 1
    assert fake.requests == MAX_RETRIES + 1


async def test_bad_key_is_refused_without_retry(base_url: str, fake: FakeVultr) -> None:
    client = make_client(base_url, WRONG_KEY)

    with pytest.raises(VultrApiError) as caught:
        await client.list_all(VultrKind.INSTANCES)
    await client.aclose()

    assert caught.value.code == "UPSTREAM_UNAVAILABLE"
    assert caught.value.reason == "key_refused"
    assert "refused the API key" in caught.value.message
    assert fake.requests == 1


async def test_malformed_body_is_a_clear_error(
    client: VultrClient, fake: FakeVultr
) -> None:
    fake.malform_next()

    with pytest.raises(VultrApiError) as caught:
        await client.list_all(VultrKind.INSTANCES)

    assert caught.value.code == "UPSTREAM_UNAVAILABLE"
    assert caught.value.reason == "malformed"
    assert "GET /instances" in caught.value.message
    assert "not JSON" in caught.value.message


async def test_body_without_envelope_is_malformed(
    client: VultrClient, fake: FakeVultr
) -> None:
    fake.malform_next(body=b'{"servers": []}')

    with pytest.raises(VultrApiError) as caught:
        await client.list_all(VultrKind.INSTANCES)

    assert caught.value.reason == "malformed"
    assert "'instances'" in caught.value.message


async def test_unreachable_vultr_is_upstream_unavailable() -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}/v2", max_retries=1)

    with pytest.raises(VultrApiError) as caught:
        await client.list_all(VultrKind.INSTANCES)
    await client.aclose()

    assert caught.value.code == "UPSTREAM_UNAVAILABLE"
    assert caught.value.reason == "network"
    assert client.calls == 2


async def test_key_never_in_errors_or_logs(
    base_url: str, fake: FakeVultr, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = make_client(base_url)
    wrong = make_client(base_url, WRONG_KEY)
    down = make_client(f"http://127.0.0.1:{closed_port()}/v2")
    errors: list[VultrApiError] = []

    fake.fail_next(MAX_RETRIES + 1, 500)
    fake.fail_next(MAX_RETRIES + 1, 429, retry_after=0)
    fake.malform_next()
    for _ in range(3):
        with pytest.raises(VultrApiError) as caught:
            await good.list_all(VultrKind.INSTANCES)
        errors.append(caught.value)
    for client in (wrong, down):
        with pytest.raises(VultrApiError) as caught:
            await client.get(VultrKind.INSTANCES, "x")
        errors.append(caught.value)
    for client in (good, wrong, down):
        await client.aclose()

    texts = [str(error) for error in errors] + [repr(error) for error in errors]
    texts += [repr(good), repr(wrong), caplog.text]
    texts += [record.getMessage() for record in caplog.records]
    assert {error.reason for error in errors} == {
        "server_error",
        "rate_limited",
        "malformed",
        "key_refused",
        "network",
    }
    assert any("retry" in record.getMessage() for record in caplog.records)
    for text in texts:
        assert API_KEY not in text
        assert WRONG_KEY not in text


async def test_instance_operations(client: VultrClient, fake: FakeVultr) -> None:
    instance = fake.items[VultrKind.INSTANCES][0]

    await client.halt_instance(instance["id"])
    halted = instance["power_status"]
    await client.start_instance(instance["id"])
    started = instance["power_status"]
    await client.reboot_instance(instance["id"])

    assert (halted, started) == ("stopped", "running")
    assert fake.log[-1] == f"POST /v2/instances/{instance['id']}/reboot"


async def test_operation_on_unknown_instance(client: VultrClient) -> None:
    with pytest.raises(VultrApiError) as caught:
        await client.start_instance("4b6f7e2c-0000-4000-8000-000000000000")

    assert caught.value.reason == "not_found"
    assert caught.value.status == 404


async def test_create_snapshot(client: VultrClient, fake: FakeVultr) -> None:
    instance_id = fake.items[VultrKind.INSTANCES][0]["id"]

    snapshot = await client.create_snapshot(instance_id, "before deploy")

    assert snapshot["description"] == "before deploy"
    assert fake.find(VultrKind.SNAPSHOTS, snapshot["id"]) is not None


async def test_snapshot_is_not_repeated_after_a_server_error(
    client: VultrClient, fake: FakeVultr
) -> None:
    instance_id = fake.items[VultrKind.INSTANCES][0]["id"]
    before = len(fake.items[VultrKind.SNAPSHOTS])
    fake.fail_next(1, 500)

    with pytest.raises(VultrApiError):
        await client.create_snapshot(instance_id, "once")

    assert fake.requests == 1
    assert len(fake.items[VultrKind.SNAPSHOTS]) == before


async def test_list_plans_reads_every_catalogue(
    client: VultrClient, fake: FakeVultr
) -> None:
    plans = await client.list_plans()

    assert plans["vc2-1c-1gb"] == Decimal(5)
    assert plans["vc2-1c-1gb-sc1"] == Decimal("7.5")
    assert plans["vbm-4c-32gb"] == Decimal(120)
    assert plans["vultr-dbaas-hobbyist-cc-1-25-1"] == Decimal(15)


async def test_rate_limiter_spaces_requests(base_url: str, fake: FakeVultr) -> None:
    client = make_client(base_url, rate_limit_per_second=10.0)
    instance_id = fake.items[VultrKind.INSTANCES][0]["id"]
    started = time.monotonic()

    for _ in range(10):
        await client.get(VultrKind.INSTANCES, instance_id)
    await client.aclose()

    # A burst of 5 passes at once; the other 5 wait a tenth of a second each.
    assert time.monotonic() - started >= 0.45


async def test_domains_are_found_by_name(client: VultrClient, fake: FakeVultr) -> None:
    domain = fake.items[VultrKind.DOMAINS][0]

    found = await client.get(VultrKind.DOMAINS, domain["domain"].upper())

    assert found == domain
    assert item_id(VultrKind.DOMAINS, domain) == "example.com"


def test_settings_without_key_give_no_client() -> None:
    settings = Settings(vultr_api_key="  ")

    assert VultrClient.from_settings(settings) is None


def test_settings_refuse_plain_http_to_a_remote_host() -> None:
    with pytest.raises(ValidationError):
        Settings(vultr_api_url="http://api.example.com/v2")


def test_settings_build_a_client_for_loopback() -> None:
    settings = Settings(vultr_api_key=API_KEY, vultr_api_url="http://127.0.0.1:1/v2/")

    client = VultrClient.from_settings(settings)

    assert client is not None
    assert client.base_url == "http://127.0.0.1:1/v2"
    assert API_KEY not in repr(client)
