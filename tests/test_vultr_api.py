"""The Vultr capability through GraphQL, with the fake Vultr API on loopback.

Every test starts the fake on a free 127.0.0.1 port and builds the service
over it; nothing here talks to any other host. Lists are cached for the
configured TTL, so a test that changes the fake's account after the service
has read it calls ``invalidate()``, as the TTL running out would.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId

from gql_service.app import create_app
from gql_service.auth.tokens import TokenVerifier
from gql_service.config import Settings
from gql_service.domain.models import (
    ResourceReference,
    ResourceType,
    ServiceCollection,
    utc_now,
)
from gql_service.domain.workflows import (
    ResourceManagementAction,
    ResourceOperation,
    Run,
    RunStatus,
    WorkflowTrigger,
)
from gql_service.runtime import Runtime, build_runtime
from gql_service.storage.database import Database
from gql_service.vultr.drift import collection_tag
from gql_service.vultr.endpoints import VultrKind
from gql_service.vultr.fake import FakeVultr, serve_fake
from gql_service.vultr.live import VultrInventory
from gql_service.workflows.actions import StepContext, StepExecutor, StepFailedError
from tests.conftest import SECRET, GraphQLClient, codes, data
from tests.factories import create_collection

API_KEY = "vk-api-" + "S3cr3tK3y" * 4
WRONG_KEY = "vk-wrong-" + "N0tTh3K3y" * 4
PROJECT = "shop"
ENVIRONMENT = "production"
NAME = "web-app"
OWNER = "owner@example.com"
STRANGER = "stranger@example.com"
# Seed instances of the fake (tests/data/vultr): label, region, plan, price.
WEB_1 = "4f0f12e5-1f84-404f-aa84-85f431ea5ec2"  # web-1, ewr, vc2-1c-1gb, 5.00
DB_1 = "9b2c6a1e-3d4f-4a5b-8c7d-0e1f2a3b4c5d"  # db-1, ewr, vc2-2c-4gb, 20.00
MANAGED = "999c4ed0-f2e4-4f2a-a951-de358ceb9ab5"  # a managed database
BUILD_1 = "c2790719-278d-474c-8dff-cb35d6e5503f"  # build-1, ams, vc2-1c-2gb, 10.00
# The id of the fake's example load balancer (1 node), block (cost 5), ...
EXAMPLE = "cb676a46-66fd-4dfb-b839-443f2e6c0b60"
UNKNOWN = "4b6f7e2c-0000-4000-8000-000000000000"
REQUEST_BOUND = 8

LIVE = """
fragment Live on ResourceReference {
  live {
    exists label status powerStatus region plan monthlyCost vultrTags checkedAt
  }
}"""

COST = """
fragment Cost on CostSummary {
  monthlyCost currency unknownCount
  byResourceType { resourceType count monthlyCost }
}"""

RESOURCES_LIVE = (
    """
query($id: ID!) {
  collection(id: $id) {
    name
    resourceCount
    resources { nodes { resourceType resourceId resourceName ...Live } }
  }
}"""
    + LIVE
)

COLLECTION_COST = (
    """
query($id: ID!) {
  collection(id: $id) { name cost { ...Cost } }
}"""
    + COST
)

PROJECT_COST = (
    """
query($name: String!) {
  project(name: $name) {
    name
    cost { ...Cost }
    environments { name cost { monthlyCost unknownCount } }
  }
}"""
    + COST
)

DRIFT = """
query($id: ID!) {
  driftReport(collectionId: $id) {
    collection { id name }
    checkedAt
    inSync
    items { resourceType resourceId kind detail }
  }
}"""

ADD_ONE = """
mutation($input: AddResourceInput!) {
  addResourceToCollection(input: $input) {
    collection { resourceCount }
    resource { resourceType resourceId }
  }
}"""

ADD_MANY = """
mutation($input: AddResourcesInput!) {
  addResourcesToCollection(input: $input) {
    collection { resourceCount }
    results { resourceType resourceId status message }
  }
}"""

COUNT = """
query($id: ID!) {
  collection(id: $id) { resourceCount resources { totalCount } }
}"""

EVERYTHING_VULTR = (
    """
query($id: ID!, $project: String!) {
  collection(id: $id) {
    name
    cost { ...Cost }
    resources { nodes { resourceId live { exists } } }
  }
  project(name: $project) {
    name
    cost { monthlyCost }
    environments { name cost { monthlyCost } }
  }
}"""
    + COST
)

TWO_HUNDRED = """
query($id: ID!) {
  collection(id: $id) {
    cost { monthlyCost unknownCount byResourceType { resourceType count } }
    a: resources(first: 100, filter: {tags: [{key: "half", value: "a"}]}) {
      nodes { resourceId live { exists monthlyCost } }
    }
    b: resources(first: 100, filter: {tags: [{key: "half", value: "b"}]}) {
      nodes { resourceId live { exists monthlyCost } }
    }
  }
}"""


@dataclass
class Api:
    runtime: Runtime
    gql: GraphQLClient

    @property
    def inventory(self) -> VultrInventory:
        inventory = self.runtime.services.vultr
        assert inventory is not None
        return inventory


@contextlib.asynccontextmanager
async def open_api(settings: Settings, database: Database) -> AsyncIterator[Api]:
    """The service over ``database``, spoken to in-process; stopped after."""
    runtime = build_runtime(
        settings, database=database, verifier=TokenVerifier(secret=SECRET)
    )
    await runtime.store.create_indexes()
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test"
        ) as http:
            yield Api(runtime, GraphQLClient(http))
    finally:
        await runtime.stop()


def keyed_settings(base_url: str, key: str = API_KEY) -> Settings:
    # One retry (not the default three) keeps the outage tests fast.
    return Settings(
        jwt_secret=SECRET,
        vultr_api_key=key,
        vultr_api_url=base_url,
        vultr_max_retries=1,
        run_workflows=False,
    )


@pytest.fixture
def fake() -> FakeVultr:
    return FakeVultr(api_key=API_KEY)


@pytest.fixture
async def vultr_url(fake: FakeVultr) -> AsyncIterator[str]:
    async with serve_fake(fake) as url:
        yield url


@pytest.fixture
async def api(vultr_url: str, database: Database) -> AsyncIterator[Api]:
    async with open_api(keyed_settings(vultr_url), database) as opened:
        yield opened


@pytest.fixture
async def keyless(vultr_url: str, database: Database) -> AsyncIterator[Api]:
    # The fake runs and the URL points at it; only the key is missing.
    settings = Settings(jwt_secret=SECRET, vultr_api_url=vultr_url)
    async with open_api(settings, database) as opened:
        yield opened


async def new_collection(
    gql: GraphQLClient,
    *,
    name: str = NAME,
    environment: str = ENVIRONMENT,
    region: str | None = "ewr",
    **fields: Any,
) -> str:
    created = await create_collection(
        gql,
        name=name,
        project=PROJECT,
        environment=environment,
        region=region,
        **fields,
    )
    return str(created["id"])


def item(
    resource_id: str,
    resource_type: str = "INSTANCE",
    name: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "resourceId": resource_id,
        "resourceName": name,
        **fields,
    }


async def add_many(
    gql: GraphQLClient, collection_id: str, items: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    variables = {"input": {"collectionId": collection_id, "resources": list(items)}}
    return await gql(ADD_MANY, variables)


async def add_all(
    gql: GraphQLClient, collection_id: str, items: Iterable[dict[str, Any]]
) -> None:
    results = data(await add_many(gql, collection_id, items))[
        "addResourcesToCollection"
    ]["results"]
    assert {r["status"] for r in results} == {"ADDED"}, results


async def add_one(
    gql: GraphQLClient, collection_id: str, new: dict[str, Any]
) -> dict[str, Any]:
    return await gql(ADD_ONE, {"input": {"collectionId": collection_id, **new}})


def nodes_by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = data(body)["collection"]["resources"]["nodes"]
    return {node["resourceId"]: node for node in nodes}


def forget_instance(api: Api, fake: FakeVultr, instance_id: str) -> None:
    """Delete the instance in Vultr and let the service's cache run out."""
    assert fake.remove(VultrKind.INSTANCES, instance_id)
    api.inventory.invalidate()


def drift_kinds(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    items = data(body)["driftReport"]["items"]
    return {(i["resourceType"], i["resourceId"], i["kind"]) for i in items}


# ---------------------------------------------------------------------------
# 1. Live state
# ---------------------------------------------------------------------------


async def test_live_state_of_an_instance(api: Api) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(WEB_1, name="web-1")])

    body = await api.gql(RESOURCES_LIVE, {"id": collection_id})

    live = nodes_by_id(body)[WEB_1]["live"]
    assert live["exists"] is True
    assert (live["label"], live["status"], live["powerStatus"]) == (
        "web-1",
        "active",
        "running",
    )
    assert (live["region"], live["plan"]) == ("ewr", "vc2-1c-1gb")
    assert live["monthlyCost"] == "5.00"
    assert live["vultrTags"] == ["env:prod", "role:web"]
    assert datetime.fromisoformat(live["checkedAt"]).utcoffset() is not None


async def test_live_state_of_a_stopped_instance_in_another_region(
    api: Api,
) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(DB_1), item(BUILD_1)])

    body = await api.gql(RESOURCES_LIVE, {"id": collection_id})

    nodes = nodes_by_id(body)
    assert nodes[DB_1]["live"]["powerStatus"] == "stopped"
    assert nodes[DB_1]["live"]["monthlyCost"] == "20.00"
    assert nodes[BUILD_1]["live"]["region"] == "ams"
    assert nodes[BUILD_1]["live"]["monthlyCost"] == "10.00"


async def test_live_state_of_an_id_vultr_does_not_know(
    api: Api, fake: FakeVultr
) -> None:
    gone = fake.add_instances(1, label_prefix="gone")[0]["id"]
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(gone)])
    forget_instance(api, fake, gone)

    body = await api.gql(RESOURCES_LIVE, {"id": collection_id})

    live = nodes_by_id(body)[gone]["live"]
    assert live["exists"] is False
    assert live["label"] is None
    assert live["monthlyCost"] is None
    assert live["vultrTags"] == []
    assert live["checkedAt"]


async def test_live_is_null_for_a_type_vultr_cannot_look_up(api: Api) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item("rec-1", "DNS_RECORD", "www")])

    body = await api.gql(RESOURCES_LIVE, {"id": collection_id})

    assert nodes_by_id(body)["rec-1"]["live"] is None


# ---------------------------------------------------------------------------
# 2. Batching: 200 instances, one GraphQL request, a few Vultr calls
# ---------------------------------------------------------------------------


async def test_two_hundred_instances_cost_a_bounded_number_of_vultr_calls(
    api: Api, fake: FakeVultr, vultr_url: str, database: Database
) -> None:
    instances = fake.add_instances(200)
    collection_id = await new_collection(api.gql)
    halves = [
        item(i["id"], tags=[{"key": "half", "value": "ab"[n % 2]}])
        for n, i in enumerate(instances)
    ]
    await add_all(api.gql, collection_id, halves)
    # A second process over the same database starts with cold caches.
    async with open_api(keyed_settings(vultr_url), database) as cold:
        before = fake.requests

        body = await cold.gql(TWO_HUNDRED, {"id": collection_id})

        calls = fake.requests - before
    print(f"\n200 instances, live state and cost: {calls} Vultr requests")
    collection = data(body)["collection"]
    lives = [n["live"] for half in ("a", "b") for n in collection[half]["nodes"]]
    assert len(lives) == 200
    assert all(live == {"exists": True, "monthlyCost": "5.00"} for live in lives)
    assert collection["cost"] == {
        "monthlyCost": "1000.00",
        "unknownCount": 0,
        "byResourceType": [{"resourceType": "INSTANCE", "count": 200}],
    }
    assert calls <= REQUEST_BOUND


# ---------------------------------------------------------------------------
# 3. Cost
# ---------------------------------------------------------------------------


async def test_collection_cost_sums_by_resource_type(api: Api) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(
        api.gql,
        collection_id,
        [
            item(WEB_1),
            item(DB_1),
            item(EXAMPLE, "LOAD_BALANCER"),
            item(EXAMPLE, "BLOCK_STORAGE"),
        ],
    )

    body = await api.gql(COLLECTION_COST, {"id": collection_id})

    assert data(body)["collection"]["cost"] == {
        "monthlyCost": "40.00",
        "currency": "USD",
        "unknownCount": 0,
        "byResourceType": [
            {"resourceType": "INSTANCE", "count": 2, "monthlyCost": "25.00"},
            {"resourceType": "LOAD_BALANCER", "count": 1, "monthlyCost": "10.00"},
            {"resourceType": "BLOCK_STORAGE", "count": 1, "monthlyCost": "5.00"},
        ],
    }


async def test_collection_cost_counts_resources_of_unknown_cost(
    api: Api, fake: FakeVultr
) -> None:
    gone = fake.add_instances(1, label_prefix="gone")[0]["id"]
    collection_id = await new_collection(api.gql)
    await add_all(
        api.gql,
        collection_id,
        [
            item(WEB_1),
            item(gone),
            item("rec-1", "DNS_RECORD"),
            item(EXAMPLE, "RESERVED_IP"),
        ],
    )
    forget_instance(api, fake, gone)

    body = await api.gql(COLLECTION_COST, {"id": collection_id})

    cost = data(body)["collection"]["cost"]
    assert cost["monthlyCost"] == "5.00"
    assert cost["unknownCount"] == 3
    assert cost["byResourceType"] == [
        {"resourceType": "INSTANCE", "count": 1, "monthlyCost": "5.00"}
    ]


async def test_environment_and_project_cost_sum_their_collections(
    api: Api,
) -> None:
    web = await new_collection(api.gql, name="web-app")
    db = await new_collection(api.gql, name="database")
    builds = await new_collection(api.gql, name="builds", environment="staging")
    await add_all(api.gql, web, [item(WEB_1)])
    await add_all(api.gql, db, [item(DB_1), item("rec-1", "DNS_RECORD")])
    await add_all(api.gql, builds, [item(BUILD_1)])

    body = await api.gql(PROJECT_COST, {"name": PROJECT})

    project = data(body)["project"]
    assert project["cost"] == {
        "monthlyCost": "35.00",
        "currency": "USD",
        "unknownCount": 1,
        "byResourceType": [
            {"resourceType": "INSTANCE", "count": 3, "monthlyCost": "35.00"}
        ],
    }
    stages = {stage["name"]: stage["cost"] for stage in project["environments"]}
    assert stages["production"] == {"monthlyCost": "25.00", "unknownCount": 1}
    assert stages["staging"] == {"monthlyCost": "10.00", "unknownCount": 0}
    assert stages["development"] == {"monthlyCost": "0.00", "unknownCount": 0}


async def test_project_cost_counts_only_collections_the_viewer_can_read(
    api: Api,
) -> None:
    viewer = "viewer@example.com"
    web = await new_collection(api.gql, name="web-app", viewers=[viewer])
    db = await new_collection(api.gql, name="database")
    await add_all(api.gql, web, [item(WEB_1)])
    await add_all(api.gql, db, [item(DB_1)])

    body = await api.gql(PROJECT_COST, {"name": PROJECT}, as_=viewer)

    project = data(body)["project"]
    assert project["cost"]["monthlyCost"] == "5.00"
    stages = {stage["name"]: stage["cost"] for stage in project["environments"]}
    assert stages["production"]["monthlyCost"] == "5.00"


# ---------------------------------------------------------------------------
# 4. Drift
# ---------------------------------------------------------------------------


async def test_drift_reports_a_referenced_resource_gone_from_vultr(
    api: Api, fake: FakeVultr
) -> None:
    gone = fake.add_instances(1, label_prefix="gone")[0]["id"]
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(WEB_1, name="web-1"), item(gone)])
    forget_instance(api, fake, gone)

    body = await api.gql(DRIFT, {"id": collection_id})

    assert drift_kinds(body) == {("INSTANCE", gone, "MISSING_IN_VULTR")}
    assert data(body)["driftReport"]["inSync"] is False


async def test_drift_reports_a_tagged_instance_the_collection_lacks(
    api: Api, fake: FakeVultr
) -> None:
    tag = collection_tag(PROJECT, ENVIRONMENT, NAME)
    tagged = fake.add_instances(1, tags=[tag], label_prefix="tagged")[0]["id"]
    fake.add_instances(1, tags=[collection_tag(PROJECT, "staging", NAME)])
    collection_id = await new_collection(api.gql)

    body = await api.gql(DRIFT, {"id": collection_id})

    assert drift_kinds(body) == {("INSTANCE", tagged, "UNTRACKED_IN_VULTR")}


async def test_drift_reports_a_changed_label(api: Api) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(WEB_1, name="web-01")])

    body = await api.gql(DRIFT, {"id": collection_id})

    items = data(body)["driftReport"]["items"]
    assert [(i["resourceId"], i["kind"]) for i in items] == [(WEB_1, "CHANGED")]
    assert "web-1" in items[0]["detail"]
    assert "web-01" in items[0]["detail"]


async def test_drift_reports_a_changed_region(api: Api) -> None:
    collection_id = await new_collection(api.gql, region="ams")
    await add_all(api.gql, collection_id, [item(WEB_1, name="web-1")])

    body = await api.gql(DRIFT, {"id": collection_id})

    items = data(body)["driftReport"]["items"]
    assert [(i["resourceId"], i["kind"]) for i in items] == [(WEB_1, "CHANGED")]
    assert "ewr" in items[0]["detail"]
    assert "ams" in items[0]["detail"]


async def test_drift_report_in_sync(api: Api) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(
        api.gql,
        collection_id,
        [
            item(WEB_1, name="web-1"),
            item(DB_1, name="db-1"),
            item("rec-1", "DNS_RECORD", "www"),
        ],
    )

    body = await api.gql(DRIFT, {"id": collection_id})

    report = data(body)["driftReport"]
    assert report["inSync"] is True
    assert report["items"] == []
    assert report["collection"] == {"id": collection_id, "name": NAME}
    assert datetime.fromisoformat(report["checkedAt"]).utcoffset() is not None


async def test_drift_report_is_null_for_an_unreadable_collection(
    api: Api, fake: FakeVultr
) -> None:
    collection_id = await new_collection(api.gql)

    body = await api.gql(DRIFT, {"id": collection_id}, as_=STRANGER)

    assert data(body)["driftReport"] is None
    assert fake.requests == 0


# ---------------------------------------------------------------------------
# 5. Validated adds
# ---------------------------------------------------------------------------


async def test_bulk_add_reports_ids_vultr_does_not_know(api: Api) -> None:
    collection_id = await new_collection(api.gql)

    body = await add_many(api.gql, collection_id, [item(WEB_1), item(UNKNOWN)])

    payload = data(body)["addResourcesToCollection"]
    statuses = {r["resourceId"]: r["status"] for r in payload["results"]}
    assert statuses == {WEB_1: "ADDED", UNKNOWN: "NOT_FOUND_IN_VULTR"}
    assert payload["collection"]["resourceCount"] == 1


async def test_bulk_add_finds_an_instance_created_after_the_last_list(
    api: Api, fake: FakeVultr
) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(WEB_1)])
    fresh = fake.add_instances(1, label_prefix="fresh")[0]["id"]

    body = await add_many(api.gql, collection_id, [item(fresh)])

    results = data(body)["addResourcesToCollection"]["results"]
    assert [r["status"] for r in results] == ["ADDED"]


async def test_single_add_of_an_unknown_id_is_bad_user_input(api: Api) -> None:
    collection_id = await new_collection(api.gql)

    body = await add_one(api.gql, collection_id, item(UNKNOWN))

    assert codes(body) == ["BAD_USER_INPUT"]
    stored = data(await api.gql(COUNT, {"id": collection_id}))["collection"]
    assert stored == {"resourceCount": 0, "resources": {"totalCount": 0}}


async def test_single_add_of_a_known_id_is_stored(api: Api) -> None:
    collection_id = await new_collection(api.gql)

    body = await add_one(api.gql, collection_id, item(WEB_1))

    payload = data(body)["addResourceToCollection"]
    assert payload["resource"] == {"resourceType": "INSTANCE", "resourceId": WEB_1}
    assert payload["collection"]["resourceCount"] == 1


async def test_a_dns_record_is_added_without_asking_vultr(
    api: Api, fake: FakeVultr
) -> None:
    collection_id = await new_collection(api.gql)

    single = await add_one(api.gql, collection_id, item("rec-1", "DNS_RECORD"))
    bulk = await add_many(api.gql, collection_id, [item("rec-2", "DNS_RECORD")])

    assert data(single)["addResourceToCollection"]["resource"]["resourceId"] == "rec-1"
    results = data(bulk)["addResourcesToCollection"]["results"]
    assert [r["status"] for r in results] == ["ADDED"]
    assert fake.requests == 0


# ---------------------------------------------------------------------------
# 6. Vultr failing
# ---------------------------------------------------------------------------


def error_paths(body: dict[str, Any]) -> list[list[str | int]]:
    return [error["path"] for error in body.get("errors", [])]


async def test_an_outage_fails_only_the_live_fields(api: Api, fake: FakeVultr) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(WEB_1, name="web-1"), item(DB_1)])
    api.inventory.invalidate()
    fake.break_path("instances")
    fake.break_path("databases")

    body = await api.gql(RESOURCES_LIVE, {"id": collection_id})

    assert set(codes(body)) == {"UPSTREAM_UNAVAILABLE"}
    assert all(path[-1] == "live" for path in error_paths(body))
    assert len(body["errors"]) == 2
    collection = body["data"]["collection"]
    assert (collection["name"], collection["resourceCount"]) == (NAME, 2)
    nodes = {n["resourceId"]: n for n in collection["resources"]["nodes"]}
    assert nodes[WEB_1]["resourceName"] == "web-1"
    assert nodes[WEB_1]["live"] is None
    assert nodes[DB_1]["live"] is None


async def test_a_kind_that_fails_fails_only_its_own_live_fields(
    api: Api, fake: FakeVultr
) -> None:
    collection_id = await new_collection(api.gql)
    managed = item(MANAGED, "MANAGED_DATABASE")
    await add_all(api.gql, collection_id, [item(WEB_1, name="web-1"), managed])
    api.inventory.invalidate()
    fake.break_path("databases")

    body = await api.gql(RESOURCES_LIVE, {"id": collection_id})

    assert codes(body) == ["UPSTREAM_UNAVAILABLE"]
    [path] = error_paths(body)
    assert path[-1] == "live"
    nodes = {
        n["resourceId"]: n for n in body["data"]["collection"]["resources"]["nodes"]
    }
    assert nodes[MANAGED]["live"] is None
    assert nodes[WEB_1]["live"]["exists"] is True
    assert nodes[WEB_1]["live"]["label"] == "web-1"


async def test_an_outage_fails_only_the_cost_field(api: Api, fake: FakeVultr) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(WEB_1)])
    api.inventory.invalidate()
    fake.fail_next(2)

    body = await api.gql(COLLECTION_COST, {"id": collection_id})

    assert codes(body) == ["UPSTREAM_UNAVAILABLE"]
    assert error_paths(body) == [["collection", "cost"]]
    assert body["data"]["collection"] == {"name": NAME, "cost": None}


async def test_a_malformed_vultr_answer_is_a_clear_error_on_the_field(
    api: Api, fake: FakeVultr
) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(WEB_1)])
    api.inventory.invalidate()
    fake.malform_next()

    body = await api.gql(RESOURCES_LIVE, {"id": collection_id})

    assert codes(body) == ["UPSTREAM_UNAVAILABLE"]
    assert error_paths(body)[0][-1] == "live"
    message = body["errors"][0]["message"]
    assert "malformed" in message
    assert "/instances" in message
    assert body["data"]["collection"]["name"] == NAME


async def test_an_outage_during_a_bulk_add_stores_nothing(
    api: Api, fake: FakeVultr
) -> None:
    collection_id = await new_collection(api.gql)
    fake.fail_next(2)

    body = await add_many(api.gql, collection_id, [item(WEB_1), item(DB_1)])

    assert codes(body) == ["UPSTREAM_UNAVAILABLE"]
    stored = data(await api.gql(COUNT, {"id": collection_id}))["collection"]
    assert stored == {"resourceCount": 0, "resources": {"totalCount": 0}}


async def test_a_refused_key_is_upstream_unavailable(
    fake: FakeVultr, vultr_url: str, database: Database
) -> None:
    async with open_api(keyed_settings(vultr_url, WRONG_KEY), database) as wrong:
        collection_id = await new_collection(wrong.gql)

        body = await add_many(wrong.gql, collection_id, [item(WEB_1)])

    assert codes(body) == ["UPSTREAM_UNAVAILABLE"]
    assert "refused the API key" in body["errors"][0]["message"]
    assert WRONG_KEY not in json.dumps(body)


async def test_the_api_key_never_appears_in_errors_or_logs(
    api: Api, fake: FakeVultr, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(WEB_1)])
    everything = (EVERYTHING_VULTR, _everything(collection_id))
    drift = (DRIFT, {"id": collection_id})
    # Drift lists three kinds at once: three first tries and three retries.
    breakages = [
        (everything, lambda: fake.fail_next(2)),
        (everything, fake.malform_next),
        (drift, lambda: fake.fail_next(6)),
        # Three kinds listed at once: each gets a malformed answer.
        (drift, lambda: fake.malform_next(3)),
    ]
    bodies = []
    for (query, variables), break_vultr in breakages:
        api.inventory.invalidate()
        # A failed batch may leave queued failures unused; start each clean.
        fake.clear_failures()
        break_vultr()

        bodies.append(await api.gql(query, variables))

    assert [set(codes(body)) for body in bodies] == [{"UPSTREAM_UNAVAILABLE"}] * 4
    assert API_KEY not in json.dumps(bodies)
    logged = [_record_text(record) for record in caplog.records]
    assert any("Vultr" in text for text in logged)
    assert not [text for text in logged if API_KEY in text]


def _everything(collection_id: str) -> dict[str, Any]:
    return {"id": collection_id, "project": PROJECT}


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.args)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# 7. Without a key
# ---------------------------------------------------------------------------


async def test_without_a_key_every_vultr_field_is_null(
    keyless: Api, fake: FakeVultr
) -> None:
    collection_id = await new_collection(keyless.gql)
    await add_all(keyless.gql, collection_id, [item(WEB_1)])

    body = await keyless.gql(EVERYTHING_VULTR, _everything(collection_id))

    result = data(body)
    assert result["collection"]["cost"] is None
    assert result["collection"]["resources"]["nodes"] == [
        {"resourceId": WEB_1, "live": None}
    ]
    assert result["project"]["cost"] is None
    assert {stage["cost"] is None for stage in result["project"]["environments"]} == {
        True
    }
    assert fake.requests == 0


async def test_without_a_key_drift_report_is_not_configured(
    keyless: Api, fake: FakeVultr
) -> None:
    collection_id = await new_collection(keyless.gql)

    body = await keyless.gql(DRIFT, {"id": collection_id})

    assert codes(body) == ["VULTR_NOT_CONFIGURED"]
    assert body["data"] == {"driftReport": None}
    assert fake.requests == 0


async def test_without_a_key_adds_are_not_validated(
    keyless: Api, fake: FakeVultr
) -> None:
    collection_id = await new_collection(keyless.gql)

    bulk = await add_many(keyless.gql, collection_id, [item(UNKNOWN)])
    single = await add_one(keyless.gql, collection_id, item(UNKNOWN, "BARE_METAL"))

    results = data(bulk)["addResourcesToCollection"]["results"]
    assert [r["status"] for r in results] == ["ADDED"]
    assert data(single)["addResourceToCollection"]["collection"]["resourceCount"] == 2
    assert fake.requests == 0


# ---------------------------------------------------------------------------
# 8. The workflow resource-management action
# ---------------------------------------------------------------------------


def step_context(resources: list[ResourceReference]) -> StepContext:
    now = utc_now()
    collection = ServiceCollection(
        id=str(ObjectId()),
        project_id=str(ObjectId()),
        project=PROJECT,
        environment=ENVIRONMENT,
        name=NAME,
        description="",
        region="ewr",
        tags=[],
        grants=[],
        resource_count=len(resources),
        version=1,
        created_at=now,
        updated_at=now,
        created_by=OWNER,
    )
    run = Run(
        id=str(ObjectId()),
        workflow_id=str(ObjectId()),
        collection_id=collection.id,
        project_id=collection.project_id,
        trigger=WorkflowTrigger.MANUAL,
        triggered_by=OWNER,
        event_seq=None,
        input={},
        status=RunStatus.RUNNING,
        steps=[],
        created_at=now,
    )
    return StepContext(run, "nightly", collection, resources, None)


def reference(resource_type: ResourceType, resource_id: str) -> ResourceReference:
    now = utc_now()
    return ResourceReference(
        id=str(ObjectId()),
        collection_id=str(ObjectId()),
        resource_type=resource_type,
        resource_id=resource_id,
        resource_name=None,
        tags=[],
        metadata={},
        access=[],
        created_at=now,
        updated_at=now,
        added_by=OWNER,
    )


def executor(api: Api) -> StepExecutor:
    runtime = api.runtime
    return StepExecutor(runtime.settings, runtime.outbound, runtime.services.vultr)


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (ResourceOperation.START, f"POST /v2/instances/{WEB_1}/start"),
        (ResourceOperation.STOP, f"POST /v2/instances/{WEB_1}/halt"),
        (ResourceOperation.REBOOT, f"POST /v2/instances/{WEB_1}/reboot"),
        (ResourceOperation.SNAPSHOT, "POST /v2/snapshots"),
    ],
)
async def test_a_resource_management_step_reaches_vultr(
    api: Api, fake: FakeVultr, operation: ResourceOperation, expected: str
) -> None:
    context = step_context(
        [
            reference(ResourceType.INSTANCE, WEB_1),
            reference(ResourceType.DNS_RECORD, "rec-1"),
        ]
    )

    output = await executor(api).run(ResourceManagementAction(operation), context)

    assert fake.log == [expected]
    assert output["operation"] == operation.value
    assert (output["done"], output["skipped"]) == ([WEB_1], ["rec-1"])


async def test_a_snapshot_step_creates_a_snapshot_in_vultr(
    api: Api, fake: FakeVultr
) -> None:
    context = step_context([reference(ResourceType.INSTANCE, WEB_1)])
    before = len(fake.items[VultrKind.SNAPSHOTS])

    await executor(api).run(
        ResourceManagementAction(ResourceOperation.SNAPSHOT), context
    )

    snapshots = fake.items[VultrKind.SNAPSHOTS]
    assert len(snapshots) == before + 1
    assert snapshots[-1]["description"] == f"nightly run {context.run.id}"


async def test_a_stop_step_shows_in_live_state_at_once(
    api: Api, fake: FakeVultr
) -> None:
    collection_id = await new_collection(api.gql)
    await add_all(api.gql, collection_id, [item(WEB_1)])
    context = step_context([reference(ResourceType.INSTANCE, WEB_1)])

    await executor(api).run(ResourceManagementAction(ResourceOperation.STOP), context)
    body = await api.gql(RESOURCES_LIVE, {"id": collection_id})

    assert nodes_by_id(body)[WEB_1]["live"]["powerStatus"] == "stopped"


async def test_a_failing_vultr_fails_the_step(api: Api, fake: FakeVultr) -> None:
    context = step_context([reference(ResourceType.INSTANCE, UNKNOWN)])

    with pytest.raises(StepFailedError) as failed:
        await executor(api).run(
            ResourceManagementAction(ResourceOperation.REBOOT), context
        )

    assert "HTTP 404" in str(failed.value)
    assert API_KEY not in str(failed.value)
    assert fake.log == [f"POST /v2/instances/{UNKNOWN}/reboot"]


async def test_without_a_key_a_resource_management_step_fails_clearly(
    keyless: Api, fake: FakeVultr
) -> None:
    context = step_context([reference(ResourceType.INSTANCE, WEB_1)])

    with pytest.raises(StepFailedError) as failed:
        await executor(keyless).run(
            ResourceManagementAction(ResourceOperation.START), context
        )

    assert "Vultr is not configured" in str(failed.value)
    assert "GQL_SERVICE_VULTR_API_KEY" in str(failed.value)
    assert fake.requests == 0
