"""VultrInventory: live state, cost and drift from the fake Vultr API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from gql_service.config import Settings
from gql_service.domain.models import ResourceType
from gql_service.errors import UpstreamUnavailableError, VultrNotConfiguredError
from gql_service.vultr.client import VultrClient
from gql_service.vultr.cost import PlanCatalog
from gql_service.vultr.drift import DriftKind, DriftRef, collection_tag
from gql_service.vultr.endpoints import VultrKind
from gql_service.vultr.fake import FakeVultr, serve_fake
from gql_service.vultr.live import VultrInventory, require_inventory

API_KEY = "vk-live-" + "S3cr3tK3y" * 4
TAG = collection_tag("ecommerce-platform", "production", "web-app")
WEB_1 = "4f0f12e5-1f84-404f-aa84-85f431ea5ec2"
DB_1 = "9b2c6a1e-3d4f-4a5b-8c7d-0e1f2a3b4c5d"
UNKNOWN = "4b6f7e2c-0000-4000-8000-000000000000"
EXAMPLE = "cb676a46-66fd-4dfb-b839-443f2e6c0b60"
MANAGED = "999c4ed0-f2e4-4f2a-a951-de358ceb9ab5"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeVultr:
    return FakeVultr(api_key=API_KEY)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(fake: FakeVultr) -> AsyncIterator[VultrClient]:
    async with serve_fake(fake) as base_url:
        client = VultrClient(
            base_url,
            API_KEY,
            per_page=100,
            max_retries=2,
            backoff_base_seconds=0.01,
            backoff_max_seconds=0.02,
        )
        yield client
        await client.aclose()


@pytest.fixture
def inventory(client: VultrClient, clock: Clock) -> VultrInventory:
    return VultrInventory(client, ttl_seconds=30, clock=clock)


def lists_of(fake: FakeVultr, path: str) -> int:
    return sum(1 for line in fake.log if line.split("?")[0] == f"GET /v2/{path}")


async def test_live_state_of_an_instance(inventory: VultrInventory) -> None:
    key = (ResourceType.INSTANCE, WEB_1)

    state = (await inventory.live_states([key]))[key]

    assert state is not None
    assert state.exists
    assert (state.label, state.status, state.power_status) == (
        "web-1",
        "active",
        "running",
    )
    assert (state.region, state.plan) == ("ewr", "vc2-1c-1gb")
    assert state.monthly_cost == Decimal("5.00")
    assert state.vultr_tags == ["env:prod", "role:web"]
    assert state.checked_at.tzinfo is not None


async def test_unknown_id_does_not_exist(inventory: VultrInventory) -> None:
    key = (ResourceType.INSTANCE, UNKNOWN)

    state = (await inventory.live_states([key]))[key]

    assert state is not None
    assert not state.exists
    assert state.monthly_cost is None


async def test_dns_record_cannot_be_looked_up(
    inventory: VultrInventory, fake: FakeVultr
) -> None:
    key = (ResourceType.DNS_RECORD, "rec-1")

    states = await inventory.live_states([key])

    assert states == {key: None}
    assert fake.requests == 0


async def test_database_reads_its_single_tag_and_upper_case_region(
    inventory: VultrInventory,
) -> None:
    key = (ResourceType.MANAGED_DATABASE, MANAGED)

    state = (await inventory.live_states([key]))[key]

    assert state is not None
    assert (state.region, state.vultr_tags) == ("ewr", ["some tag"])
    assert state.monthly_cost == Decimal("15.00")


async def test_a_batch_lists_each_kind_once(
    inventory: VultrInventory, fake: FakeVultr
) -> None:
    keys = [
        (ResourceType.INSTANCE, WEB_1),
        (ResourceType.INSTANCE, DB_1),
        (ResourceType.INSTANCE, UNKNOWN),
        (ResourceType.BLOCK_STORAGE, EXAMPLE),
        (ResourceType.LOAD_BALANCER, EXAMPLE),
    ]

    await inventory.live_states(keys)

    assert lists_of(fake, "instances") == 1
    assert lists_of(fake, "blocks") == 1
    assert lists_of(fake, "load-balancers") == 1
    assert fake.requests == 6  # three lists and three plan catalogues


async def test_ttl_cache_makes_no_new_calls(
    inventory: VultrInventory, fake: FakeVultr, clock: Clock
) -> None:
    keys = [(ResourceType.INSTANCE, WEB_1)]
    await inventory.live_states(keys)
    first = fake.requests

    clock.now += 29
    await inventory.live_states(keys)
    await inventory.cost_summary(keys)
    within_ttl = fake.requests
    clock.now += 2
    await inventory.live_states(keys)

    assert within_ttl == first
    assert fake.requests == first + 1  # the list again; plans keep for an hour


async def test_concurrent_identical_fetches_share_one(
    inventory: VultrInventory, fake: FakeVultr, client: VultrClient
) -> None:
    keys = [(ResourceType.INSTANCE, WEB_1), (ResourceType.SSH_KEY, EXAMPLE)]

    results = await asyncio.gather(*(inventory.live_states(keys) for _ in range(20)))

    assert all(result == results[0] for result in results)
    assert lists_of(fake, "instances") == 1
    assert lists_of(fake, "ssh-keys") == 1
    assert client.calls == fake.requests == 5


async def test_a_failed_fetch_is_not_cached(
    inventory: VultrInventory, fake: FakeVultr
) -> None:
    keys = [(ResourceType.SSH_KEY, EXAMPLE)]
    fake.fail_next(3, 500)

    with pytest.raises(UpstreamUnavailableError) as caught:
        await inventory.live_states(keys)
    states = await inventory.live_states(keys)

    assert caught.value.code == "UPSTREAM_UNAVAILABLE"
    assert states[keys[0]] is not None


async def test_a_failed_list_answers_for_its_own_kind_only(
    inventory: VultrInventory, fake: FakeVultr
) -> None:
    web, db = (ResourceType.INSTANCE, WEB_1), (ResourceType.MANAGED_DATABASE, MANAGED)
    fake.break_path("databases")

    answers = await inventory.live_states_by_kind([web, db])

    assert isinstance(answers[db], UpstreamUnavailableError)
    assert answers[web] is not None and answers[web].exists  # type: ignore[union-attr]
    with pytest.raises(UpstreamUnavailableError):
        await inventory.live_states([web, db])
    fake.repair_path("databases")
    assert (await inventory.live_states([db]))[db].exists  # type: ignore[union-attr]


async def test_refresh_missing_finds_a_new_resource(
    inventory: VultrInventory, fake: FakeVultr, clock: Clock
) -> None:
    await inventory.live_states([(ResourceType.INSTANCE, WEB_1)])
    created = fake.add_instances(1)[0]
    key = (ResourceType.INSTANCE, created["id"])
    clock.now += 1

    cached = (await inventory.live_states([key]))[key]
    refreshed = (await inventory.live_states([key], refresh_missing=True))[key]

    assert cached is not None and not cached.exists
    assert refreshed is not None and refreshed.exists


async def test_invalidate_shows_an_operation_at_once(
    inventory: VultrInventory, client: VultrClient
) -> None:
    key = (ResourceType.INSTANCE, WEB_1)
    await inventory.live_states([key])

    await client.halt_instance(WEB_1)
    inventory.invalidate(VultrKind.INSTANCES)
    state = (await inventory.live_states([key]))[key]

    assert state is not None
    assert state.power_status == "stopped"


async def test_200_instances_from_a_bounded_number_of_calls(
    inventory: VultrInventory, fake: FakeVultr, client: VultrClient
) -> None:
    instances = fake.add_instances(200, tags=[TAG], plan="vc2-1c-2gb")
    keys = [(ResourceType.INSTANCE, item["id"]) for item in instances]

    states = await inventory.live_states(keys)
    cost = await inventory.cost_summary(keys)
    live_and_cost = (client.calls, fake.requests)
    drift = await inventory.drift(TAG, [DriftRef(*key) for key in keys])

    print(
        f"\n200 instances: live state and cost in {live_and_cost[0]} client calls "
        f"({live_and_cost[1]} requests seen by the fake), with drift "
        f"{client.calls} ({fake.requests}): {fake.log}"
    )
    assert all(state is not None and state.exists for state in states.values())
    assert cost.monthly_cost == Decimal("2000.00")
    assert cost.unknown_count == 0
    assert drift == []
    # 204 instances at 100 a page and the 3 plan catalogues; drift adds the
    # bare metal and database lists, where tagged resources may hide too.
    assert live_and_cost == (6, 6)
    assert client.calls == fake.requests == 8


async def test_cost_summary_by_type_with_unknowns(inventory: VultrInventory) -> None:
    keys = [
        (ResourceType.INSTANCE, WEB_1),  # vc2-1c-1gb: 5
        (ResourceType.INSTANCE, DB_1),  # vc2-2c-4gb: 20
        (ResourceType.INSTANCE, WEB_1),  # the same resource twice counts once
        (ResourceType.BLOCK_STORAGE, EXAMPLE),  # its own cost: 5
        (ResourceType.LOAD_BALANCER, EXAMPLE),  # one node: 10
        (ResourceType.SSH_KEY, EXAMPLE),  # free
        (ResourceType.RESERVED_IP, EXAMPLE),  # price not in the API
        (ResourceType.INSTANCE, UNKNOWN),  # not in Vultr
        (ResourceType.DNS_RECORD, "rec-1"),  # cannot be looked up
    ]

    cost = await inventory.cost_summary(keys)

    assert cost.monthly_cost == Decimal("40.00")
    assert cost.currency == "USD"
    assert cost.unknown_count == 3
    lines = {
        line.resource_type: (line.count, line.monthly_cost)
        for line in cost.by_resource_type
    }
    assert lines == {
        ResourceType.INSTANCE: (2, Decimal("25.00")),
        ResourceType.BLOCK_STORAGE: (1, Decimal("5.00")),
        ResourceType.LOAD_BALANCER: (1, Decimal("10.00")),
        ResourceType.SSH_KEY: (1, Decimal("0.00")),
    }


async def test_cost_summary_fails_when_plans_are_unavailable(
    inventory: VultrInventory, fake: FakeVultr
) -> None:
    keys = [(ResourceType.INSTANCE, WEB_1)]
    await inventory.drift(TAG, [])  # caches the instance list, not the plans
    fake.fail_next(3, 500)

    with pytest.raises(UpstreamUnavailableError):
        await inventory.cost_summary(keys)


async def test_live_state_survives_unavailable_plans(
    inventory: VultrInventory, fake: FakeVultr
) -> None:
    key = (ResourceType.INSTANCE, WEB_1)
    await inventory.drift(TAG, [])  # caches the instance list, not the plans
    fake.fail_next(3, 500)

    state = (await inventory.live_states([key]))[key]

    assert state is not None and state.exists
    assert state.monthly_cost is None


def test_plan_price_follows_the_region() -> None:
    catalog = PlanCatalog.from_items(
        [
            {
                "id": "vhf-8c-32gb",
                "monthly_cost": 192,
                "location_cost": {"sea": {"monthly_cost": 200.5}},
            }
        ]
    )

    assert catalog.monthly("vhf-8c-32gb", "SEA") == Decimal("200.5")
    assert catalog.monthly("vhf-8c-32gb", "ewr") == Decimal(192)
    assert catalog.monthly("unknown-plan", "ewr") is None


async def test_drift_in_sync(inventory: VultrInventory) -> None:
    refs = [DriftRef(ResourceType.INSTANCE, WEB_1, "web-1", "ewr")]

    drift = await inventory.drift(TAG, refs)

    assert drift == []


async def test_drift_missing_in_vultr(inventory: VultrInventory) -> None:
    refs = [DriftRef(ResourceType.INSTANCE, UNKNOWN, "gone", "ewr")]

    drift = await inventory.drift(TAG, refs)

    assert [(item.resource_id, item.kind) for item in drift] == [
        (UNKNOWN, DriftKind.MISSING_IN_VULTR)
    ]


async def test_drift_untracked_in_vultr(
    inventory: VultrInventory, fake: FakeVultr
) -> None:
    tagged = fake.add_instances(1, tags=["env:prod", TAG])[0]
    database = fake.items[VultrKind.DATABASES][0]
    database["tag"] = TAG
    fake.add_instances(
        1, tags=[collection_tag("ecommerce-platform", "staging", "web-app")]
    )

    drift = await inventory.drift(TAG, [])

    assert {(item.resource_type, item.resource_id, item.kind) for item in drift} == {
        (ResourceType.INSTANCE, tagged["id"], DriftKind.UNTRACKED_IN_VULTR),
        (ResourceType.MANAGED_DATABASE, database["id"], DriftKind.UNTRACKED_IN_VULTR),
    }


async def test_drift_changed_label_and_region(inventory: VultrInventory) -> None:
    refs = [
        DriftRef(ResourceType.INSTANCE, WEB_1, "web-01", "ams"),
        DriftRef(
            ResourceType.MANAGED_DATABASE,
            "999c4ed0-f2e4-4f2a-a951-de358ceb9ab5",
            None,
            "ewr",
        ),
    ]

    drift = await inventory.drift(TAG, refs)

    assert len(drift) == 1
    assert drift[0].kind is DriftKind.CHANGED
    assert drift[0].detail is not None
    assert "'web-1'" in drift[0].detail and "'ams'" in drift[0].detail


async def test_drift_skips_types_vultr_cannot_look_up(
    inventory: VultrInventory,
) -> None:
    refs = [DriftRef(ResourceType.DNS_RECORD, "rec-1", "www", None)]

    drift = await inventory.drift(TAG, refs)

    assert drift == []


def test_collection_tag_convention() -> None:
    assert TAG == "collection=ecommerce-platform/production/web-app"


def test_no_key_means_no_inventory() -> None:
    settings = Settings(vultr_api_key=None)

    inventory = VultrInventory.from_settings(settings)

    assert inventory is None
    with pytest.raises(VultrNotConfiguredError):
        require_inventory(inventory)
