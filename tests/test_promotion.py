"""Promotion of a collection's definition to a later environment on the path."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from bson import ObjectId

from tests.conftest import codes, data
from tests.factories import add_resource, create_collection
from tests.readback import (
    ADMIN,
    collection_state,
    grant_collection_role,
    grant_project_role,
    world,
)

OWNER = "owner@example.com"
CO_OWNER = "co-owner@example.com"
EDITOR = "editor@example.com"
VIEWER = "viewer@example.com"
STRANGER = "stranger@example.com"

SOURCE_TAGS = [{"key": "tier", "value": "web"}, {"key": "team", "value": "shop"}]

PROMOTE = """
mutation($input: PromoteCollectionInput!) {
  promoteCollection(input: $input) { promotion {
    id project name sourceEnvironment targetEnvironment status createdTarget
    includeResources includeWorkflows actor reason createdAt completedAt
    changes { field before after }
    source { id environment } target { id environment } } } }
"""

BY_NAME = """
query($environment: String!, $name: String!) {
  collectionByName(project: "shop", environment: $environment, name: $name) {
    id } }
"""

CREATE_PROJECT = """
mutation($input: CreateProjectInput!) {
  createProject(input: $input) { project { id } } }
"""

UPDATE = """
mutation($input: UpdateCollectionInput!) {
  updateCollection(input: $input) { collection { version } } }
"""

PROMOTION_BY_ID = """
query($id: ID!) { promotion(id: $id) {
  id status sourceEnvironment targetEnvironment source { id } target { id } } }
"""

PROMOTIONS = """
query($filter: PromotionFilter) {
  promotions(filter: $filter) { totalCount nodes { id status } } }
"""


async def promote(
    gql: Any, collection_id: str, *, as_: str = OWNER, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = await gql(
        PROMOTE, {"input": {"id": collection_id, **fields}}, as_=as_
    )
    return body


def promotion_of(body: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = data(body)["promoteCollection"]["promotion"]
    return found


async def make_source(gql: Any, **fields: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "description": "The web shop",
        "region": "ewr",
        "tags": SOURCE_TAGS,
    }
    return await create_collection(gql, **{**defaults, **fields})


async def state_in(
    gql: Any, environment: str, name: str = "web-app"
) -> dict[str, Any] | None:
    """The collection called ``name`` in ``environment`` of "shop", or None."""
    body = await gql(
        BY_NAME, {"environment": environment, "name": name}, as_=ADMIN, admin=True
    )
    found = data(body)["collectionByName"]
    if found is None:
        return None
    return await collection_state(gql, found["id"])


def definition(state: dict[str, Any] | None) -> tuple[Any, ...]:
    assert state is not None
    return state["description"], state["region"], state["tags"]


def resource_keys(state: dict[str, Any] | None) -> list[tuple[str, str]]:
    assert state is not None
    nodes = state["resources"]["nodes"]
    return sorted((n["resourceType"], n["resourceId"]) for n in nodes)


# --------------------------------------------------------------------------
# Which environment is the target
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [("development", "testing"), ("testing", "staging"), ("staging", "production")],
)
async def test_default_target_is_the_next_environment(gql, source, expected):
    collection = await make_source(gql, environment=source)

    body = await promote(gql, collection["id"])

    promotion = promotion_of(body)
    assert promotion["sourceEnvironment"] == source
    assert promotion["targetEnvironment"] == expected
    assert await state_in(gql, expected) is not None


async def test_default_target_follows_a_custom_path(gql):
    path = ["dev", "qa", "perf", "prod"]
    data(await gql(CREATE_PROJECT, {"input": {"name": "shop", "environments": path}}))
    collection = await make_source(gql, environment="qa")

    body = await promote(gql, collection["id"])

    assert promotion_of(body)["targetEnvironment"] == "perf"
    assert await state_in(gql, "perf") is not None


async def test_explicit_next_environment_is_accepted(gql):
    collection = await make_source(gql)

    body = await promote(gql, collection["id"], targetEnvironment="testing")

    assert promotion_of(body)["targetEnvironment"] == "testing"


async def test_promotion_records_the_request(gql):
    collection = await make_source(gql)

    body = await promote(gql, collection["id"], reason="release 1.2")

    promotion = promotion_of(body)
    target = await state_in(gql, "testing")
    assert target is not None
    assert promotion["status"] == "SUCCEEDED"
    assert promotion["project"] == "shop"
    assert promotion["name"] == "web-app"
    assert promotion["actor"] == OWNER
    assert promotion["reason"] == "release 1.2"
    assert promotion["includeResources"] is False
    assert promotion["completedAt"] is not None
    assert promotion["source"] == {"id": collection["id"], "environment": "development"}
    assert promotion["target"] == {"id": target["id"], "environment": "testing"}


@pytest.mark.parametrize("target", ["development", "testing", "staging"])
async def test_target_before_or_at_the_source_is_not_allowed(gql, target):
    collection = await make_source(gql, environment="staging")
    before = await world(gql)

    body = await promote(gql, collection["id"], targetEnvironment=target)

    assert codes(body) == ["PROMOTION_NOT_ALLOWED"]
    assert await world(gql) == before


@pytest.mark.parametrize("target", ["prod", "qa", "Production", "", "testing\n"])
async def test_unknown_target_environment_is_bad_user_input(gql, target):
    collection = await make_source(gql)
    before = await world(gql)

    body = await promote(gql, collection["id"], targetEnvironment=target)

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


async def test_promoting_from_the_last_environment_is_not_allowed(gql):
    collection = await make_source(gql, environment="production")
    before = await world(gql)

    body = await promote(gql, collection["id"])

    assert codes(body) == ["PROMOTION_NOT_ALLOWED"]
    assert await world(gql) == before


async def test_promoting_from_the_last_custom_environment_is_not_allowed(gql):
    path = ["dev", "qa", "prod"]
    data(await gql(CREATE_PROJECT, {"input": {"name": "shop", "environments": path}}))
    collection = await make_source(gql, environment="prod")
    before = await world(gql)

    body = await promote(gql, collection["id"])

    assert codes(body) == ["PROMOTION_NOT_ALLOWED"]
    assert await world(gql) == before


# --------------------------------------------------------------------------
# Skipping stages
# --------------------------------------------------------------------------


async def test_project_editor_cannot_skip_a_stage(gql):
    collection = await make_source(gql)
    await grant_project_role(gql, EDITOR, "EDITOR")
    before = await world(gql)

    body = await promote(gql, collection["id"], as_=EDITOR, targetEnvironment="staging")

    assert codes(body) == ["FORBIDDEN"]
    assert await world(gql) == before


async def test_collection_owner_without_project_owner_cannot_skip_a_stage(gql):
    await make_source(gql, name="other")
    await grant_project_role(gql, EDITOR, "EDITOR")
    collection = await make_source(gql, as_=EDITOR)
    before = await world(gql)

    body = await promote(
        gql, collection["id"], as_=EDITOR, targetEnvironment="production"
    )

    assert codes(body) == ["FORBIDDEN"]
    assert await world(gql) == before


async def test_project_owner_may_skip_stages(gql):
    collection = await make_source(gql)

    body = await promote(gql, collection["id"], targetEnvironment="production")

    assert promotion_of(body)["targetEnvironment"] == "production"
    assert await state_in(gql, "production") is not None
    assert await state_in(gql, "testing") is None
    assert await state_in(gql, "staging") is None


async def test_admin_may_skip_stages(gql):
    collection = await make_source(gql)

    body = await gql(
        PROMOTE,
        {"input": {"id": collection["id"], "targetEnvironment": "production"}},
        as_=ADMIN,
        admin=True,
    )

    assert promotion_of(body)["targetEnvironment"] == "production"


# --------------------------------------------------------------------------
# A target that does not exist yet
# --------------------------------------------------------------------------


async def test_created_target_takes_the_definition(gql):
    collection = await make_source(gql)
    source = await collection_state(gql, collection["id"])

    await promote(gql, collection["id"])

    assert definition(await state_in(gql, "testing")) == definition(source)


async def test_created_target_is_reported_as_created(gql):
    collection = await make_source(gql)

    body = await promote(gql, collection["id"])

    assert promotion_of(body)["createdTarget"] is True


async def test_created_target_points_at_its_source(gql):
    collection = await make_source(gql)

    await promote(gql, collection["id"])

    target = await state_in(gql, "testing")
    assert target is not None
    assert target["promotedFrom"] == {"id": collection["id"]}


async def test_created_target_copies_the_owners_only(gql):
    collection = await make_source(
        gql, owners=[CO_OWNER], editors=[EDITOR], viewers=[VIEWER]
    )

    await promote(gql, collection["id"])

    target = await state_in(gql, "testing")
    assert target is not None
    assert sorted(target["owners"]) == sorted([OWNER, CO_OWNER])
    assert target["editors"] == []
    assert target["viewers"] == []


async def test_promoter_is_not_added_to_the_created_target(gql):
    collection = await make_source(gql)
    await grant_project_role(gql, EDITOR, "EDITOR")

    data(await promote(gql, collection["id"], as_=EDITOR))

    target = await state_in(gql, "testing")
    assert target is not None
    assert target["owners"] == [OWNER]
    assert EDITOR not in target["editors"] + target["viewers"]


async def test_created_target_is_counted_in_its_environment(gql):
    collection = await make_source(gql)

    await promote(gql, collection["id"])

    stages = (await world(gql))["projects"]["nodes"][0]["environments"]
    counts = {s["name"]: s["collectionCount"] for s in stages}
    assert counts == {"development": 1, "testing": 1, "staging": 0, "production": 0}


async def test_promotion_leaves_the_source_unchanged(gql):
    collection = await make_source(gql)
    await add_resource(gql, collection["id"], "i-1")
    before = await collection_state(gql, collection["id"])

    await promote(gql, collection["id"], includeResources=True)

    assert await collection_state(gql, collection["id"]) == before


# --------------------------------------------------------------------------
# A target that exists
# --------------------------------------------------------------------------


async def make_pair(gql: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A source in development and a differing target in testing."""
    source = await make_source(gql)
    target = await create_collection(
        gql,
        environment="testing",
        description="old text",
        region="ams",
        tags=[{"key": "tier", "value": "old"}, {"key": "extra", "value": "x"}],
        editors=["target-editor@example.com"],
    )
    return source, target


async def test_existing_target_takes_the_definition(gql):
    source, target = await make_pair(gql)
    source_state = await collection_state(gql, source["id"])

    await promote(gql, source["id"])

    assert definition(await collection_state(gql, target["id"])) == definition(
        source_state
    )


async def test_existing_target_is_not_reported_as_created(gql):
    source, _target = await make_pair(gql)

    body = await promote(gql, source["id"])

    promotion = promotion_of(body)
    assert promotion["createdTarget"] is False


async def test_existing_target_is_updated_in_place(gql):
    source, target = await make_pair(gql)
    before = await collection_state(gql, target["id"])
    assert before is not None

    body = await promote(gql, source["id"])

    after = await collection_state(gql, target["id"])
    assert after is not None
    assert promotion_of(body)["target"]["id"] == target["id"]
    assert after["version"] > before["version"]
    assert (await world(gql))["collections"]["totalCount"] == 2


async def test_existing_target_points_at_its_source(gql):
    source, target = await make_pair(gql)

    await promote(gql, source["id"])

    after = await collection_state(gql, target["id"])
    assert after is not None
    assert after["promotedFrom"] == {"id": source["id"]}


async def test_existing_target_keeps_its_own_grants(gql):
    source, target = await make_pair(gql)
    await grant_collection_role(gql, source["id"], CO_OWNER, "OWNER")
    before = await collection_state(gql, target["id"])
    assert before is not None

    await promote(gql, source["id"])

    after = await collection_state(gql, target["id"])
    assert after is not None
    grants = ("owners", "editors", "viewers")
    assert {k: after[k] for k in grants} == {k: before[k] for k in grants}


async def test_missing_source_region_clears_the_target_region(gql):
    source = await make_source(gql, region=None)
    target = await create_collection(gql, environment="testing", region="ams")

    await promote(gql, source["id"])

    after = await collection_state(gql, target["id"])
    assert after is not None
    assert after["region"] is None


# --------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------


async def test_resources_stay_behind_without_include_resources(gql):
    collection = await make_source(gql)
    await add_resource(gql, collection["id"], "i-1")

    await promote(gql, collection["id"])

    target = await state_in(gql, "testing")
    assert target is not None
    assert target["resourceCount"] == 0
    assert target["resources"]["nodes"] == []


async def test_resources_stay_behind_from_an_existing_target_too(gql):
    source, target = await make_pair(gql)
    await add_resource(gql, source["id"], "i-1")
    before = await collection_state(gql, target["id"])
    assert before is not None

    await promote(gql, source["id"])

    after = await collection_state(gql, target["id"])
    assert after is not None
    assert after["resources"] == before["resources"]


async def test_include_resources_copies_the_references(gql):
    collection = await make_source(gql)
    await add_resource(
        gql,
        collection["id"],
        "i-1",
        resourceName="web-1",
        tags=[{"key": "role", "value": "web"}],
        metadata={"size": "vc2-1c-1gb"},
    )
    await add_resource(gql, collection["id"], "lb-1", resource_type="LOAD_BALANCER")
    source = await collection_state(gql, collection["id"])
    assert source is not None

    body = await promote(gql, collection["id"], includeResources=True)

    target = await state_in(gql, "testing")
    assert target is not None
    assert promotion_of(body)["includeResources"] is True
    assert target["resourceCount"] == 2

    def key(node: dict[str, Any]) -> str:
        return str(node["resourceId"])

    assert sorted(target["resources"]["nodes"], key=key) == sorted(
        source["resources"]["nodes"], key=key
    )


async def test_include_resources_never_removes_from_the_target(gql):
    source, target = await make_pair(gql)
    await add_resource(gql, source["id"], "i-1")
    await add_resource(gql, source["id"], "i-2")
    await add_resource(gql, target["id"], "i-1")
    await add_resource(gql, target["id"], "t-only")

    await promote(gql, source["id"], includeResources=True)

    after = await collection_state(gql, target["id"])
    assert resource_keys(after) == [
        ("INSTANCE", "i-1"),
        ("INSTANCE", "i-2"),
        ("INSTANCE", "t-only"),
    ]
    assert after is not None
    assert after["resourceCount"] == 3


async def test_include_resources_counts_the_target_environment(gql):
    collection = await make_source(gql)
    for n in range(3):
        await add_resource(gql, collection["id"], f"i-{n}")

    await promote(gql, collection["id"], includeResources=True)

    stages = (await world(gql))["projects"]["nodes"][0]["environments"]
    counts = {s["name"]: s["resourceCount"] for s in stages}
    assert counts == {"development": 3, "testing": 3, "staging": 0, "production": 0}


# --------------------------------------------------------------------------
# Dry runs
# --------------------------------------------------------------------------


async def test_dry_run_reports_status_dry_run(gql):
    collection = await make_source(gql)

    body = await promote(gql, collection["id"], dryRun=True)

    assert promotion_of(body)["status"] == "DRY_RUN"


async def test_dry_run_lists_the_definition_it_would_create(gql):
    collection = await make_source(gql)

    body = await promote(gql, collection["id"], dryRun=True)

    changes = {c["field"]: c for c in promotion_of(body)["changes"]}
    assert changes["description"]["after"] == "The web shop"
    assert changes["region"]["after"] == "ewr"
    assert changes["tags"]["after"] == SOURCE_TAGS


async def test_dry_run_creates_nothing(gql):
    collection = await make_source(gql)
    await add_resource(gql, collection["id"], "i-1")
    before = await world(gql)

    await promote(gql, collection["id"], dryRun=True, includeResources=True)

    assert await world(gql) == before


async def test_dry_run_changes_nothing_in_an_existing_target(gql):
    source, target = await make_pair(gql)
    await add_resource(gql, source["id"], "i-1")
    before = await world(gql)
    target_before = await collection_state(gql, target["id"])

    await promote(gql, source["id"], dryRun=True, includeResources=True)

    assert await world(gql) == before
    assert await collection_state(gql, target["id"]) == target_before


async def test_dry_run_lists_only_what_differs(gql):
    source = await make_source(gql)
    await create_collection(
        gql,
        environment="testing",
        description="old text",
        region="ewr",
        tags=SOURCE_TAGS,
    )

    body = await promote(gql, source["id"], dryRun=True)

    changes = promotion_of(body)["changes"]
    assert changes == [
        {"field": "description", "before": "old text", "after": "The web shop"}
    ]


async def test_dry_run_of_an_identical_target_lists_no_changes(gql):
    source = await make_source(gql)
    await make_source(gql, environment="testing")

    body = await promote(gql, source["id"], dryRun=True, includeResources=True)

    assert promotion_of(body)["changes"] == []


async def test_dry_run_lists_the_resources_it_would_add(gql):
    source, target = await make_pair(gql)
    await add_resource(gql, source["id"], "shared-1")
    await add_resource(gql, source["id"], "new-1")
    await add_resource(gql, target["id"], "shared-1")

    body = await promote(gql, source["id"], dryRun=True, includeResources=True)

    definition_fields = {"description", "region", "tags"}
    other = [
        c for c in promotion_of(body)["changes"] if c["field"] not in definition_fields
    ]
    listed = json.dumps([c["after"] for c in other])
    assert "new-1" in listed
    assert "shared-1" not in listed


async def test_dry_run_still_checks_the_direction(gql):
    collection = await make_source(gql, environment="staging")

    body = await promote(
        gql, collection["id"], dryRun=True, targetEnvironment="testing"
    )

    assert codes(body) == ["PROMOTION_NOT_ALLOWED"]


async def test_dry_run_still_checks_permissions(gql):
    collection = await make_source(gql, viewers=[VIEWER])

    body = await promote(gql, collection["id"], as_=VIEWER, dryRun=True)

    assert codes(body) == ["FORBIDDEN"]


# --------------------------------------------------------------------------
# Idempotency keys
# --------------------------------------------------------------------------


async def test_retry_with_the_same_key_returns_the_first_promotion(gql):
    collection = await make_source(gql)
    first = promotion_of(await promote(gql, collection["id"], idempotencyKey="k-1"))

    body = await promote(gql, collection["id"], idempotencyKey="k-1")

    assert promotion_of(body)["id"] == first["id"]


async def test_retry_with_the_same_key_does_not_apply_twice(gql):
    collection = await make_source(gql)
    await promote(gql, collection["id"], idempotencyKey="k-1")
    data(await gql(UPDATE, {"input": {"id": collection["id"], "description": "new"}}))
    target_before = await state_in(gql, "testing")

    await promote(gql, collection["id"], idempotencyKey="k-1")

    assert await state_in(gql, "testing") == target_before
    promotions = (await world(gql))["promotions"]
    assert promotions["totalCount"] == 1


async def test_retry_with_the_same_key_does_not_copy_resources_twice(gql):
    collection = await make_source(gql)
    await add_resource(gql, collection["id"], "i-1")
    await promote(gql, collection["id"], idempotencyKey="k-1", includeResources=True)
    await add_resource(gql, collection["id"], "i-2")

    await promote(gql, collection["id"], idempotencyKey="k-1", includeResources=True)

    target = await state_in(gql, "testing")
    assert resource_keys(target) == [("INSTANCE", "i-1")]


@pytest.mark.parametrize(
    "other",
    [
        {"includeResources": True},
        {"reason": "another reason"},
        {"targetEnvironment": "staging"},
    ],
    ids=["include-resources", "reason", "target"],
)
async def test_same_key_with_other_input_is_conflict(gql, other):
    collection = await make_source(gql)
    await promote(gql, collection["id"], idempotencyKey="k-1", reason="first")
    before = await world(gql)

    body = await promote(
        gql, collection["id"], idempotencyKey="k-1", **{"reason": "first", **other}
    )

    assert codes(body) == ["CONFLICT"]
    assert await world(gql) == before


async def test_same_key_for_another_collection_is_conflict(gql):
    first = await make_source(gql)
    second = await make_source(gql, name="api")
    await promote(gql, first["id"], idempotencyKey="k-1")
    before = await world(gql)

    body = await promote(gql, second["id"], idempotencyKey="k-1")

    assert codes(body) == ["CONFLICT"]
    assert await world(gql) == before


async def test_same_key_from_another_actor_is_independent(gql):
    collection = await make_source(gql)
    await grant_project_role(gql, EDITOR, "EDITOR")
    first = promotion_of(await promote(gql, collection["id"], idempotencyKey="k-1"))

    body = await promote(
        gql, collection["id"], as_=EDITOR, idempotencyKey="k-1", includeResources=True
    )

    second = promotion_of(body)
    assert second["id"] != first["id"]
    assert second["actor"] == EDITOR
    assert (await world(gql))["promotions"]["totalCount"] == 2


async def test_concurrent_retries_with_the_same_key_apply_once(gql):
    once = await make_source(gql, name="once")
    twice = await make_source(gql, name="twice")
    await promote(gql, once["id"], idempotencyKey="k-once")

    bodies = await asyncio.gather(
        promote(gql, twice["id"], idempotencyKey="k-twice"),
        promote(gql, twice["id"], idempotencyKey="k-twice"),
    )

    ids = {promotion_of(body)["id"] for body in bodies}
    assert len(ids) == 1
    baseline = await state_in(gql, "testing", "once")
    retried = await state_in(gql, "testing", "twice")
    assert baseline is not None
    assert retried is not None
    assert retried["version"] == baseline["version"]
    assert (await world(gql))["promotions"]["totalCount"] == 2


async def test_without_a_key_each_call_is_a_new_promotion(gql):
    collection = await make_source(gql)
    first = promotion_of(await promote(gql, collection["id"]))

    body = await promote(gql, collection["id"])

    assert promotion_of(body)["id"] != first["id"]
    assert (await world(gql))["promotions"]["totalCount"] == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"idempotencyKey": ""},
        {"idempotencyKey": "k\x00"},
        {"reason": "r" * 1001},
        {"reason": "bad\x00"},
    ],
    ids=["empty-key", "nul-key", "long-reason", "nul-reason"],
)
async def test_bad_key_or_reason_is_bad_user_input(gql, fields):
    collection = await make_source(gql)
    before = await world(gql)

    body = await promote(gql, collection["id"], **fields)

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


# --------------------------------------------------------------------------
# Reading promotions
# --------------------------------------------------------------------------


async def test_promotion_by_id_is_shown_to_a_project_viewer(gql):
    collection = await make_source(gql)
    await grant_project_role(gql, VIEWER, "VIEWER")
    promotion = promotion_of(await promote(gql, collection["id"]))

    body = await gql(PROMOTION_BY_ID, {"id": promotion["id"]}, as_=VIEWER)

    found = data(body)["promotion"]
    assert found["id"] == promotion["id"]
    assert found["status"] == "SUCCEEDED"
    assert found["source"] == {"id": collection["id"]}
    assert found["target"] == {"id": promotion["target"]["id"]}


async def test_promotion_by_id_is_shown_to_a_source_collection_viewer(gql):
    collection = await make_source(gql, viewers=[VIEWER])
    promotion = promotion_of(await promote(gql, collection["id"]))

    body = await gql(PROMOTION_BY_ID, {"id": promotion["id"]}, as_=VIEWER)

    assert data(body)["promotion"]["id"] == promotion["id"]


async def test_promotion_by_id_is_shown_to_a_target_collection_viewer(gql):
    source, target = await make_pair(gql)
    await grant_collection_role(gql, target["id"], VIEWER, "VIEWER")
    promotion = promotion_of(await promote(gql, source["id"]))

    body = await gql(PROMOTION_BY_ID, {"id": promotion["id"]}, as_=VIEWER)

    found = data(body)["promotion"]
    assert found["id"] == promotion["id"]
    assert found["source"] is None
    assert found["target"] == {"id": target["id"]}


async def test_promoted_from_is_hidden_from_a_target_only_viewer(gql):
    source, target = await make_pair(gql)
    await grant_collection_role(gql, target["id"], VIEWER, "VIEWER")
    await promote(gql, source["id"])
    query = "query($id: ID!) { collection(id: $id) { promotedFrom { id } } }"

    body = await gql(query, {"id": target["id"]}, as_=VIEWER)

    assert data(body)["collection"] == {"promotedFrom": None}


async def test_promotions_list_shows_it_to_a_reader(gql):
    collection = await make_source(gql)
    await grant_project_role(gql, VIEWER, "VIEWER")
    promotion = promotion_of(await promote(gql, collection["id"]))

    body = await gql(PROMOTIONS, {"filter": {"project": "shop"}}, as_=VIEWER)

    found = data(body)["promotions"]
    assert found["totalCount"] == 1
    assert [n["id"] for n in found["nodes"]] == [promotion["id"]]


async def test_promotion_is_hidden_from_a_stranger(gql):
    collection = await make_source(gql)
    promotion = promotion_of(await promote(gql, collection["id"]))

    by_id = await gql(PROMOTION_BY_ID, {"id": promotion["id"]}, as_=STRANGER)
    listed = await gql(PROMOTIONS, {"filter": None}, as_=STRANGER)

    assert data(by_id)["promotion"] is None
    assert data(listed)["promotions"] == {"totalCount": 0, "nodes": []}


@pytest.mark.parametrize("side", ["source", "target"])
async def test_promotions_filter_by_collection_finds_both_sides(gql, side):
    collection = await make_source(gql)
    await make_source(gql, name="unrelated")
    promotion = promotion_of(await promote(gql, collection["id"]))

    body = await gql(PROMOTIONS, {"filter": {"collectionId": promotion[side]["id"]}})

    assert [n["id"] for n in data(body)["promotions"]["nodes"]] == [promotion["id"]]


async def test_promotions_filter_by_an_unrelated_collection_finds_none(gql):
    collection = await make_source(gql)
    unrelated = await make_source(gql, name="unrelated")
    await promote(gql, collection["id"])

    body = await gql(PROMOTIONS, {"filter": {"collectionId": unrelated["id"]}})

    assert data(body)["promotions"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [(["SUCCEEDED"], 1), (["DRY_RUN", "PENDING_APPROVAL"], 0), ([], 1)],
)
async def test_promotions_filter_by_status(gql, statuses, expected):
    collection = await make_source(gql)
    await promote(gql, collection["id"])

    body = await gql(PROMOTIONS, {"filter": {"status": statuses}})

    assert data(body)["promotions"]["totalCount"] == expected


async def test_promotions_filter_by_another_project_finds_none(gql):
    collection = await make_source(gql)
    await make_source(gql, project="other")
    await promote(gql, collection["id"])

    body = await gql(PROMOTIONS, {"filter": {"project": "other"}})

    assert data(body)["promotions"]["totalCount"] == 0


@pytest.mark.parametrize(
    "collection_id",
    [
        "not-an-id",
        base64.urlsafe_b64encode(b"Project:0123456789abcdef01234567").decode(),
    ],
    ids=["malformed", "project-id"],
)
async def test_promotions_filter_by_a_bad_collection_id_is_bad_user_input(
    gql, collection_id
):
    body = await gql(PROMOTIONS, {"filter": {"collectionId": collection_id}})

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_dry_run_is_not_listed(gql):
    collection = await make_source(gql)
    await promote(gql, collection["id"], dryRun=True)

    body = await gql(PROMOTIONS, {"filter": {"project": "shop"}})

    assert data(body)["promotions"]["totalCount"] == 0


# --------------------------------------------------------------------------
# Permissions
# --------------------------------------------------------------------------


async def test_project_editor_may_promote_to_a_new_target(gql):
    collection = await make_source(gql)
    await grant_project_role(gql, EDITOR, "EDITOR")

    body = await promote(gql, collection["id"], as_=EDITOR)

    assert promotion_of(body)["status"] == "SUCCEEDED"


async def test_source_viewer_cannot_promote(gql):
    collection = await make_source(gql, viewers=[VIEWER])
    before = await world(gql)

    body = await promote(gql, collection["id"], as_=VIEWER)

    assert codes(body) == ["FORBIDDEN"]
    assert await world(gql) == before


async def test_project_viewer_cannot_promote(gql):
    collection = await make_source(gql)
    await grant_project_role(gql, VIEWER, "VIEWER")
    before = await world(gql)

    body = await promote(gql, collection["id"], as_=VIEWER)

    assert codes(body) == ["FORBIDDEN"]
    assert await world(gql) == before


async def test_stranger_gets_not_found(gql):
    collection = await make_source(gql)
    before = await world(gql)

    body = await promote(gql, collection["id"], as_=STRANGER)

    assert codes(body) == ["NOT_FOUND"]
    assert await world(gql) == before


async def test_source_editor_without_project_editor_cannot_create_the_target(gql):
    collection = await make_source(gql, editors=[EDITOR])
    before = await world(gql)

    body = await promote(gql, collection["id"], as_=EDITOR)

    assert codes(body) == ["FORBIDDEN"]
    assert await world(gql) == before


async def test_source_editor_needs_editor_on_an_existing_target(gql):
    source, target = await make_pair(gql)
    await grant_collection_role(gql, source["id"], EDITOR, "EDITOR")
    await grant_collection_role(gql, target["id"], EDITOR, "VIEWER")
    before = await world(gql)

    body = await promote(gql, source["id"], as_=EDITOR)

    assert codes(body) == ["FORBIDDEN"]
    assert await world(gql) == before


async def test_editor_on_source_and_existing_target_may_promote(gql):
    source, target = await make_pair(gql)
    await grant_collection_role(gql, source["id"], EDITOR, "EDITOR")
    await grant_collection_role(gql, target["id"], EDITOR, "EDITOR")

    body = await promote(gql, source["id"], as_=EDITOR)

    assert promotion_of(body)["target"]["id"] == target["id"]


async def test_unknown_collection_is_not_found(gql):
    await make_source(gql)
    before = await world(gql)
    raw = f"ServiceCollection:{ObjectId()}".encode()
    missing = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    body = await promote(gql, missing)

    assert codes(body) == ["NOT_FOUND"]
    assert await world(gql) == before


async def test_malformed_collection_id_is_bad_user_input(gql):
    await make_source(gql)
    before = await world(gql)

    body = await promote(gql, "not-an-id")

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


async def test_promotion_without_a_token_is_unauthenticated(gql):
    collection = await make_source(gql)
    before = await world(gql)

    body = await promote(gql, collection["id"], as_=None)

    assert codes(body) == ["UNAUTHENTICATED"]
    assert await world(gql) == before
