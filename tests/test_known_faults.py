"""Regressions for faults GraphQL servers are known for.

Fragment cycles that recurse until the stack runs out, alias bombs hidden
behind fragments, permission checks that a fragment or an alias walks
around, and JSON arguments that smuggle MongoDB operators into a query.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.access_world import set_resource_access
from tests.conftest import codes, data
from tests.factories import add_resource, create_collection
from tests.readback import collection_state

STRANGER = "stranger@example.com"
VIEWER = "viewer@example.com"

GRANT = """
mutation($input: UpdateCollectionPermissionsInput!) {
  updateCollectionPermissions(input: $input) { collection { version } } }
"""

ADD = """
mutation($input: AddResourceInput!) {
  addResourceToCollection(input: $input) { resource { id metadata } } }
"""


def _limits_of(body: dict[str, Any]) -> set[str]:
    return {error["extensions"].get("limit") for error in body["errors"]}


# --------------------------------------------------------------------------
# Fragment cycles and chains
# --------------------------------------------------------------------------

CYCLES = {
    "self": "{ viewer { ...A } } fragment A on Viewer { subject ...A }",
    "mutual": (
        "{ viewer { ...A } } fragment A on Viewer { ...B } "
        "fragment B on Viewer { subject ...A }"
    ),
    "through-fields": (
        '{ collection(id: "x") { ...A } } '
        "fragment A on ServiceCollection { promotedFrom { ...B } } "
        "fragment B on ServiceCollection { id promotedFrom { ...A } }"
    ),
    "through-aliases": (
        '{ collection(id: "x") { ...A } } '
        "fragment A on ServiceCollection { a: promotedFrom { ...A } "
        "b: promotedFrom { ...A } }"
    ),
    "unused": "{ viewer { subject } } fragment A on Viewer { ...A }",
}


@pytest.mark.parametrize("query", CYCLES.values(), ids=list(CYCLES))
async def test_fragment_cycle_is_validation_failed(gql, query):
    body = await gql(query)

    assert set(codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert body.get("data") is None


async def test_long_fragment_chain_is_refused_cleanly(gql):
    count = 220
    chain = " ".join(f"fragment F{n} on Viewer {{ ...F{n + 1} }}" for n in range(count))
    query = (
        f"{{ viewer {{ ...F0 }} }} {chain} fragment F{count} on Viewer {{ subject }}"
    )

    body = await gql(query)

    assert codes(body)
    assert set(codes(body)) <= {"QUERY_TOO_COMPLEX", "GRAPHQL_VALIDATION_FAILED"}


# --------------------------------------------------------------------------
# Alias bombs
# --------------------------------------------------------------------------


async def test_alias_bomb_through_fragments_is_refused_quickly(gql):
    # Each fragment spreads the next one twice: 2**30 aliased fields.
    levels = 30
    fragments = " ".join(
        f"fragment F{n} on ServiceCollection "
        f"{{ a: promotedFrom {{ ...F{n + 1} }} b: promotedFrom {{ ...F{n + 1} }} }}"
        for n in range(levels)
    )
    query = (
        f'{{ collection(id: "x") {{ ...F0 }} }} {fragments} '
        f"fragment F{levels} on ServiceCollection {{ id }}"
    )
    started = time.monotonic()

    body = await gql(query)

    assert set(codes(body)) == {"QUERY_TOO_COMPLEX"}
    assert "aliases" in _limits_of(body)
    assert time.monotonic() - started < 2


async def test_wide_alias_bomb_of_one_field_is_refused_quickly(gql):
    fields = " ".join(f"a{n}: viewer {{ subject }}" for n in range(900))
    started = time.monotonic()

    body = await gql(f"{{ {fields} }}")

    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert time.monotonic() - started < 2


# --------------------------------------------------------------------------
# Permissions reached through fragments and aliases
# --------------------------------------------------------------------------

HIDDEN_COLLECTION = {
    "fragment-and-alias": (
        "query($id: ID!) { a: collection(id: $id) { ...F } } "
        "fragment F on ServiceCollection { owners }"
    ),
    "inline-fragment-on-node": (
        "query($id: ID!) { n: node(id: $id) { ... on ServiceCollection { owners } } }"
    ),
    "nested-fragments": (
        "query($id: ID!) { a: collection(id: $id) { ...Outer } } "
        "fragment Outer on ServiceCollection { ...Inner } "
        "fragment Inner on ServiceCollection { secret: owners }"
    ),
}


@pytest.mark.parametrize(
    "query", HIDDEN_COLLECTION.values(), ids=list(HIDDEN_COLLECTION)
)
async def test_stranger_reads_null_through_fragments_and_aliases(gql, query):
    collection = await create_collection(gql)

    body = await gql(query, {"id": collection["id"]}, as_=STRANGER)

    assert "errors" not in body
    assert list(data(body).values()) == [None]


async def test_stranger_reads_no_project_through_fragments(gql):
    await create_collection(gql)
    query = """{ p: project(name: "shop") { ...P } }
      fragment P on Project { c: collections { nodes { owners } } }"""

    body = await gql(query, as_=STRANGER)

    assert data(body) == {"p": None}


async def test_hidden_resource_stays_hidden_through_fragments(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "res-1")
    await add_resource(gql, collection["id"], "res-2")
    grant = {"id": collection["id"], "grant": [{"subject": VIEWER, "role": "VIEWER"}]}
    data(await gql(GRANT, {"input": grant}))
    await set_resource_access(gql, collection["id"], "res-1", [(VIEWER, "NONE")])
    query = """query($id: ID!) { c: collection(id: $id) { ...R } }
      fragment R on ServiceCollection {
        r: resources { total: totalCount nodes { ... on ResourceReference {
          rid: resourceId } } } }"""

    body = await gql(query, {"id": collection["id"]}, as_=VIEWER)

    resources = data(body)["c"]["r"]
    assert resources == {"total": 1, "nodes": [{"rid": "res-2"}]}


# --------------------------------------------------------------------------
# MongoDB operators in JSON and text arguments
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        {"$where": "sleep(1000) || true"},
        {"note": {"$gt": ""}},
        {"list": [{"$ne": None}]},
    ],
    ids=["where", "nested-gt", "ne-in-list"],
)
async def test_operator_keys_in_metadata_are_refused(gql, metadata):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])
    variables = {
        "collectionId": collection["id"],
        "resourceType": "INSTANCE",
        "resourceId": "i-1",
        "metadata": metadata,
    }

    body = await gql(ADD, {"input": variables})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


NAME_CONTAINS = """query($text: String) {
  collections(filter: {nameContains: $text}) { totalCount nodes { name } } }"""


async def test_operator_as_filter_text_is_just_text(gql):
    await create_collection(gql)

    body = await gql(NAME_CONTAINS, {"text": '{"$gt": ""}'})

    assert data(body)["collections"] == {"totalCount": 0, "nodes": []}


@pytest.mark.parametrize(
    "value",
    [{"$gt": ""}, {"$regex": ".*"}, ["$ne"]],
    ids=["gt", "regex", "list"],
)
async def test_operator_object_for_filter_text_is_bad_user_input(gql, value):
    await create_collection(gql)

    body = await gql(NAME_CONTAINS, {"text": value})

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_operator_object_as_a_tag_value_is_bad_user_input(gql):
    await create_collection(gql)
    query = """query($tags: [TagInput!]) {
      collections(filter: {tags: $tags}) { totalCount } }"""

    body = await gql(query, {"tags": [{"key": "team", "value": {"$ne": None}}]})

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_operator_as_an_actor_filter_matches_nobody(gql):
    await create_collection(gql)
    query = """query($actor: String) {
      auditLog(filter: {actor: $actor}) { totalCount } }"""

    body = await gql(query, {"actor": '{"$ne": null}'})

    assert data(body)["auditLog"]["totalCount"] == 0
