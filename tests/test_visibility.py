"""Visibility: whatever a subject may not read does not exist for it.

Lists, their totalCount, the counts on EnvironmentStage and collections,
nested project views, ``node(id)``, ``collection(id)`` and the other
by-id/by-name queries must agree with the roles in ARCHITECTURE.md.

The world here is larger than the matrix's::

    shop  (owner@)   development: web-app [res-1 res-2 res-3], api [res-4]
                     staging:     batch [res-5]
    other (other@)   development: internal [res-9]

A caller's collection grant goes on shop/development/web-app only; a
project grant goes on shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.access_world import (
    ALL_CALLERS,
    CALLERS,
    OWNER,
    PROMOTE,
    UNAUTHENTICATED,
    UPDATE_COLLECTION_PERMISSIONS,
    UPDATE_PROJECT_PERMISSIONS,
    Caller,
    caller,
    give_grant,
    grant_collection,
    set_resource_access,
)
from tests.conftest import GraphQLClient, codes, data
from tests.factories import add_resource, create_collection

OTHER = "other@example.com"

SHOP = {
    ("development", "web-app"): ["res-1", "res-2", "res-3"],
    ("development", "api"): ["res-4"],
    ("staging", "batch"): ["res-5"],
}
OTHER_PROJECT = {("development", "internal"): ["res-9"]}


@dataclass
class Ids:
    collections: dict[str, str]
    resources: dict[str, str]
    projects: dict[str, str]


async def _fill(
    gql: GraphQLClient, owner: str, project: str, layout: dict[Any, list[str]], ids: Ids
) -> None:
    for (environment, name), resource_ids in layout.items():
        collection = await create_collection(
            gql, as_=owner, name=name, project=project, environment=environment
        )
        ids.collections[name] = collection["id"]
        for resource_id in resource_ids:
            added = await add_resource(gql, collection["id"], resource_id, as_=owner)
            ids.resources[resource_id] = added["resource"]["id"]


async def build(gql: GraphQLClient, who: Caller | None = None) -> Ids:
    ids = Ids({}, {}, {})
    await _fill(gql, OWNER, "shop", SHOP, ids)
    await _fill(gql, OTHER, "other", OTHER_PROJECT, ids)
    body = await gql("{ projects { nodes { id name } } }", admin=True)
    ids.projects = {p["name"]: p["id"] for p in data(body)["projects"]["nodes"]}
    if who is not None:
        await give_grant(gql, who, [ids.collections["web-app"]])
    return ids


# What each kind of caller may read. Resource overrides on res-1 only.
EVERYTHING = "everything"
WHOLE_SHOP = "whole shop"
WEB_APP_ONLY = "web-app only"
NOTHING = "nothing"


def scope_of(who: Caller) -> str:
    if who.admin:
        return EVERYTHING
    if who.project_role is not None:
        return WHOLE_SHOP
    if who.collection_role is not None:
        return WEB_APP_ONLY
    return NOTHING


READABLE = {
    EVERYTHING: {
        "projects": ["other", "shop"],
        "collections": ["api", "batch", "internal", "web-app"],
    },
    WHOLE_SHOP: {"projects": ["shop"], "collections": ["api", "batch", "web-app"]},
    WEB_APP_ONLY: {"projects": ["shop"], "collections": ["web-app"]},
    NOTHING: {"projects": [], "collections": []},
}

AUTHENTICATED = [c for c in CALLERS if not c.anonymous]


def _ids(callers: list[Caller]) -> list[Any]:
    return [pytest.param(c, id=c.kind) for c in callers]


# ---------------------------------------------------------------------------
# Lists and their totalCount
# ---------------------------------------------------------------------------

PROJECTS = "{ projects(first: 100) { totalCount nodes { name } } }"
COLLECTIONS = """
query($filter: CollectionFilter) {
  collections(filter: $filter, first: 100) { totalCount nodes { name } }
}"""


@pytest.mark.parametrize("who", _ids(AUTHENTICATED))
async def test_projects_lists_only_readable_projects(gql, who):
    await build(gql, who)

    body = await who.send(gql, PROJECTS)

    projects = data(body)["projects"]
    assert [p["name"] for p in projects["nodes"]] == READABLE[scope_of(who)]["projects"]


@pytest.mark.parametrize("who", _ids(AUTHENTICATED))
async def test_projects_total_count_counts_only_readable_projects(gql, who):
    await build(gql, who)

    body = await who.send(gql, PROJECTS)

    expected = len(READABLE[scope_of(who)]["projects"])
    assert data(body)["projects"]["totalCount"] == expected


@pytest.mark.parametrize("who", _ids(AUTHENTICATED))
async def test_collections_lists_only_readable_collections(gql, who):
    await build(gql, who)

    body = await who.send(gql, COLLECTIONS)

    names = [c["name"] for c in data(body)["collections"]["nodes"]]
    assert names == READABLE[scope_of(who)]["collections"]


@pytest.mark.parametrize("who", _ids(AUTHENTICATED))
async def test_collections_total_count_counts_only_readable_collections(gql, who):
    await build(gql, who)

    body = await who.send(gql, COLLECTIONS)

    expected = len(READABLE[scope_of(who)]["collections"])
    assert data(body)["collections"]["totalCount"] == expected


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        pytest.param({"project": "other"}, [], id="project"),
        pytest.param({"nameContains": "intern"}, [], id="nameContains"),
        pytest.param({"environment": "development"}, ["web-app"], id="environment"),
    ],
)
async def test_collection_filters_never_reach_unreadable_collections(
    gql, filter_, expected
):
    who = caller("viewer")
    await build(gql, who)

    body = await who.send(gql, COLLECTIONS, {"filter": filter_})

    found = data(body)["collections"]
    names = [c["name"] for c in found["nodes"]]
    assert (names, found["totalCount"]) == (expected, len(expected))


async def test_list_pages_hold_only_readable_items(gql):
    who = caller("viewer")
    ids = await build(gql, who)
    await grant_collection(gql, ids.collections["batch"], who.subject or "", "VIEWER")
    query = """
    query($after: String) {
      collections(first: 1, after: $after) {
        totalCount nodes { name } pageInfo { hasNextPage endCursor }
      }
    }"""

    first = data(await who.send(gql, query))["collections"]
    after = {"after": first["pageInfo"]["endCursor"]}
    second = data(await who.send(gql, query, after))["collections"]

    assert [first["nodes"][0]["name"], second["nodes"][0]["name"]] == [
        "batch",
        "web-app",
    ]
    assert (first["totalCount"], second["pageInfo"]["hasNextPage"]) == (2, False)


# ---------------------------------------------------------------------------
# A subject with only a collection grant
# ---------------------------------------------------------------------------

PROJECT_VIEW = """
query($name: String!) {
  project(name: $name) {
    name myRole
    collections(first: 100) { totalCount nodes { name } }
    environments { name collectionCount resourceCount collections { name } }
  }
}"""


@pytest.mark.parametrize("kind", ["viewer", "editor", "group-owner", "group-viewer"])
async def test_collection_grant_shows_the_project(gql, kind):
    who = caller(kind)
    await build(gql, who)

    body = await who.send(gql, PROJECT_VIEW, {"name": "shop"})

    assert data(body)["project"]["name"] == "shop"


@pytest.mark.parametrize("kind", ["viewer", "editor", "group-owner", "group-viewer"])
async def test_collection_grant_gives_no_project_role(gql, kind):
    who = caller(kind)
    await build(gql, who)

    body = await who.send(gql, PROJECT_VIEW, {"name": "shop"})

    assert data(body)["project"]["myRole"] is None


@pytest.mark.parametrize("kind", ["viewer", "editor", "group-owner", "group-viewer"])
async def test_collection_grant_shows_only_that_collection_of_the_project(gql, kind):
    who = caller(kind)
    await build(gql, who)

    body = await who.send(gql, PROJECT_VIEW, {"name": "shop"})

    collections = data(body)["project"]["collections"]
    assert ([c["name"] for c in collections["nodes"]], collections["totalCount"]) == (
        ["web-app"],
        1,
    )


async def test_collection_grant_does_not_open_sibling_collections(gql):
    who = caller("viewer")
    ids = await build(gql, who)

    body = await who.send(gql, COLLECTION_BY_ID, {"id": ids.collections["api"]})

    assert data(body)["collection"] is None


async def test_project_disappears_when_the_only_grant_is_revoked(gql):
    who = caller("viewer")
    ids = await build(gql, who)
    await gql(
        UPDATE_COLLECTION_PERMISSIONS,
        {"input": {"id": ids.collections["web-app"], "revoke": [who.subject]}},
    )

    body = await who.send(gql, PROJECTS)

    assert data(body)["projects"] == {"totalCount": 0, "nodes": []}


async def test_project_disappears_when_the_readable_collection_is_deleted(gql):
    who = caller("viewer")
    ids = await build(gql, who)
    delete = """
    mutation($id: ID!) { deleteCollection(input: {id: $id, force: true}) { deletedId } }
    """
    data(await gql(delete, {"id": ids.collections["web-app"]}))

    body = await who.send(gql, PROJECTS)

    assert data(body)["projects"] == {"totalCount": 0, "nodes": []}


async def test_project_role_revocation_hides_the_project(gql):
    who = caller("project-viewer")
    await build(gql, who)
    await gql(
        UPDATE_PROJECT_PERMISSIONS, {"input": {"name": "shop", "revoke": [who.subject]}}
    )

    body = await who.send(gql, PROJECT_VIEW, {"name": "shop"})

    assert data(body)["project"] is None


# ---------------------------------------------------------------------------
# EnvironmentStage counts and the nested view
# ---------------------------------------------------------------------------

# Pages sized to the world: with 100 of each this nesting could ask for a
# million resources, which the cost limit refuses.
NESTED = """
{
  projects(first: 10) {
    nodes {
      name
      environments {
        name collectionCount resourceCount
        collections { name resourceCount resources(first: 20) { nodes { resourceId } } }
      }
    }
  }
}"""


def _expected_stages(scope: str) -> dict[str, tuple[int, int]]:
    """(collectionCount, resourceCount) per shop environment."""
    if scope in (EVERYTHING, WHOLE_SHOP):
        return {
            "development": (2, 4),
            "testing": (0, 0),
            "staging": (1, 1),
            "production": (0, 0),
        }
    return {
        "development": (1, 3),
        "testing": (0, 0),
        "staging": (0, 0),
        "production": (0, 0),
    }


def _stages(body: dict[str, Any], project: str = "shop") -> dict[str, Any]:
    projects = {p["name"]: p for p in data(body)["projects"]["nodes"]}
    return {s["name"]: s for s in projects[project]["environments"]}


def _nested_expectation(scope: str, hidden: tuple[str, ...] = ()) -> dict[str, Any]:
    layouts = {
        EVERYTHING: {"shop": SHOP, "other": OTHER_PROJECT},
        WHOLE_SHOP: {"shop": SHOP},
        WEB_APP_ONLY: {
            "shop": {("development", "web-app"): SHOP[("development", "web-app")]}
        },
        NOTHING: {},
    }[scope]
    result: dict[str, Any] = {}
    for project, layout in layouts.items():
        for (environment, name), resource_ids in layout.items():
            shown = [r for r in resource_ids if r not in hidden]
            result.setdefault(project, {}).setdefault(environment, {})[name] = shown
    return result


def _nested(body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for project in data(body)["projects"]["nodes"]:
        for stage in project["environments"]:
            for collection in stage["collections"]:
                shown = [r["resourceId"] for r in collection["resources"]["nodes"]]
                env = result.setdefault(project["name"], {}).setdefault(
                    stage["name"], {}
                )
                env[collection["name"]] = shown
    return result


@pytest.mark.parametrize("who", _ids([c for c in AUTHENTICATED if c.sees_project]))
async def test_stage_counts_count_only_readable_collections_and_resources(gql, who):
    await build(gql, who)

    body = await who.send(gql, NESTED)

    stages = _stages(body)
    counts = {n: (s["collectionCount"], s["resourceCount"]) for n, s in stages.items()}
    assert counts == _expected_stages(scope_of(who))


@pytest.mark.parametrize("who", _ids(AUTHENTICATED))
async def test_nested_view_shows_only_readable_collections_and_resources(gql, who):
    await build(gql, who)

    body = await who.send(gql, NESTED)

    assert _nested(body) == _nested_expectation(scope_of(who))


async def test_stage_counts_of_a_project_never_include_another_project(gql):
    await build(gql)

    body = await gql(NESTED, as_=OTHER)

    development = _stages(body, "other")["development"]
    assert (development["collectionCount"], development["resourceCount"]) == (1, 1)


# ---------------------------------------------------------------------------
# Resource grants: NONE hides a resource everywhere it could show
# ---------------------------------------------------------------------------

COLLECTION_VIEW = """
query($id: ID!) {
  collection(id: $id) {
    resourceCount
    resources(first: 100) { totalCount nodes { resourceId } }
    typed: resources(filter: {resourceTypes: [INSTANCE]}) { totalCount }
  }
}"""

# Who is hidden from res-1, and how: in person or through a group.
HIDDEN = [
    pytest.param("viewer", "viewer@example.com", id="viewer"),
    pytest.param("editor", "editor@example.com", id="editor"),
    pytest.param("group-viewer", "group:qa", id="group-viewer-via-group"),
    pytest.param("group-editor", "dev@example.com", id="group-editor-in-person"),
    pytest.param("project-viewer", "auditor@example.com", id="project-viewer"),
    pytest.param("project-editor", "pm@example.com", id="project-editor"),
    pytest.param("project-group-editor", "group:platform", id="project-group"),
]

# Owners of the collection or the project, and admins, are never lowered.
NEVER_HIDDEN = [
    pytest.param("owner", OWNER, id="owner"),
    pytest.param("admin", "admin@example.com", id="admin"),
    pytest.param("group-owner", "group:leads", id="group-owner-via-group"),
    pytest.param("project-owner", "cto@example.com", id="project-owner"),
]


async def _hide_res_1(
    gql: GraphQLClient, kind: str, subject: str
) -> tuple[Caller, Ids]:
    who = caller(kind)
    ids = await build(gql, who)
    await set_resource_access(
        gql, ids.collections["web-app"], "res-1", [(subject, "NONE")]
    )
    return who, ids


@pytest.mark.parametrize(("kind", "subject"), HIDDEN)
async def test_none_grant_hides_the_resource_from_the_list(gql, kind, subject):
    who, ids = await _hide_res_1(gql, kind, subject)

    body = await who.send(gql, COLLECTION_VIEW, {"id": ids.collections["web-app"]})

    nodes = data(body)["collection"]["resources"]["nodes"]
    assert [n["resourceId"] for n in nodes] == ["res-2", "res-3"]


@pytest.mark.parametrize(("kind", "subject"), HIDDEN)
async def test_none_grant_leaves_the_resource_out_of_counts(gql, kind, subject):
    who, ids = await _hide_res_1(gql, kind, subject)

    body = await who.send(gql, COLLECTION_VIEW, {"id": ids.collections["web-app"]})

    collection = data(body)["collection"]
    assert (
        collection["resourceCount"],
        collection["resources"]["totalCount"],
        collection["typed"]["totalCount"],
    ) == (2, 2, 2)


@pytest.mark.parametrize(("kind", "subject"), HIDDEN)
async def test_none_grant_leaves_the_resource_out_of_stage_counts(gql, kind, subject):
    who, _ = await _hide_res_1(gql, kind, subject)

    body = await who.send(gql, NESTED)

    development = _stages(body)["development"]
    expected = 3 if scope_of(who) == WHOLE_SHOP else 2
    assert development["resourceCount"] == expected


@pytest.mark.parametrize(("kind", "subject"), HIDDEN)
async def test_none_grant_hides_the_resource_from_the_nested_view(gql, kind, subject):
    who, _ = await _hide_res_1(gql, kind, subject)

    body = await who.send(gql, NESTED)

    assert _nested(body) == _nested_expectation(scope_of(who), hidden=("res-1",))


@pytest.mark.parametrize(("kind", "subject"), HIDDEN)
async def test_none_grant_makes_node_of_the_resource_null(gql, kind, subject):
    who, ids = await _hide_res_1(gql, kind, subject)

    body = await who.send(gql, NODE, {"id": ids.resources["res-1"]})

    assert data(body) == {"node": None}


@pytest.mark.parametrize(("kind", "subject"), NEVER_HIDDEN)
async def test_none_grant_never_hides_from_owners(gql, kind, subject):
    who, ids = await _hide_res_1(gql, kind, subject)

    body = await who.send(gql, COLLECTION_VIEW, {"id": ids.collections["web-app"]})

    collection = data(body)["collection"]
    assert (collection["resourceCount"], collection["resources"]["totalCount"]) == (
        3,
        3,
    )


@pytest.mark.parametrize(("kind", "subject"), NEVER_HIDDEN)
async def test_none_grant_never_lowers_owners_stage_counts(gql, kind, subject):
    who, _ = await _hide_res_1(gql, kind, subject)

    body = await who.send(gql, NESTED)

    expected = 3 if scope_of(who) == WEB_APP_ONLY else 4
    assert _stages(body)["development"]["resourceCount"] == expected


async def test_none_grant_for_one_subject_hides_nothing_from_others(gql):
    _who, ids = await _hide_res_1(gql, "viewer", "someone-else@example.com")

    body = await gql(
        COLLECTION_VIEW, {"id": ids.collections["web-app"]}, as_="viewer@example.com"
    )

    assert data(body)["collection"]["resources"]["totalCount"] == 3


async def test_lifting_a_none_grant_shows_the_resource_again(gql):
    who, ids = await _hide_res_1(gql, "project-viewer", "auditor@example.com")
    await set_resource_access(gql, ids.collections["web-app"], "res-1", [])

    body = await who.send(gql, NESTED)

    assert _stages(body)["development"]["resourceCount"] == 4


async def test_resource_grant_alone_does_not_show_the_collection(gql):
    # A resource grant adjusts a role on a readable collection; it is no
    # way in for a subject without one.
    ids = await build(gql)
    await set_resource_access(
        gql, ids.collections["web-app"], "res-1", [("stranger@example.com", "EDITOR")]
    )

    body = await gql(PROJECTS, as_="stranger@example.com")

    assert data(body)["projects"]["totalCount"] == 0


# ---------------------------------------------------------------------------
# One object by id or name: null (no error) when unreadable
# ---------------------------------------------------------------------------

NODE = """
query($id: ID!) {
  node(id: $id) {
    id __typename
    ... on ServiceCollection { name }
    ... on Project { name }
    ... on ResourceReference { resourceId }
    ... on Promotion { name }
  }
}"""
COLLECTION_BY_ID = "query($id: ID!) { collection(id: $id) { id name } }"
COLLECTION_BY_NAME = """
query($project: String!, $environment: String!, $name: String!) {
  collectionByName(project: $project, environment: $environment, name: $name) { id }
}"""
PROJECT_BY_NAME = "query($name: String!) { project(name: $name) { id } }"
PROMOTION_BY_ID = "query($id: ID!) { promotion(id: $id) { id } }"


async def _promote(gql: GraphQLClient, collection_id: str, *, as_: str = OWNER) -> str:
    body = await gql(PROMOTE, {"input": {"id": collection_id}}, as_=as_)
    promotion_id: str = data(body)["promoteCollection"]["promotion"]["id"]
    return promotion_id


async def _node_ids(gql: GraphQLClient, ids: Ids) -> dict[str, str]:
    return {
        "ServiceCollection": ids.collections["web-app"],
        "Project": ids.projects["shop"],
        "ResourceReference": ids.resources["res-1"],
        "Promotion": await _promote(gql, ids.collections["web-app"]),
    }


NODE_TYPES = ["ServiceCollection", "Project", "ResourceReference", "Promotion"]


@pytest.mark.parametrize("type_name", NODE_TYPES)
async def test_node_is_null_for_a_stranger(gql, type_name):
    ids = await build(gql)
    node_id = (await _node_ids(gql, ids))[type_name]

    body = await gql(NODE, {"id": node_id}, as_="stranger@example.com")

    assert body == {"data": {"node": None}}


@pytest.mark.parametrize("type_name", NODE_TYPES)
@pytest.mark.parametrize("kind", ["viewer", "group-viewer", "project-viewer", "admin"])
async def test_node_answers_a_reader(gql, type_name, kind):
    who = caller(kind)
    ids = await build(gql, who)
    node_id = (await _node_ids(gql, ids))[type_name]

    body = await who.send(gql, NODE, {"id": node_id})

    assert data(body)["node"]["__typename"] == type_name


async def test_node_of_a_sibling_collection_is_null_for_a_collection_grantee(gql):
    who = caller("viewer")
    ids = await build(gql, who)

    body = await who.send(gql, NODE, {"id": ids.resources["res-4"]})

    assert body == {"data": {"node": None}}


@pytest.mark.parametrize("kind", ["stranger", "stranger+res-editor"])
async def test_collection_by_id_is_null_for_a_stranger(gql, kind):
    who = caller(kind)
    ids = await build(gql, who)
    if who.resource_grant:
        await set_resource_access(
            gql, ids.collections["web-app"], "res-1", [(who.subject, "EDITOR")]
        )

    body = await who.send(gql, COLLECTION_BY_ID, {"id": ids.collections["web-app"]})

    assert body == {"data": {"collection": None}}


async def test_collection_by_id_of_a_deleted_collection_is_null(gql):
    ids = await build(gql)
    delete = """
    mutation($id: ID!) { deleteCollection(input: {id: $id, force: true}) { deletedId } }
    """
    data(await gql(delete, {"id": ids.collections["web-app"]}))

    body = await gql(COLLECTION_BY_ID, {"id": ids.collections["web-app"]})

    assert body == {"data": {"collection": None}}


async def test_collection_by_name_is_null_for_a_stranger(gql):
    await build(gql)
    variables = {"project": "shop", "environment": "development", "name": "web-app"}

    body = await gql(COLLECTION_BY_NAME, variables, as_="stranger@example.com")

    assert body == {"data": {"collectionByName": None}}


async def test_project_by_name_is_null_for_a_stranger(gql):
    await build(gql)

    body = await gql(PROJECT_BY_NAME, {"name": "shop"}, as_="stranger@example.com")

    assert body == {"data": {"project": None}}


async def test_unreadable_and_missing_collections_look_the_same(gql):
    ids = await build(gql)
    delete = """
    mutation($id: ID!) { deleteCollection(input: {id: $id, force: true}) { deletedId } }
    """
    data(await gql(delete, {"id": ids.collections["api"]}))

    unreadable = await gql(
        COLLECTION_BY_ID, {"id": ids.collections["web-app"]}, as_="stranger@example.com"
    )
    missing = await gql(
        COLLECTION_BY_ID, {"id": ids.collections["api"]}, as_="stranger@example.com"
    )

    assert unreadable == missing


@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param("not-an-id", id="garbage"),
        pytest.param("UHJvamVjdDp4", id="bad-object-id"),
    ],
)
async def test_malformed_collection_id_is_bad_user_input(gql, bad_id):
    await build(gql)

    body = await gql(COLLECTION_BY_ID, {"id": bad_id}, as_="stranger@example.com")

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_project_id_is_not_a_collection_id(gql):
    ids = await build(gql)

    body = await gql(COLLECTION_BY_ID, {"id": ids.projects["shop"]})

    assert codes(body) == ["BAD_USER_INPUT"]


# ---------------------------------------------------------------------------
# Promotions
# ---------------------------------------------------------------------------

PROMOTIONS = """
query($filter: PromotionFilter) {
  promotions(filter: $filter, first: 100) {
    totalCount
    nodes { name project source { name } target { name } }
  }
}"""


async def _promote_all(gql: GraphQLClient, ids: Ids) -> None:
    await _promote(gql, ids.collections["web-app"])
    await _promote(gql, ids.collections["api"])
    await _promote(gql, ids.collections["internal"], as_=OTHER)


PROMOTIONS_SEEN = {
    EVERYTHING: ["internal", "api", "web-app"],
    WHOLE_SHOP: ["api", "web-app"],
    WEB_APP_ONLY: ["web-app"],
    NOTHING: [],
}


@pytest.mark.parametrize("who", _ids(AUTHENTICATED))
async def test_promotions_lists_only_readable_promotions(gql, who):
    ids = await build(gql, who)
    await _promote_all(gql, ids)

    body = await who.send(gql, PROMOTIONS)

    names = [p["name"] for p in data(body)["promotions"]["nodes"]]
    assert names == PROMOTIONS_SEEN[scope_of(who)]


@pytest.mark.parametrize("who", _ids(AUTHENTICATED))
async def test_promotions_total_count_counts_only_readable_promotions(gql, who):
    ids = await build(gql, who)
    await _promote_all(gql, ids)

    body = await who.send(gql, PROMOTIONS)

    expected = len(PROMOTIONS_SEEN[scope_of(who)])
    assert data(body)["promotions"]["totalCount"] == expected


@pytest.mark.parametrize(
    "filter_",
    [
        pytest.param({"project": "other"}, id="project"),
        pytest.param(None, id="collectionId"),
    ],
)
async def test_promotion_filters_never_reach_unreadable_promotions(gql, filter_):
    ids = await build(gql)
    await _promote_all(gql, ids)
    filter_ = filter_ or {"collectionId": ids.collections["internal"]}

    body = await gql(PROMOTIONS, {"filter": filter_})

    assert data(body)["promotions"] == {"totalCount": 0, "nodes": []}


async def test_promotion_hides_a_target_the_reader_cannot_read(gql):
    # The viewer of the source is not copied to the new target.
    who = caller("viewer")
    ids = await build(gql, who)
    await _promote(gql, ids.collections["web-app"])

    body = await who.send(gql, PROMOTIONS)

    node = data(body)["promotions"]["nodes"][0]
    assert (node["source"], node["target"]) == ({"name": "web-app"}, None)


async def test_promotion_by_id_is_null_for_a_stranger(gql):
    ids = await build(gql)
    promotion_id = await _promote(gql, ids.collections["web-app"])

    body = await gql(PROMOTION_BY_ID, {"id": promotion_id}, as_="stranger@example.com")

    assert body == {"data": {"promotion": None}}


async def test_promotion_by_id_answers_a_reader_of_the_target_only(gql):
    ids = await build(gql)
    promotion_id = await _promote(gql, ids.collections["web-app"])
    target = data(
        await gql(
            COLLECTION_BY_NAME,
            {"project": "shop", "environment": "testing", "name": "web-app"},
        )
    )["collectionByName"]
    await grant_collection(gql, target["id"], "newbie@example.com", "VIEWER")

    body = await gql(PROMOTION_BY_ID, {"id": promotion_id}, as_="newbie@example.com")

    assert data(body)["promotion"] == {"id": promotion_id}


async def test_promoted_from_is_null_when_the_source_is_unreadable(gql):
    ids = await build(gql)
    await _promote(gql, ids.collections["web-app"])
    query = """
    query {
      collectionByName(project: "shop", environment: "testing", name: "web-app") {
        id promotedFrom { name }
      }
    }"""
    target = data(await gql(query))["collectionByName"]
    await grant_collection(gql, target["id"], "newbie@example.com", "VIEWER")

    body = await gql(query, as_="newbie@example.com")

    assert data(body)["collectionByName"] == {"id": target["id"], "promotedFrom": None}


async def test_promoted_from_shows_a_readable_source(gql):
    ids = await build(gql)
    await _promote(gql, ids.collections["web-app"])
    query = """
    query {
      collectionByName(project: "shop", environment: "testing", name: "web-app") {
        promotedFrom { name environment }
      }
    }"""

    body = await gql(query)

    assert data(body)["collectionByName"]["promotedFrom"] == {
        "name": "web-app",
        "environment": "development",
    }


# ---------------------------------------------------------------------------
# No token
# ---------------------------------------------------------------------------

ANONYMOUS_QUERIES = [
    pytest.param(PROJECTS, {}, id="projects"),
    pytest.param(COLLECTIONS, {}, id="collections"),
    pytest.param(PROMOTIONS, {}, id="promotions"),
    pytest.param(NESTED, {}, id="nested"),
    pytest.param(PROJECT_BY_NAME, {"name": "shop"}, id="project"),
    pytest.param(
        COLLECTION_BY_NAME,
        {"project": "shop", "environment": "development", "name": "web-app"},
        id="collectionByName",
    ),
    pytest.param("{ viewer { subject } }", {}, id="viewer"),
]


@pytest.mark.parametrize(("query", "variables"), ANONYMOUS_QUERIES)
async def test_queries_without_a_token_are_unauthenticated(gql, query, variables):
    await build(gql)

    body = await gql(query, variables, as_=None)

    assert codes(body) == [UNAUTHENTICATED]


@pytest.mark.parametrize("type_name", NODE_TYPES)
async def test_node_without_a_token_is_unauthenticated(gql, type_name):
    ids = await build(gql)
    node_id = (await _node_ids(gql, ids))[type_name]

    body = await gql(NODE, {"id": node_id}, as_=None)

    assert codes(body) == [UNAUTHENTICATED]


# ---------------------------------------------------------------------------
# Every caller kind, read one way
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", _ids([c for c in ALL_CALLERS if not c.anonymous]))
async def test_collection_by_id_is_readable_exactly_with_a_collection_role(gql, who):
    ids = await build(gql, who)
    if who.resource_grant:
        subject = who.grant_subject or who.subject
        await set_resource_access(
            gql, ids.collections["web-app"], "res-1", [(subject, who.resource_grant)]
        )

    body = await who.send(gql, COLLECTION_BY_ID, {"id": ids.collections["web-app"]})

    readable = data(body)["collection"] is not None
    assert readable == (who.collection_role is not None)
