"""Bad input: a clear GraphQL error with the right code, and nothing changed.

Each refusal is followed by a read-back (versions, counts, stored values) that
shows the failed request left no trace. HTTP-level garbage must still answer
a GraphQL-shaped JSON body, never plain text or a traceback.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from bson import ObjectId

from gql_service.api.schema import build_schema
from gql_service.auth.tokens import issue_token
from gql_service.errors import BadUserInputError
from tests.conftest import SECRET, codes, data, token_for
from tests.factories import add_resource, create_collection
from tests.readback import collection_state, world

OWNER = "owner@example.com"

CREATE = """
mutation($input: CreateCollectionInput!) {
  createCollection(input: $input) { collection { id name tags { key value } } }
}"""

CREATE_PROJECT = """
mutation($input: CreateProjectInput!) {
  createProject(input: $input) { project { id name } }
}"""

UPDATE = """
mutation($input: UpdateCollectionInput!) {
  updateCollection(input: $input) { collection { id version description } }
}"""

UPDATE_PROJECT = """
mutation($input: UpdateProjectInput!) {
  updateProject(input: $input) { project { version description } }
}"""

ADD = """
mutation($input: AddResourceInput!) {
  addResourceToCollection(input: $input) {
    resource { resourceId tags { key value } metadata } }
}"""

ADD_MANY = """
mutation($input: AddResourcesInput!) {
  addResourcesToCollection(input: $input) {
    collection { version resourceCount }
    results { resourceType resourceId status message resource { resourceId } } }
}"""

UPDATE_RESOURCE = """
mutation($input: UpdateResourceInput!) {
  updateResource(input: $input) { resource { resourceId metadata } }
}"""

DELETE = """
mutation($input: DeleteCollectionInput!) {
  deleteCollection(input: $input) { deletedId detachedResourceCount }
}"""

COLLECTION_PERMISSIONS = """
mutation($input: UpdateCollectionPermissionsInput!) {
  updateCollectionPermissions(input: $input) { collection { version owners } }
}"""

PROJECT_PERMISSIONS = """
mutation($input: UpdateProjectPermissionsInput!) {
  updateProjectPermissions(input: $input) { project { version owners } }
}"""

PROMOTE = """
mutation($input: PromoteCollectionInput!) {
  promoteCollection(input: $input) { promotion { id } }
}"""

BY_NAME_CONTAINS = """
query($text: String!) {
  collections(filter: {nameContains: $text}, first: 100) { nodes { name } }
}"""

PROJECT_ID = """query($name: String!) { project(name: $name) { id } }"""


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _collection_input(**fields: Any) -> dict[str, Any]:
    base = {"name": "web-app", "project": "shop", "environment": "development"}
    return {"input": {**base, **fields}}


def _add_input(collection_id: str, **fields: Any) -> dict[str, Any]:
    base = {
        "collectionId": collection_id,
        "resourceType": "INSTANCE",
        "resourceId": "i-1",
    }
    return {"input": {**base, **fields}}


async def _project_id(gql: Any, name: str = "shop") -> str:
    found: str = data(await gql(PROJECT_ID, {"name": name}))["project"]["id"]
    return found


def _raw_body(query: str, variables: dict[str, Any]) -> bytes:
    # ensure_ascii keeps NUL and lone surrogates as \u escapes: valid JSON text.
    return json.dumps({"query": query, "variables": variables}).encode("ascii")


async def _post_raw(
    client: httpx.AsyncClient,
    content: bytes | str,
    *,
    content_type: str | None = "application/json",
    token: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": "Bearer " + (token or token_for(OWNER))}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await client.post("/graphql", content=content, headers=headers)


def _graphql_shaped(response: httpx.Response) -> dict[str, Any]:
    """The body is {"errors": [{"message": ..., "extensions": {"code": ...}}]}."""
    assert "Traceback" not in response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict)
    assert isinstance(body["errors"], list)
    assert body["errors"]
    for error in body["errors"]:
        assert isinstance(error["message"], str)
        assert error["message"]
        assert isinstance(error["extensions"]["code"], str)
    return body


# --------------------------------------------------------------------------
# Names: collections, projects, environments
# --------------------------------------------------------------------------

BAD_COLLECTION_NAMES = [
    "",
    "a" * 101,
    "-web",
    ".web",
    "_web",
    "web app",
    "web/app",
    "web$app",
    "web-app\n",
    "\nweb-app",
    "web\tapp",
    "web-app ",
]


@pytest.mark.parametrize("name", BAD_COLLECTION_NAMES)
async def test_bad_collection_name_is_refused(gql, name):
    before = await world(gql)

    body = await gql(CREATE, _collection_input(name=name))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


@pytest.mark.parametrize("name", ["a", "a" * 100, "9.x_Y-z", "Web.App_2"])
async def test_collection_name_at_the_edges_is_accepted(gql, name):
    body = await gql(CREATE, _collection_input(name=name))

    assert data(body)["createCollection"]["collection"]["name"] == name


BAD_PROJECT_SLUGS = [
    "",
    "a" * 64,
    "Shop",
    "-shop",
    "shop_1",
    "shop.com",
    "shop\n",
    " shop",
    "shop!",
    "magasin-é",
]


@pytest.mark.parametrize("slug", BAD_PROJECT_SLUGS)
async def test_bad_project_slug_in_create_collection_is_refused(gql, slug):
    before = await world(gql)

    body = await gql(CREATE, _collection_input(project=slug))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


@pytest.mark.parametrize("slug", BAD_PROJECT_SLUGS)
async def test_bad_project_slug_in_create_project_is_refused(gql, slug):
    before = await world(gql)

    body = await gql(CREATE_PROJECT, {"input": {"name": slug}})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


@pytest.mark.parametrize("slug", ["a", "a" * 63, "0-shop-9"])
async def test_project_slug_at_the_edges_is_accepted(gql, slug):
    body = await gql(CREATE_PROJECT, {"input": {"name": slug}})

    assert data(body)["createProject"]["project"]["name"] == slug


@pytest.mark.parametrize(
    "path",
    [[], ["dev", "dev"], ["Dev"], ["dev\n"], ["d" * 64], ["qa", ""]],
    ids=["empty", "repeated", "uppercase", "newline", "too-long", "blank"],
)
async def test_bad_environment_path_is_refused(gql, path):
    before = await world(gql)

    body = await gql(CREATE_PROJECT, {"input": {"name": "shop", "environments": path}})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


async def test_unknown_environment_names_the_valid_ones(gql):
    await create_collection(gql, name="api")
    before = await world(gql)

    body = await gql(CREATE, _collection_input(environment="prod"))

    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    for valid in ("development", "testing", "staging", "production"):
        assert valid in message
    assert await world(gql) == before


async def test_unknown_environment_names_a_custom_path(gql):
    path = ["dev", "qa", "perf", "prod"]
    data(await gql(CREATE_PROJECT, {"input": {"name": "shop", "environments": path}}))
    before = await world(gql)

    body = await gql(CREATE, _collection_input(environment="staging"))

    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    for valid in path:
        assert valid in message
    assert await world(gql) == before


async def test_unknown_environment_of_a_new_project_creates_nothing(gql):
    before = await world(gql)

    body = await gql(CREATE, _collection_input(project="fresh", environment="prod"))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert "production" in body["errors"][0]["message"]
    assert await world(gql) == before


@pytest.mark.parametrize(
    "environment", ["", "Production", "production\n", "prod uction"]
)
async def test_ill_formed_environment_is_refused(gql, environment):
    await create_collection(gql, name="api")
    before = await world(gql)

    body = await gql(CREATE, _collection_input(environment=environment))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


# --------------------------------------------------------------------------
# Other fields of a collection and of a resource
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"description": "d" * 2001},
        {"region": "EWR"},
        {"region": "ewr\n"},
        {"region": ""},
        {"tags": [{"key": "", "value": "x"}]},
        {"tags": [{"key": "k" * 129, "value": "x"}]},
        {"tags": [{"key": "k", "value": "v" * 257}]},
        {"tags": [{"key": f"k{n}", "value": "v"} for n in range(51)]},
        {"owners": [""]},
        {"editors": [" padded@example.com"]},
        {"viewers": ["group:"]},
        {"editors": ["x@example.com"], "viewers": ["x@example.com"]},
    ],
    ids=[
        "long-description",
        "uppercase-region",
        "region-newline",
        "empty-region",
        "empty-tag-key",
        "long-tag-key",
        "long-tag-value",
        "too-many-tags",
        "empty-owner",
        "padded-editor",
        "empty-group",
        "two-roles",
    ],
)
async def test_bad_collection_field_is_refused(gql, fields):
    before = await world(gql)

    body = await gql(CREATE, _collection_input(**fields))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


@pytest.mark.parametrize(
    "fields",
    [
        {"resourceId": ""},
        {"resourceId": "r" * 129},
        {"resourceId": " i-1"},
        {"resourceId": "i-1\n"},
        {"resourceName": "n" * 256},
        {"tags": [{"key": "", "value": "x"}]},
    ],
    ids=["empty-id", "long-id", "padded-id", "id-newline", "long-name", "empty-key"],
)
async def test_bad_resource_field_is_refused(gql, fields):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])

    body = await gql(ADD, _add_input(collection["id"], **fields))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


async def test_duplicate_collection_name_is_conflict(gql):
    await create_collection(gql)
    before = await world(gql)

    body = await gql(CREATE, _collection_input())

    assert codes(body) == ["CONFLICT"]
    assert await world(gql) == before


async def test_adding_a_resource_twice_is_conflict(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "i-1")
    before = await collection_state(gql, collection["id"])

    body = await gql(ADD, _add_input(collection["id"], resourceId="i-1"))

    assert codes(body) == ["CONFLICT"]
    assert await collection_state(gql, collection["id"]) == before


# --------------------------------------------------------------------------
# Enums, nulls and literal types
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["SERVER", "instance", "", "INSTANCE "])
async def test_unknown_enum_value_in_a_variable_is_bad_user_input(gql, value):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])

    body = await gql(ADD, _add_input(collection["id"], resourceType=value))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


@pytest.mark.parametrize("literal", ["SERVER", "instance", '"INSTANCE"', "1"])
async def test_unknown_enum_value_as_a_literal_is_bad_user_input(gql, literal):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])
    query = (
        "mutation($id: ID!) { addResourceToCollection(input: {collectionId: $id, "
        f'resourceType: {literal}, resourceId: "i-1"}}) {{ resource {{ id }} }} }}'
    )

    body = await gql(query, {"id": collection["id"]})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


@pytest.mark.parametrize("role", ["ADMIN", "owner", "NONE"])
async def test_unknown_role_in_a_grant_is_bad_user_input(gql, role):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])
    grant = [{"subject": "x@example.com", "role": role}]

    body = await gql(
        COLLECTION_PERMISSIONS, {"input": {"id": collection["id"], "grant": grant}}
    )

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


async def test_unknown_enum_in_a_filter_literal_is_bad_user_input(gql):
    body = await gql("{ promotions(filter: {status: [DONE]}) { totalCount } }")

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_unknown_enum_in_a_filter_variable_is_bad_user_input(gql):
    query = """query($s: [PromotionStatus!]) {
      promotions(filter: {status: $s}) { totalCount } }"""

    body = await gql(query, {"s": ["DONE"]})

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_null_for_a_required_variable_is_bad_user_input(gql):
    before = await world(gql)

    body = await gql(CREATE, {"input": None})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


async def test_null_for_a_required_input_field_is_bad_user_input(gql):
    before = await world(gql)

    body = await gql(CREATE, _collection_input(name=None))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


@pytest.mark.parametrize(
    "query",
    [
        "{ collection(id: null) { id } }",
        '{ projects(first: "ten") { totalCount } }',
        "{ project(name: 5) { id } }",
    ],
    ids=["null-literal", "string-for-int", "int-for-string"],
)
async def test_wrong_literal_value_is_bad_user_input(gql, query):
    body = await gql(query)

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_wrong_variable_type_is_bad_user_input(gql):
    query = "query($n: Int) { projects(first: $n) { totalCount } }"

    body = await gql(query, {"n": "ten"})

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_unknown_field_in_an_input_variable_is_bad_user_input(gql):
    before = await world(gql)

    body = await gql(CREATE, _collection_input(bogus=1))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


# --------------------------------------------------------------------------
# Page sizes, cursors and ids
# --------------------------------------------------------------------------

PAGED_FIELDS = {
    "collections": "query($n: Int) { collections(first: $n) { totalCount } }",
    "projects": "query($n: Int) { projects(first: $n) { totalCount } }",
    "promotions": "query($n: Int) { promotions(first: $n) { totalCount } }",
    "resources": """query($n: Int, $id: ID!) {
      collection(id: $id) { resources(first: $n) { totalCount } } }""",
    "project-collections": """query($n: Int) {
      project(name: "shop") { collections(first: $n) { totalCount } } }""",
    "stage-collections": """query($n: Int) {
      project(name: "shop") { environments { collections(first: $n) { name } } } }""",
}


@pytest.mark.parametrize("first", [0, -1, 101])
@pytest.mark.parametrize("field", list(PAGED_FIELDS))
async def test_page_size_out_of_range_is_bad_user_input(gql, field, first):
    collection = await create_collection(gql)

    body = await gql(PAGED_FIELDS[field], {"n": first, "id": collection["id"]})

    assert codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("first", [1, 100])
@pytest.mark.parametrize("field", list(PAGED_FIELDS))
async def test_page_size_at_the_edges_is_accepted(gql, field, first):
    collection = await create_collection(gql)

    body = await gql(PAGED_FIELDS[field], {"n": first, "id": collection["id"]})

    data(body)


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_page_size_out_of_range_as_a_literal_is_bad_user_input(gql, first):
    body = await gql(f"{{ collections(first: {first}) {{ totalCount }} }}")

    assert codes(body) == ["BAD_USER_INPUT"]


BAD_CURSORS = [
    "garbage!!",
    "%%%",
    _b64("not json"),
    _b64("{}"),
    _b64('["collection"]'),
    _b64('["collection", "web-app", "not-an-object-id"]'),
    _b64('["nope", "x", "0123456789abcdef01234567"]'),
]

CURSOR_FIELDS = {
    "collections": "query($c: String) { collections(after: $c) { totalCount } }",
    "projects": "query($c: String) { projects(after: $c) { totalCount } }",
    "promotions": "query($c: String) { promotions(after: $c) { totalCount } }",
    "resources": """query($c: String, $id: ID!) {
      collection(id: $id) { resources(after: $c) { totalCount } } }""",
}


@pytest.mark.parametrize("cursor", BAD_CURSORS)
@pytest.mark.parametrize("field", list(CURSOR_FIELDS))
async def test_malformed_cursor_is_bad_user_input(gql, field, cursor):
    collection = await create_collection(gql)

    body = await gql(CURSOR_FIELDS[field], {"c": cursor, "id": collection["id"]})

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_cursor_of_another_list_is_bad_user_input(gql):
    await create_collection(gql)
    page = data(await gql("{ projects(first: 1) { pageInfo { endCursor } } }"))
    project_cursor = page["projects"]["pageInfo"]["endCursor"]

    body = await gql(CURSOR_FIELDS["collections"], {"c": project_cursor})

    assert codes(body) == ["BAD_USER_INPUT"]


BAD_IDS = [
    "nope",
    "!!!",
    "",
    _b64("ServiceCollection:not-an-object-id"),
    _b64("Bogus:0123456789abcdef01234567"),
    _b64("ServiceCollection"),
    "0123456789abcdef01234567",
]


@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_malformed_id_in_a_query_is_bad_user_input(gql, bad_id):
    body = await gql("query($id: ID!) { collection(id: $id) { id } }", {"id": bad_id})

    assert codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_malformed_id_in_node_is_bad_user_input(gql, bad_id):
    body = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": bad_id})

    assert codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_malformed_id_in_a_mutation_changes_nothing(gql, bad_id):
    await create_collection(gql)
    before = await world(gql)

    body = await gql(UPDATE, {"input": {"id": bad_id, "description": "changed"}})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


async def test_project_id_as_a_collection_id_in_a_query_is_bad_user_input(gql):
    await create_collection(gql)
    project_id = await _project_id(gql)

    body = await gql(
        "query($id: ID!) { collection(id: $id) { id } }", {"id": project_id}
    )

    assert codes(body) == ["BAD_USER_INPUT"]


async def test_collection_id_as_a_promotion_id_is_bad_user_input(gql):
    collection = await create_collection(gql)

    body = await gql(
        "query($id: ID!) { promotion(id: $id) { id } }", {"id": collection["id"]}
    )

    assert codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("mutation", "build"),
    [
        (UPDATE, lambda i: {"input": {"id": i, "description": "changed"}}),
        (DELETE, lambda i: {"input": {"id": i, "force": True}}),
        (
            ADD,
            lambda i: {
                "input": {
                    "collectionId": i,
                    "resourceType": "INSTANCE",
                    "resourceId": "x",
                }
            },
        ),
        (PROMOTE, lambda i: {"input": {"id": i}}),
        (
            COLLECTION_PERMISSIONS,
            lambda i: {"input": {"id": i, "revoke": [OWNER]}},
        ),
    ],
    ids=["update", "delete", "add-resource", "promote", "permissions"],
)
async def test_project_id_as_a_collection_id_in_a_mutation_changes_nothing(
    gql, mutation, build
):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "i-1")
    project_id = await _project_id(gql)
    before = await world(gql)

    body = await gql(mutation, build(project_id))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


async def test_unknown_collection_id_reads_as_null(gql):
    missing = _b64(f"ServiceCollection:{ObjectId()}")

    body = await gql("query($id: ID!) { collection(id: $id) { id } }", {"id": missing})

    assert data(body) == {"collection": None}


async def test_unknown_collection_id_in_a_mutation_is_not_found(gql):
    await create_collection(gql)
    before = await world(gql)
    missing = _b64(f"ServiceCollection:{ObjectId()}")

    body = await gql(UPDATE, {"input": {"id": missing, "description": "changed"}})

    assert codes(body) == ["NOT_FOUND"]
    assert await world(gql) == before


# --------------------------------------------------------------------------
# Text that must round-trip exactly
# --------------------------------------------------------------------------

TRICKY_TAGS = [
    {"key": "$where", "value": "$gt"},
    {"key": "a.b.c", "value": "x.y.z"},
    {"key": "$set.x.$", "value": '{"$ne": null}'},
    {"key": "ключ", "value": "значение"},
    {"key": "emoji-🚀", "value": "✓ 日本語"},
    {"key": "cafe\u0301", "value": "caf\u00e9"},
    {"key": "__proto__", "value": "constructor"},
]


async def test_tricky_collection_tags_are_stored_exactly(gql):
    collection = await create_collection(gql, tags=TRICKY_TAGS)

    state = await collection_state(gql, collection["id"])

    assert state is not None
    assert state["tags"] == TRICKY_TAGS


@pytest.mark.parametrize("tag", TRICKY_TAGS, ids=lambda t: t["key"])
async def test_tricky_tag_filters_collections_literally(gql, tag):
    await create_collection(gql, name="tagged", tags=TRICKY_TAGS)
    await create_collection(gql, name="plain", tags=[{"key": "k", "value": "v"}])
    query = """query($tags: [TagInput!]) {
      collections(filter: {tags: $tags}) { nodes { name } } }"""

    body = await gql(query, {"tags": [tag]})

    assert [n["name"] for n in data(body)["collections"]["nodes"]] == ["tagged"]


async def test_tricky_resource_tags_are_stored_exactly(gql):
    collection = await create_collection(gql)

    await add_resource(gql, collection["id"], "i-1", tags=TRICKY_TAGS)

    state = await collection_state(gql, collection["id"])
    assert state is not None
    assert state["resources"]["nodes"][0]["tags"] == TRICKY_TAGS


async def test_tricky_tag_keys_filter_resources_literally(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "i-1", tags=TRICKY_TAGS)
    await add_resource(gql, collection["id"], "i-2", tags=[{"key": "a", "value": "b"}])
    query = """query($id: ID!, $keys: [String!], $tags: [TagInput!]) {
      collection(id: $id) { resources(filter: {tagKeys: $keys, tags: $tags}) {
        nodes { resourceId } } } }"""
    variables = {
        "id": collection["id"],
        "keys": ["$where", "a.b.c"],
        "tags": [{"key": "$set.x.$", "value": '{"$ne": null}'}],
    }

    body = await gql(query, variables)

    nodes = data(body)["collection"]["resources"]["nodes"]
    assert [n["resourceId"] for n in nodes] == ["i-1"]


async def test_tricky_metadata_is_stored_exactly(gql):
    collection = await create_collection(gql)
    metadata = {
        "a.b": {"c.d": [1, "ü", None, True, 1.5, {"x.y": "z"}]},
        "ключ": "🚀",
        "dollar$inside": "$",
        "__proto__": {"polluted": True},
    }

    await add_resource(gql, collection["id"], "i-1", metadata=metadata)

    state = await collection_state(gql, collection["id"])
    assert state is not None
    assert state["resources"]["nodes"][0]["metadata"] == metadata


# --------------------------------------------------------------------------
# NUL characters and lone surrogates
# --------------------------------------------------------------------------

FORBIDDEN_TEXT = ["\x00", "\ud800", "\udfff"]

COLLECTION_TEXT_FIELDS = {
    "name": lambda bad: {"name": f"web{bad}app"},
    "project": lambda bad: {"project": f"shop{bad}"},
    "environment": lambda bad: {"environment": f"development{bad}"},
    "description": lambda bad: {"description": f"about{bad}"},
    "region": lambda bad: {"region": f"ewr{bad}"},
    "tag-key": lambda bad: {"tags": [{"key": f"k{bad}", "value": "v"}]},
    "tag-value": lambda bad: {"tags": [{"key": "k", "value": f"v{bad}"}]},
    "editor": lambda bad: {"editors": [f"x{bad}@example.com"]},
}


@pytest.mark.parametrize("bad", FORBIDDEN_TEXT, ids=["nul", "high", "low"])
@pytest.mark.parametrize("field", list(COLLECTION_TEXT_FIELDS))
async def test_forbidden_characters_in_a_collection_are_refused(
    gql, client, field, bad
):
    before = await world(gql)
    variables = _collection_input(**COLLECTION_TEXT_FIELDS[field](bad))

    response = await _post_raw(client, _raw_body(CREATE, variables))

    assert codes(_graphql_shaped(response)) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


RESOURCE_TEXT_FIELDS = {
    "resource-id": lambda bad: {"resourceId": f"i{bad}1"},
    "resource-name": lambda bad: {"resourceName": f"n{bad}"},
    "tag-key": lambda bad: {"tags": [{"key": f"k{bad}", "value": "v"}]},
    "tag-value": lambda bad: {"tags": [{"key": "k", "value": f"v{bad}"}]},
    "metadata-value": lambda bad: {"metadata": {"k": f"v{bad}"}},
    "metadata-key": lambda bad: {"metadata": {f"k{bad}": "v"}},
    "nested-metadata": lambda bad: {"metadata": {"a": [{"b": f"v{bad}"}]}},
}


@pytest.mark.parametrize("bad", FORBIDDEN_TEXT, ids=["nul", "high", "low"])
@pytest.mark.parametrize("field", list(RESOURCE_TEXT_FIELDS))
async def test_forbidden_characters_in_a_resource_are_refused(gql, client, field, bad):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])
    variables = _add_input(collection["id"], **RESOURCE_TEXT_FIELDS[field](bad))

    response = await _post_raw(client, _raw_body(ADD, variables))

    assert codes(_graphql_shaped(response)) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


@pytest.mark.parametrize("bad", FORBIDDEN_TEXT, ids=["nul", "high", "low"])
async def test_forbidden_characters_in_an_update_are_refused(gql, client, bad):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])
    variables = {"input": {"id": collection["id"], "description": f"x{bad}"}}

    response = await _post_raw(client, _raw_body(UPDATE, variables))

    assert codes(_graphql_shaped(response)) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


QUERY_TEXT_ARGUMENTS = {
    "name-contains": (BY_NAME_CONTAINS, lambda bad: {"text": f"web{bad}"}),
    "collection-by-name": (
        """query($text: String!) {
          collectionByName(project: "shop", environment: "development", name: $text)
          { id } }""",
        lambda bad: {"text": f"web{bad}"},
    ),
    "project": (
        "query($text: String!) { project(name: $text) { id } }",
        lambda bad: {"text": f"shop{bad}"},
    ),
    "filter-project": (
        """query($text: String!) {
          collections(filter: {project: $text}) { totalCount } }""",
        lambda bad: {"text": f"shop{bad}"},
    ),
}


@pytest.mark.parametrize("bad", FORBIDDEN_TEXT, ids=["nul", "high", "low"])
@pytest.mark.parametrize("argument", list(QUERY_TEXT_ARGUMENTS))
async def test_forbidden_characters_in_query_arguments_are_refused(
    gql, client, argument, bad
):
    await create_collection(gql)
    query, build = QUERY_TEXT_ARGUMENTS[argument]

    response = await _post_raw(client, _raw_body(query, build(bad)))

    assert codes(_graphql_shaped(response)) == ["BAD_USER_INPUT"]


# --------------------------------------------------------------------------
# nameContains is a literal substring
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (".*", []),
        (".", ["web.app"]),
        ("(a", []),
        ("[", []),
        ("a|b", []),
        ("^web", []),
        ("app$", []),
        ("\\d", []),
        ("a+", []),
        ("web.", ["web.app"]),
        ("-", ["web-app"]),
    ],
)
async def test_name_contains_matches_literally(gql, text, expected):
    for name in ("web.app", "web-app", "webxapp", "api"):
        await create_collection(gql, name=name)

    body = await gql(BY_NAME_CONTAINS, {"text": text})

    assert [n["name"] for n in data(body)["collections"]["nodes"]] == expected


# --------------------------------------------------------------------------
# Duplicate tag keys
# --------------------------------------------------------------------------

DUPLICATE_TAGS = [{"key": "team", "value": "a"}, {"key": "team", "value": "b"}]


async def test_duplicate_tag_keys_on_create_are_refused(gql):
    before = await world(gql)

    body = await gql(CREATE, _collection_input(tags=DUPLICATE_TAGS))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


async def test_duplicate_tag_keys_on_update_are_refused(gql):
    collection = await create_collection(gql, tags=[{"key": "team", "value": "a"}])
    before = await collection_state(gql, collection["id"])

    body = await gql(
        UPDATE, {"input": {"id": collection["id"], "tags": DUPLICATE_TAGS}}
    )

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


async def test_duplicate_tag_keys_on_a_resource_are_refused(gql):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])

    body = await gql(ADD, _add_input(collection["id"], tags=DUPLICATE_TAGS))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


async def test_duplicate_tag_keys_on_a_resource_update_are_refused(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "i-1")
    before = await collection_state(gql, collection["id"])
    variables = _add_input(collection["id"], tags=DUPLICATE_TAGS)

    body = await gql(UPDATE_RESOURCE, variables)

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


# --------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------

BAD_METADATA = {
    "over-16-kib": {"blob": "x" * (17 * 1024)},
    "many-keys-over-16-kib": {f"k{n:05}": "v" * 40 for n in range(400)},
    "dollar-where": {"$where": "sleep(1000)"},
    "dollar-set": {"$set": {"a": 1}},
    "nested-operator": {"a": {"$gt": 1}},
    "operator-in-list": {"a": [{"$ne": None}]},
    "array": [1, 2, 3],
    "array-of-objects": [{"a": 1}],
    "string": "text",
    "number": 5,
    "boolean": True,
}


@pytest.mark.parametrize("metadata", BAD_METADATA.values(), ids=list(BAD_METADATA))
async def test_bad_metadata_on_add_is_refused(gql, metadata):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])

    body = await gql(ADD, _add_input(collection["id"], metadata=metadata))

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


@pytest.mark.parametrize("metadata", BAD_METADATA.values(), ids=list(BAD_METADATA))
async def test_bad_metadata_on_update_is_refused(gql, metadata):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "i-1", metadata={"keep": "me"})
    before = await collection_state(gql, collection["id"])
    variables = _add_input(collection["id"], metadata=metadata)

    body = await gql(UPDATE_RESOURCE, variables)

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


async def test_valid_metadata_on_update_replaces_it(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "i-1", metadata={"old": 1})
    variables = _add_input(collection["id"], metadata={"new": "ü.$"})

    body = await gql(UPDATE_RESOURCE, variables)

    resource = data(body)["updateResource"]["resource"]
    assert resource["metadata"] == {"new": "ü.$"}


@pytest.mark.parametrize(
    "literal",
    ["[1, 2]", "[{a: 1}]", '"text"', "5", "true"],
    ids=["array", "array-of-objects", "string", "number", "boolean"],
)
async def test_bad_metadata_as_a_literal_is_refused(gql, literal):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])
    query = (
        "mutation($id: ID!) { addResourceToCollection(input: {collectionId: $id, "
        f'resourceType: INSTANCE, resourceId: "i-1", metadata: {literal}}}) '
        "{ resource { id } } }"
    )

    body = await gql(query, {"id": collection["id"]})

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


async def test_metadata_under_16_kib_is_accepted(gql):
    collection = await create_collection(gql)
    metadata = {"blob": "x" * (15 * 1024)}

    body = await gql(ADD, _add_input(collection["id"], metadata=metadata))

    assert data(body)["addResourceToCollection"]["resource"]["metadata"] == metadata


# --------------------------------------------------------------------------
# Bulk adds
# --------------------------------------------------------------------------


async def test_bulk_add_over_1000_is_refused_whole(gql):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])
    items = [{"resourceType": "INSTANCE", "resourceId": f"i-{n}"} for n in range(1001)]

    body = await gql(
        ADD_MANY, {"input": {"collectionId": collection["id"], "resources": items}}
    )

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await collection_state(gql, collection["id"]) == before


async def test_bulk_add_of_exactly_1000_is_accepted(gql):
    collection = await create_collection(gql)
    items = [{"resourceType": "INSTANCE", "resourceId": f"i-{n}"} for n in range(1000)]

    body = await gql(
        ADD_MANY, {"input": {"collectionId": collection["id"], "resources": items}}
    )

    payload = data(body)["addResourcesToCollection"]
    assert {r["status"] for r in payload["results"]} == {"ADDED"}
    assert payload["collection"]["resourceCount"] == 1000


async def test_bulk_add_reports_invalid_items_and_adds_the_valid_ones(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "old-1")
    items = [
        {"resourceType": "INSTANCE", "resourceId": "new-1"},
        {"resourceType": "INSTANCE", "resourceId": ""},
        {"resourceType": "INSTANCE", "resourceId": "bad-meta", "metadata": [1]},
        {"resourceType": "INSTANCE", "resourceId": "bad-tags", "tags": DUPLICATE_TAGS},
        {"resourceType": "INSTANCE", "resourceId": "op", "metadata": {"$where": 1}},
        {"resourceType": "INSTANCE", "resourceId": "x" * 129},
        {"resourceType": "INSTANCE", "resourceId": "old-1"},
        {"resourceType": "INSTANCE", "resourceId": "new-1"},
        {"resourceType": "LOAD_BALANCER", "resourceId": "new-1"},
    ]

    body = await gql(
        ADD_MANY, {"input": {"collectionId": collection["id"], "resources": items}}
    )

    results = data(body)["addResourcesToCollection"]["results"]
    assert [r["status"] for r in results] == [
        "ADDED",
        "INVALID",
        "INVALID",
        "INVALID",
        "INVALID",
        "INVALID",
        "ALREADY_PRESENT",
        "ALREADY_PRESENT",
        "ADDED",
    ]
    assert all(r["message"] for r in results if r["status"] == "INVALID")
    assert all(r["resource"] is None for r in results if r["status"] == "INVALID")


async def test_bulk_add_with_invalid_items_stores_only_the_valid_ones(gql):
    collection = await create_collection(gql)
    items = [
        {"resourceType": "INSTANCE", "resourceId": "good-1"},
        {"resourceType": "INSTANCE", "resourceId": " padded"},
        {"resourceType": "INSTANCE", "resourceId": "good-2", "metadata": "scalar"},
        {"resourceType": "BLOCK_STORAGE", "resourceId": "good-3"},
    ]

    await gql(
        ADD_MANY, {"input": {"collectionId": collection["id"], "resources": items}}
    )

    state = await collection_state(gql, collection["id"])
    assert state is not None
    stored = sorted(n["resourceId"] for n in state["resources"]["nodes"])
    assert stored == ["good-1", "good-3"]
    assert state["resourceCount"] == 2


async def test_bulk_add_with_only_invalid_items_changes_nothing(gql):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])
    items = [
        {"resourceType": "INSTANCE", "resourceId": ""},
        {"resourceType": "INSTANCE", "resourceId": "m", "metadata": [1]},
    ]

    body = await gql(
        ADD_MANY, {"input": {"collectionId": collection["id"], "resources": items}}
    )

    results = data(body)["addResourcesToCollection"]["results"]
    assert [r["status"] for r in results] == ["INVALID", "INVALID"]
    assert await collection_state(gql, collection["id"]) == before


# --------------------------------------------------------------------------
# Versions, owners, deletion
# --------------------------------------------------------------------------


async def test_stale_expected_version_is_conflict(gql):
    collection = await create_collection(gql)
    stale = collection["version"]
    data(await gql(UPDATE, {"input": {"id": collection["id"], "description": "one"}}))
    before = await collection_state(gql, collection["id"])

    body = await gql(
        UPDATE,
        {
            "input": {
                "id": collection["id"],
                "description": "two",
                "expectedVersion": stale,
            }
        },
    )

    assert codes(body) == ["CONFLICT"]
    assert await collection_state(gql, collection["id"]) == before


async def test_future_expected_version_is_conflict(gql):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])
    future = collection["version"] + 5

    body = await gql(
        UPDATE,
        {
            "input": {
                "id": collection["id"],
                "description": "x",
                "expectedVersion": future,
            }
        },
    )

    assert codes(body) == ["CONFLICT"]
    assert await collection_state(gql, collection["id"]) == before


async def test_current_expected_version_is_accepted(gql):
    collection = await create_collection(gql)
    version = collection["version"]

    body = await gql(
        UPDATE,
        {
            "input": {
                "id": collection["id"],
                "description": "x",
                "expectedVersion": version,
            }
        },
    )

    assert data(body)["updateCollection"]["collection"]["version"] == version + 1


async def test_stale_project_expected_version_is_conflict(gql):
    await create_collection(gql)
    data(await gql(UPDATE_PROJECT, {"input": {"name": "shop", "description": "one"}}))
    before = await world(gql)

    body = await gql(
        UPDATE_PROJECT,
        {"input": {"name": "shop", "description": "two", "expectedVersion": 1}},
    )

    assert codes(body) == ["CONFLICT"]
    assert await world(gql) == before


@pytest.mark.parametrize(
    "change",
    [{"revoke": [OWNER]}, {"grant": [{"subject": OWNER, "role": "EDITOR"}]}],
    ids=["revoke", "demote"],
)
async def test_removing_the_last_collection_owner_is_refused(gql, change):
    collection = await create_collection(gql)
    before = await collection_state(gql, collection["id"])

    body = await gql(
        COLLECTION_PERMISSIONS, {"input": {"id": collection["id"], **change}}
    )

    assert codes(body) == ["LAST_OWNER"]
    assert await collection_state(gql, collection["id"]) == before


@pytest.mark.parametrize(
    "change",
    [{"revoke": [OWNER]}, {"grant": [{"subject": OWNER, "role": "VIEWER"}]}],
    ids=["revoke", "demote"],
)
async def test_removing_the_last_project_owner_is_refused(gql, change):
    await create_collection(gql)
    before = await world(gql)

    body = await gql(PROJECT_PERMISSIONS, {"input": {"name": "shop", **change}})

    assert codes(body) == ["LAST_OWNER"]
    assert await world(gql) == before


async def test_removing_one_of_two_owners_is_accepted(gql):
    collection = await create_collection(gql, owners=["second@example.com"])

    body = await gql(
        COLLECTION_PERMISSIONS, {"input": {"id": collection["id"], "revoke": [OWNER]}}
    )

    owners = data(body)["updateCollectionPermissions"]["collection"]["owners"]
    assert owners == ["second@example.com"]


async def test_deleting_a_non_empty_collection_needs_force(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "i-1")
    before = await world(gql)

    body = await gql(DELETE, {"input": {"id": collection["id"]}})

    assert codes(body) == ["COLLECTION_NOT_EMPTY"]
    assert await world(gql) == before


async def test_force_delete_reports_the_detached_resources(gql):
    collection = await create_collection(gql)
    for n in range(3):
        await add_resource(gql, collection["id"], f"i-{n}")

    body = await gql(DELETE, {"input": {"id": collection["id"], "force": True}})

    payload = data(body)["deleteCollection"]
    assert payload == {"deletedId": collection["id"], "detachedResourceCount": 3}
    assert await collection_state(gql, collection["id"]) is None


async def test_force_delete_updates_the_environment_counts(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "i-1")

    data(await gql(DELETE, {"input": {"id": collection["id"], "force": True}}))

    stages = (await world(gql))["projects"]["nodes"][0]["environments"]
    development = next(s for s in stages if s["name"] == "development")
    assert development["collectionCount"] == 0
    assert development["resourceCount"] == 0


async def test_deleting_an_empty_collection_needs_no_force(gql):
    collection = await create_collection(gql)

    body = await gql(DELETE, {"input": {"id": collection["id"]}})

    assert data(body)["deleteCollection"]["detachedResourceCount"] == 0


# --------------------------------------------------------------------------
# DateTime
# --------------------------------------------------------------------------

DATETIME = build_schema()._schema.type_map["DateTime"]


@pytest.mark.parametrize(
    "value",
    ["2026-01-01T00:00:00", "2026-01-01", "not a date", "", 1767225600, None, []],
    ids=["no-offset", "date-only", "words", "empty", "number", "null", "list"],
)
def test_datetime_input_without_an_offset_or_malformed_is_refused(value):
    with pytest.raises(BadUserInputError):
        DATETIME.parse_value(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00"),
        ("2026-01-01T02:00:00+02:00", "2026-01-01T00:00:00+00:00"),
    ],
)
def test_datetime_input_with_an_offset_is_read_as_utc(value, expected):
    parsed = DATETIME.parse_value(value)

    assert DATETIME.serialize(parsed) == expected


async def test_datetime_output_carries_a_utc_offset(gql):
    await create_collection(gql)

    body = await gql("{ collections { nodes { createdAt updatedAt } } }")

    node = data(body)["collections"]["nodes"][0]
    for value in node.values():
        assert value.endswith("+00:00")


# --------------------------------------------------------------------------
# Documents that are not valid GraphQL
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "{ viewer { subject }",
        "query {",
        "{ viewer { subject } } }",
        'mutation { createCollection(input: {name: "x" }',
        "{ viewer { subject } ",
        "{ viewer(: 1) { subject } }",
        '{ project(name: "unterminated) { id } }',
        "query($a: ) { viewer { subject } }",
    ],
)
async def test_unparseable_document_is_parse_failed(gql, client, query):
    before = await world(gql)

    response = await _post_raw(client, json.dumps({"query": query}))

    assert response.status_code in (200, 400)
    assert codes(_graphql_shaped(response)) == ["GRAPHQL_PARSE_FAILED"]
    assert await world(gql) == before


@pytest.mark.parametrize(
    "query",
    [
        "{ viewer { nope } }",
        "{ nope }",
        "{ projects { nodes { name secret } } }",
        '{ project(name: "shop", color: "red") { id } }',
        "{ collection { id } }",
        "query($x: Nope) { viewer { subject } }",
        "query($x: String) { viewer { subject } }",
        "{ viewer }",
        "mutation { nope }",
        "{ ...Missing }",
    ],
    ids=[
        "unknown-field",
        "unknown-root-field",
        "nested-unknown-field",
        "unknown-argument",
        "missing-argument",
        "unknown-type",
        "unused-variable",
        "missing-selection",
        "unknown-mutation",
        "unknown-fragment",
    ],
)
async def test_invalid_document_is_validation_failed(gql, client, query):
    before = await world(gql)

    response = await _post_raw(client, json.dumps({"query": query}))

    assert response.status_code in (200, 400)
    assert set(codes(_graphql_shaped(response))) == {"GRAPHQL_VALIDATION_FAILED"}
    assert await world(gql) == before


async def test_unknown_input_field_in_a_literal_changes_nothing(gql):
    before = await world(gql)
    query = """mutation { createCollection(input: {name: "web-app", project: "shop",
      environment: "development", bogus: 1}) { collection { id } } }"""

    body = await gql(query)

    assert codes(body) == ["BAD_USER_INPUT"]
    assert await world(gql) == before


# --------------------------------------------------------------------------
# HTTP-level garbage
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"query": ',
        b"{'query': '{ viewer { subject } }'}",
        b"not json at all",
        b"",
        b"\xff\xfe\x00garbage",
        b'{"query": "{ viewer { subject } }"} trailing',
    ],
    ids=["truncated", "single-quotes", "words", "empty", "binary", "trailing"],
)
async def test_malformed_json_body_is_a_4xx(client, content):
    response = await _post_raw(client, content)

    assert 400 <= response.status_code < 500
    _graphql_shaped(response)


@pytest.mark.parametrize(
    "content",
    [
        b'[{"query": "{ viewer { subject } }"}]',
        b"[]",
        b'"{ viewer { subject } }"',
        b"42",
        b"null",
        b"true",
    ],
    ids=["batch", "empty-array", "string", "number", "null", "boolean"],
)
async def test_json_body_that_is_not_an_object_is_a_4xx(client, content):
    response = await _post_raw(client, content)

    assert 400 <= response.status_code < 500
    _graphql_shaped(response)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"variables": {}},
        {"query": None},
        {"query": ""},
        {"query": 5},
        {"query": ["{ viewer { subject } }"]},
        {"query": "{ viewer { subject } }", "variables": [1]},
        {"query": "{ viewer { subject } }", "variables": "x"},
        {"query": "{ viewer { subject } }", "operationName": 5},
        {"query": "query A { viewer { subject } }", "operationName": "B"},
        {"query": "query A { viewer { subject } } query B { viewer { subject } }"},
    ],
    ids=[
        "empty",
        "only-variables",
        "null-query",
        "empty-query",
        "number-query",
        "list-query",
        "list-variables",
        "string-variables",
        "number-operation-name",
        "unknown-operation",
        "ambiguous-operation",
    ],
)
async def test_missing_or_malformed_query_is_an_error(client, payload):
    response = await _post_raw(client, json.dumps(payload))

    assert 200 <= response.status_code < 500
    if response.status_code == 200:
        assert response.json().get("data") is None
    _graphql_shaped(response)


async def test_mutation_over_get_is_refused_and_changes_nothing(gql, client):
    before = await world(gql)
    mutation = (
        'mutation { createCollection(input: {name: "web-app", project: "shop", '
        'environment: "development"}) { collection { id } } }'
    )

    response = await client.get(
        "/graphql",
        params={"query": mutation},
        headers={
            "Authorization": "Bearer " + token_for(OWNER),
            "Accept": "application/json",
        },
    )

    assert 400 <= response.status_code < 500
    _graphql_shaped(response)
    assert await world(gql) == before


async def test_query_over_get_is_answered(client):
    response = await client.get(
        "/graphql",
        params={"query": "{ viewer { subject } }"},
        headers={
            "Authorization": "Bearer " + token_for(OWNER),
            "Accept": "application/json",
        },
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"subject": OWNER}}}


@pytest.mark.parametrize(
    "params",
    [
        {"query": "{ viewer { subject } }", "variables": "not json"},
        {"query": "{ viewer { subject } }", "variables": "[1]"},
        {"query": "{ viewer { subject }"},
    ],
    ids=["bad-variables", "list-variables", "unparseable"],
)
async def test_malformed_get_request_is_graphql_shaped(client, params):
    response = await client.get(
        "/graphql",
        params=params,
        headers={
            "Authorization": "Bearer " + token_for(OWNER),
            "Accept": "application/json",
        },
    )

    assert 200 <= response.status_code < 500
    _graphql_shaped(response)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        None,
    ],
)
async def test_unsupported_content_type_is_a_4xx(gql, client, content_type):
    before = await world(gql)
    body = json.dumps(
        {
            "query": 'mutation { createProject(input: {name: "shop"}) '
            "{ project { id } } }"
        }
    )

    response = await _post_raw(client, body, content_type=content_type)

    assert 400 <= response.status_code < 500
    _graphql_shaped(response)
    assert await world(gql) == before


async def test_oversized_body_is_413(client, settings):
    padding = "x" * (settings.max_body_bytes + 1)
    content = json.dumps(
        {"query": "{ viewer { subject } }", "variables": {"p": padding}}
    )

    response = await _post_raw(client, content)

    assert response.status_code == 413
    _graphql_shaped(response)


async def test_missing_token_is_unauthenticated_and_changes_nothing(gql):
    before = await world(gql)

    body = await gql(CREATE, _collection_input(), as_=None)

    assert codes(body) == ["UNAUTHENTICATED"]
    assert await world(gql) == before


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}))
    return f"{header}.{_b64(json.dumps(claims))}."


BAD_AUTHORIZATION = {
    "garbage": "Bearer garbage",
    "empty-bearer": "Bearer ",
    "basic": "Basic dXNlcjpwYXNz",
    "no-scheme": token_for(OWNER),
    "wrong-secret": "Bearer " + issue_token("another-secret-" + "y" * 40, OWNER),
    "expired": "Bearer " + issue_token(SECRET, OWNER, ttl_seconds=-3600),
    "alg-none": "Bearer " + _unsigned({"sub": OWNER, "exp": 4102444800}),
    "group-subject": "Bearer " + token_for("group:admins"),
}


@pytest.mark.parametrize(
    "header", BAD_AUTHORIZATION.values(), ids=list(BAD_AUTHORIZATION)
)
async def test_bad_token_is_unauthenticated_and_changes_nothing(gql, client, header):
    before = await world(gql)
    content = json.dumps({"query": CREATE, "variables": _collection_input()})

    response = await client.post(
        "/graphql",
        content=content,
        headers={"Authorization": header, "Content-Type": "application/json"},
    )

    assert response.status_code in (200, 401)
    assert codes(_graphql_shaped(response)) == ["UNAUTHENTICATED"]
    assert await world(gql) == before


async def test_missing_token_answers_a_graphql_shaped_401(client):
    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { subject } }"},
    )

    assert response.status_code in (200, 401)
    assert codes(_graphql_shaped(response)) == ["UNAUTHENTICATED"]
