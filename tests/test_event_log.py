"""The event log: one event per change, and none without its change."""

from datetime import timedelta

import pytest

from gql_service.domain.models import utc_now
from gql_service.errors import ServiceUnavailableError
from gql_service.events.log import Sweeper
from tests.conftest import codes, data
from tests.factories import add_resource, create_collection

AUDIT = """
query($filter: EventFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { type actor project environment collectionName cursor
            resource { resourceId } changes { field before after } }
  }
}"""

# A moment after every lease has run out.
LATER = utc_now() + timedelta(days=1)

BULK = """
mutation($input: AddResourcesInput!) {
  addResourcesToCollection(input: $input) { results { status } }
}"""


async def audit(gql, as_="owner@example.com", **filters):
    body = await gql(AUDIT, {"filter": filters or None, "first": 100}, as_=as_)
    return data(body)["auditLog"]


async def event_types(gql, **filters):
    return [node["type"] for node in (await audit(gql, **filters))["nodes"]]


async def test_first_collection_records_project_and_collection(gql):
    await create_collection(gql, name="web", project="shop")

    assert await event_types(gql) == ["COLLECTION_CREATED", "PROJECT_CREATED"]


async def test_bulk_add_records_one_event_per_added_resource(gql):
    collection = await create_collection(gql)
    items = [{"resourceType": "INSTANCE", "resourceId": f"i-{n}"} for n in range(3)]
    items.append({"resourceType": "INSTANCE", "resourceId": "i-0"})

    await gql(BULK, {"input": {"collectionId": collection["id"], "resources": items}})

    added = await audit(gql, types=["RESOURCE_ADDED"])
    assert added["totalCount"] == 3
    assert sorted(n["resource"]["resourceId"] for n in added["nodes"]) == [
        "i-0",
        "i-1",
        "i-2",
    ]


async def test_refused_mutation_records_nothing(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "i-1")
    before = (await audit(gql))["totalCount"]

    body = await gql(
        """mutation($input: AddResourceInput!) {
          addResourceToCollection(input: $input) { resource { id } } }""",
        {
            "input": {
                "collectionId": collection["id"],
                "resourceType": "INSTANCE",
                "resourceId": "i-1",
            }
        },
    )

    assert codes(body) == ["CONFLICT"]
    assert (await audit(gql))["totalCount"] == before


async def test_update_records_field_changes(gql):
    collection = await create_collection(gql, description="old")

    await gql(
        """mutation($input: UpdateCollectionInput!) {
          updateCollection(input: $input) { collection { id } } }""",
        {"input": {"id": collection["id"], "description": "new"}},
    )

    updated = (await audit(gql, types=["COLLECTION_UPDATED"]))["nodes"][0]
    assert {"field": "description", "before": "old", "after": "new"} in updated[
        "changes"
    ]


async def test_promotion_records_one_event_on_the_target(gql):
    source = await create_collection(gql, environment="staging")
    await add_resource(gql, source["id"], "i-1")

    body = await gql(
        """mutation($input: PromoteCollectionInput!) {
          promoteCollection(input: $input) { promotion { target { id } } } }""",
        {"input": {"id": source["id"], "includeResources": True}},
    )

    target_id = data(body)["promoteCollection"]["promotion"]["target"]["id"]
    promoted = (await audit(gql, types=["ENVIRONMENT_PROMOTED"]))["nodes"]
    assert len(promoted) == 1
    assert promoted[0]["environment"] == "production"
    assert (await audit(gql, collectionId=target_id))["totalCount"] == 1


async def test_audit_log_pages_newest_first(gql):
    collection = await create_collection(gql)
    for n in range(5):
        await add_resource(gql, collection["id"], f"i-{n}")

    first = data(await gql(AUDIT, {"first": 3}))["auditLog"]
    rest = data(
        await gql(AUDIT, {"first": 4, "after": first["pageInfo"]["endCursor"]})
    )["auditLog"]

    seen = [n["cursor"] for n in first["nodes"] + rest["nodes"]]
    assert len(seen) == len(set(seen)) == 7
    assert first["pageInfo"]["hasNextPage"] is True
    assert rest["pageInfo"]["hasNextPage"] is False
    assert [n["resource"]["resourceId"] for n in first["nodes"]] == [
        "i-4",
        "i-3",
        "i-2",
    ]


async def test_audit_log_filters_by_actor_and_time(gql):
    collection = await create_collection(gql)
    await gql(
        """mutation($input: UpdateCollectionPermissionsInput!) {
          updateCollectionPermissions(input: $input) { collection { id } } }""",
        {
            "input": {
                "id": collection["id"],
                "grant": [{"subject": "ed@example.com", "role": "EDITOR"}],
            }
        },
    )
    await add_resource(gql, collection["id"], "by-ed", as_="ed@example.com")

    by_ed = await audit(gql, actor="ed@example.com")
    future = await audit(gql, since="2999-01-01T00:00:00+00:00")

    assert [n["type"] for n in by_ed["nodes"]] == ["RESOURCE_ADDED"]
    assert future["totalCount"] == 0


async def test_audit_log_refuses_naive_datetime(gql):
    body = await gql(AUDIT, {"filter": {"since": "2026-01-01T00:00:00"}})

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_audit_log_shows_only_readable_collections(gql):
    mine = await create_collection(gql, name="mine", project="p1")
    await create_collection(gql, name="theirs", project="p2", as_="other@example.com")
    await gql(
        """mutation($input: UpdateCollectionPermissionsInput!) {
          updateCollectionPermissions(input: $input) { collection { id } } }""",
        {
            "input": {
                "id": mine["id"],
                "grant": [{"subject": "viewer@example.com", "role": "VIEWER"}],
            }
        },
    )

    seen = await audit(gql, as_="viewer@example.com")
    stranger = await audit(gql, as_="nobody@example.com")

    assert {n["collectionName"] for n in seen["nodes"]} == {"mine"}
    assert stranger["totalCount"] == 0


async def test_deleted_collection_events_stay_visible_to_former_readers(gql):
    collection = await create_collection(gql, viewers=["viewer@example.com"])
    await gql(
        """mutation($input: DeleteCollectionInput!) {
          deleteCollection(input: $input) { deletedId } }""",
        {"input": {"id": collection["id"]}},
    )

    seen = await audit(gql, as_="viewer@example.com")

    assert [n["type"] for n in seen["nodes"]] == [
        "COLLECTION_DELETED",
        "COLLECTION_CREATED",
    ]


async def test_failed_event_write_changes_nothing(gql, gateway_options, runtime):
    collection = await create_collection(gql)

    def fail_event_insert(collection_name: str, command: str) -> None:
        if collection_name == "events" and command == "insert":
            raise ServiceUnavailableError("injected")

    gateway_options.fault = fail_event_insert
    body = await gql(
        """mutation($input: AddResourceInput!) {
          addResourceToCollection(input: $input) { resource { id } } }""",
        {
            "input": {
                "collectionId": collection["id"],
                "resourceType": "INSTANCE",
                "resourceId": "i-1",
            }
        },
    )
    gateway_options.fault = None

    assert codes(body) == ["SERVICE_UNAVAILABLE"]
    found = data(
        await gql(
            "query($id: ID!) { collection(id: $id) { resourceCount version } }",
            {"id": collection["id"]},
        )
    )["collection"]
    assert found == {"resourceCount": 0, "version": collection["version"]}
    assert await event_types(gql, types=["RESOURCE_ADDED"]) == []


@pytest.mark.parametrize(
    "dies_at", ["resources.insert", "service_collections.find_and_modify"]
)
async def test_writer_dying_midway_is_settled_by_the_sweeper(
    gql, gateway_options, runtime, dies_at
):
    collection = await create_collection(gql)
    target, command = dies_at.split(".")

    def die(collection_name: str, name: str) -> None:
        if collection_name == target and name == command:
            raise ServiceUnavailableError("the process died here")

    gateway_options.fault = die
    await add_resource_raw(gql, collection["id"], "i-1")
    gateway_options.fault = None

    settled = await Sweeper(runtime.services.log).sweep(LATER)

    assert settled == 1
    found = data(
        await gql(
            "query($id: ID!) { collection(id: $id) { resourceCount "
            "resources { totalCount } } }",
            {"id": collection["id"]},
        )
    )["collection"]
    events = await event_types(gql, types=["RESOURCE_ADDED"])
    # Died before the first write: no change and no event. Died after it:
    # the sweeper finished the change and committed its event.
    expected = 0 if target == "resources" else 1
    assert found == {"resourceCount": expected, "resources": {"totalCount": expected}}
    assert len(events) == expected


async def test_writer_outliving_its_lease_records_its_event_again(gql, runtime):
    collection = await create_collection(gql)
    log = runtime.services.log
    applier = log.applier
    original = applier.apply

    async def slow_apply(seqs, ops):
        # The sweeper runs while this writer is stuck before its first write.
        await Sweeper(log).sweep(LATER)
        return await original(seqs, ops)

    applier.apply = slow_apply
    await add_resource(gql, collection["id"], "i-1")
    applier.apply = original

    added = await audit(gql, types=["RESOURCE_ADDED"])
    assert added["totalCount"] == 1


async def add_resource_raw(gql, collection_id, resource_id):
    return await gql(
        """mutation($input: AddResourceInput!) {
          addResourceToCollection(input: $input) { resource { id } } }""",
        {
            "input": {
                "collectionId": collection_id,
                "resourceType": "INSTANCE",
                "resourceId": resource_id,
            }
        },
    )
