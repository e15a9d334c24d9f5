"""Query limits: depth, aliases, tokens and cost, refused before execution.

Also the switches that keep the schema private by default: introspection
and "Did you mean" suggestions, and the refusal of batched operations.
Fragment cycles and alias bombs are in test_known_faults.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import get_introspection_query

from gql_service.api.limits import QueryLimits
from gql_service.config import Settings
from tests.app_support import http_client
from tests.conftest import GraphQLClient, codes, data, token_for
from tests.factories import create_collection
from tests.readback import world

OWNER = "owner@example.com"


def _chain(levels: int) -> str:
    """A selection nested ``levels`` promotedFrom deep under a collection."""
    return "promotedFrom { " * levels + "id" + " }" * levels


def _limits_of(body: dict[str, Any]) -> set[str]:
    return {error["extensions"].get("limit") for error in body["errors"]}


def _create_project(alias: str, name: str) -> str:
    return f'{alias}: createProject(input: {{name: "{name}"}}) {{ project {{ id }} }}'


# --------------------------------------------------------------------------
# Depth
# --------------------------------------------------------------------------


async def test_depth_at_the_limit_is_accepted(gql):
    collection = await create_collection(gql)
    query = f"query($id: ID!) {{ collection(id: $id) {{ {_chain(10)} }} }}"

    body = await gql(query, {"id": collection["id"]})

    assert data(body)["collection"]["promotedFrom"] is None


async def test_depth_over_the_limit_is_too_complex(gql):
    query = f'{{ collection(id: "x") {{ {_chain(11)} }} }}'

    body = await gql(query)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert body["errors"][0]["extensions"]["limit"] == "depth"
    assert body["errors"][0]["extensions"]["maximum"] == 12


async def test_depth_counts_the_fields_of_fragments(gql):
    query = f"""{{ collection(id: "x") {{ ...Deep }} }}
      fragment Deep on ServiceCollection {{ {_chain(11)} }}"""

    body = await gql(query)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]


async def test_too_deep_mutation_changes_nothing(gql):
    before = await world(gql)
    mutation = (
        'mutation { createCollection(input: {name: "web-app", project: "shop", '
        f'environment: "development"}}) {{ collection {{ {_chain(11)} }} }} }}'
    )

    body = await gql(mutation)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert await world(gql) == before


# --------------------------------------------------------------------------
# Aliases
# --------------------------------------------------------------------------


async def test_aliases_at_the_limit_are_accepted(gql):
    query = "{ " + " ".join(f"v{n}: viewer {{ subject }}" for n in range(30)) + " }"

    body = await gql(query)

    assert data(body)["v29"] == {"subject": OWNER}


async def test_aliases_over_the_limit_are_too_complex(gql):
    query = "{ " + " ".join(f"v{n}: viewer {{ subject }}" for n in range(31)) + " }"

    body = await gql(query)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert _limits_of(body) == {"aliases"}


async def test_aliases_in_a_fragment_count_each_time_it_is_spread(gql):
    fields = " ".join(f"s{n}: subject" for n in range(10))
    spreads = " ".join(f"{name}: viewer {{ ...Many }}" for name in "abc")
    query = f"{{ {spreads} }} fragment Many on Viewer {{ {fields} }}"

    body = await gql(query)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert _limits_of(body) == {"aliases"}


async def test_too_many_aliased_mutations_change_nothing(gql):
    before = await world(gql)
    fields = " ".join(_create_project(f"p{n}", f"project-{n}") for n in range(31))

    body = await gql(f"mutation {{ {fields} }}")

    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert await world(gql) == before


# --------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------


async def test_tokens_over_the_limit_are_too_complex(gql):
    query = "{ viewer { " + "subject " * 2000 + "} }"

    body = await gql(query)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert body["errors"][0]["extensions"]["limit"] == "tokens"


async def test_comment_padding_counts_against_the_tokens(gql):
    query = "# padding\n" * 2001 + "{ viewer { subject } }"

    body = await gql(query)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]


async def test_long_query_within_the_tokens_is_accepted(gql):
    await create_collection(gql)
    selection = (
        "name description version owners editors viewers myRole "
        "environments { name collectionCount resourceCount }"
    )
    fields = " ".join(
        f'p{n}: project(name: "shop") {{ {selection} }}' for n in range(30)
    )
    # About 750 tokens and 1,900 comments.
    query = "# note\n" * 1900 + "{ " + fields + " }"

    body = await gql(query)

    assert data(body)["p29"]["name"] == "shop"


async def test_document_nested_past_the_parser_limit_is_too_complex(gql):
    query = "{ viewer " + "{ subject " * 300 + "}" * 300 + " }"

    body = await gql(query)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]


# --------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------

NESTED_PAGES = """query($n: Int) {
  projects(first: $n) { nodes { collections(first: $n) { nodes {
    resources(first: $n) { nodes { resourceId } } } } } } }"""


async def test_small_nested_pages_are_accepted(gql):
    await create_collection(gql)

    body = await gql(NESTED_PAGES, {"n": 10})

    assert len(data(body)["projects"]["nodes"]) == 1


async def test_large_nested_pages_are_too_complex(gql):
    body = await gql(NESTED_PAGES, {"n": 100})

    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert _limits_of(body) == {"cost"}


async def test_default_page_sizes_count_toward_the_cost(gql):
    # 20 projects x 20 collections x (100 resources + 50 events).
    query = """{ projects { nodes { collections { nodes {
      resources { nodes { resourceId } } events { nodes { id } } } } } } }"""

    body = await gql(query)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]


async def test_null_page_size_counts_as_the_default(gql):
    # 20 projects x 20 collections x 100 resources: about 41,000.
    await create_collection(gql)

    body = await gql(NESTED_PAGES, {"n": None})

    assert len(data(body)["projects"]["nodes"]) == 1


async def test_literal_page_sizes_count_toward_the_cost(gql):
    query = NESTED_PAGES.replace("query($n: Int)", "").replace("$n", "60")

    body = await gql(query)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]


async def test_out_of_range_page_size_is_still_bad_user_input(gql):
    query = "{ projects(first: 1000000) { totalCount } }"

    body = await gql(query)

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_readme_first_query_is_within_the_limits(gql):
    query = """{ project(name: "shop") { name myRole environments {
      name collectionCount resourceCount collections { name region
        resources(first: 10) { totalCount nodes {
          resourceName resourceType resourceId tags { key value } } } } } } }"""
    await create_collection(gql)

    body = await gql(query)

    assert data(body)["project"]["name"] == "shop"


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


def test_limits_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("GQL_SERVICE_MAX_QUERY_DEPTH", "8")
    monkeypatch.setenv("GQL_SERVICE_MAX_QUERY_ALIASES", "5")
    monkeypatch.setenv("GQL_SERVICE_MAX_QUERY_TOKENS", "500")
    monkeypatch.setenv("GQL_SERVICE_MAX_QUERY_COST", "1000")

    limits = QueryLimits.from_settings(Settings(jwt_secret="s" * 32))

    assert limits == QueryLimits(
        max_depth=8, max_aliases=5, max_tokens=500, max_cost=1000
    )


def test_default_limits():
    limits = QueryLimits.from_settings(Settings(jwt_secret="s" * 32))

    assert limits == QueryLimits(
        max_depth=12, max_aliases=30, max_tokens=2000, max_cost=50_000
    )


@pytest.mark.parametrize(
    ("overrides", "query"),
    [
        ({"max_query_depth": 3}, f'{{ collection(id: "x") {{ {_chain(2)} }} }}'),
        ({"max_query_aliases": 1}, "{ a: viewer { subject } b: viewer { subject } }"),
        ({"max_query_tokens": 100}, "{ viewer { " + "subject " * 100 + "} }"),
        ({"max_query_cost": 100}, "{ projects(first: 100) { nodes { id } } }"),
    ],
    ids=["depth", "aliases", "tokens", "cost"],
)
async def test_configured_limits_apply(database, overrides, query):
    async with http_client(database, **overrides) as http:
        body = await GraphQLClient(http)(query)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]


# --------------------------------------------------------------------------
# Introspection and suggestions
# --------------------------------------------------------------------------

INTROSPECTION = [
    "{ __schema { queryType { name } } }",
    '{ __type(name: "Query") { name } }',
]


@pytest.mark.parametrize("query", INTROSPECTION, ids=["schema", "type"])
async def test_introspection_is_off_by_default(database, query):
    async with http_client(database) as http:
        body = await GraphQLClient(http)(query)

    assert set(codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert body.get("data") is None


async def test_typename_is_answered_without_introspection(database):
    async with http_client(database) as http:
        body = await GraphQLClient(http)("{ viewer { __typename } }")

    assert data(body) == {"viewer": {"__typename": "Viewer"}}


async def test_introspection_setting_turns_it_on(database, monkeypatch):
    monkeypatch.setenv("GQL_SERVICE_INTROSPECTION", "true")

    async with http_client(database) as http:
        body = await GraphQLClient(http)(INTROSPECTION[0])

    assert data(body)["__schema"]["queryType"]["name"] == "Query"


async def test_demo_server_turns_introspection_on(database):
    async with http_client(database, demo=True, introspection=False) as http:
        body = await GraphQLClient(http)(INTROSPECTION[0])

    assert data(body)["__schema"]["queryType"]["name"] == "Query"


async def test_graphiql_introspection_query_passes_the_limits(gql):
    query = get_introspection_query(descriptions=True, input_value_deprecation=True)

    body = await gql(query)

    # Only the limits are checked here: whatever else fails is about
    # individual fields, and the schema itself is answered.
    assert "QUERY_TOO_COMPLEX" not in codes(body)
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


SUGGESTED = [
    ("{ viewer { subjec } }", {}),
    ("{ projects(frist: 1) { totalCount } }", {}),
    (
        "query($t: [EventType!]) { auditLog(filter: {types: $t}) { totalCount } }",
        {"t": ["COLLECTION_CREATD"]},
    ),
    ("{ auditLog(filter: {types: [COLLECTION_CREATD]}) { totalCount } }", {}),
]
SUGGESTED_IDS = ["field", "argument", "enum-variable", "enum-literal"]


@pytest.mark.parametrize(("query", "variables"), SUGGESTED, ids=SUGGESTED_IDS)
async def test_no_suggestions_without_introspection(database, query, variables):
    async with http_client(database) as http:
        body = await GraphQLClient(http)(query, variables)

    assert codes(body)
    assert all("Did you mean" not in e["message"] for e in body["errors"])


@pytest.mark.parametrize(("query", "variables"), SUGGESTED, ids=SUGGESTED_IDS)
async def test_suggestions_with_introspection(gql, query, variables):
    body = await gql(query, variables)

    assert any("Did you mean" in e["message"] for e in body["errors"])


# --------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------


async def test_batched_operations_are_refused_and_change_nothing(gql, client):
    before = await world(gql)
    batch = [
        {"query": f"mutation {{ {_create_project('p', name)} }}"}
        for name in ("one", "two")
    ]

    response = await client.post(
        "/graphql",
        content=json.dumps(batch),
        headers={
            "Authorization": "Bearer " + token_for(OWNER),
            "Content-Type": "application/json",
        },
    )

    assert response.status_code == 400
    assert codes(response.json()) == ["BAD_REQUEST"]
    assert await world(gql) == before
