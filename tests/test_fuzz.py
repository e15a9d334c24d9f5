"""Property-based fuzzing: every mutation answers data or a coded error, never an
internal error, and a refused mutation changes nothing."""

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gql_service.app import create_app
from gql_service.auth.tokens import TokenVerifier
from gql_service.config import Settings
from gql_service.runtime import build_runtime
from gql_service.storage.database import open_embedded
from tests.conftest import SECRET, GraphQLClient, token_for
from tests.factories import add_resource, create_collection

# Text with the awkward parts: unicode, dots, dollars, NUL and lone surrogates.
text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "$where", "a.b", "web-app", "\x00", "\ud800", "ü" * 3]),
    st.text(alphabet="abc-.", min_size=1, max_size=8),
)
json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3)
    ),
    max_leaves=8,
)
tags = st.lists(st.fixed_dictionaries({"key": text, "value": text}), max_size=4)
role = st.sampled_from(["OWNER", "EDITOR", "VIEWER", "NONE", "ADMIN", ""])
resource_type = st.sampled_from(["INSTANCE", "VPC", "DNS_RECORD", "SERVER", ""])
maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

MUTATIONS = {
    "createProject": (
        "CreateProjectInput",
        lambda ids: st.fixed_dictionaries(
            {
                "name": text,
                "environments": maybe(st.lists(text, max_size=5)),
                "editors": st.lists(text, max_size=2),
            }
        ),
    ),
    "updateProject": (
        "UpdateProjectInput",
        lambda ids: st.fixed_dictionaries(
            {
                "name": st.sampled_from(["shop", "nope"]) | text,
                "description": maybe(text),
                "environments": maybe(st.lists(text, max_size=5)),
                "expectedVersion": maybe(st.integers(-5, 5)),
            }
        ),
    ),
    "updateProjectPermissions": (
        "UpdateProjectPermissionsInput",
        lambda ids: st.fixed_dictionaries(
            {
                "name": st.just("shop") | text,
                "grant": st.lists(
                    st.fixed_dictionaries({"subject": text, "role": role}), max_size=3
                ),
                "revoke": st.lists(text, max_size=3),
            }
        ),
    ),
    "createCollection": (
        "CreateCollectionInput",
        lambda ids: st.fixed_dictionaries(
            {
                "name": text,
                "project": st.just("shop") | text,
                "environment": st.sampled_from(["development", "qa"]) | text,
                "region": maybe(text),
                "tags": tags,
            }
        ),
    ),
    "updateCollection": (
        "UpdateCollectionInput",
        lambda ids: st.fixed_dictionaries(
            {
                "id": st.sampled_from(ids) | text,
                "description": maybe(text),
                "region": maybe(text),
                "tags": maybe(tags),
                "expectedVersion": maybe(st.integers(-5, 5)),
            }
        ),
    ),
    "deleteCollection": (
        "DeleteCollectionInput",
        lambda ids: st.fixed_dictionaries({"id": text, "force": st.booleans()}),
    ),
    "updateCollectionPermissions": (
        "UpdateCollectionPermissionsInput",
        lambda ids: st.fixed_dictionaries(
            {
                "id": st.sampled_from(ids) | text,
                "grant": st.lists(
                    st.fixed_dictionaries({"subject": text, "role": role}), max_size=3
                ),
                "revoke": st.lists(text, max_size=3),
            }
        ),
    ),
    "addResourceToCollection": (
        "AddResourceInput",
        lambda ids: st.fixed_dictionaries(
            {
                "collectionId": st.sampled_from(ids) | text,
                "resourceType": resource_type,
                "resourceId": text,
                "resourceName": maybe(text),
                "tags": tags,
                "metadata": json_value,
            }
        ),
    ),
    "addResourcesToCollection": (
        "AddResourcesInput",
        lambda ids: st.fixed_dictionaries(
            {
                "collectionId": st.sampled_from(ids) | text,
                "resources": st.lists(
                    st.fixed_dictionaries(
                        {
                            "resourceType": resource_type,
                            "resourceId": text,
                            "metadata": json_value,
                        }
                    ),
                    max_size=4,
                ),
            }
        ),
    ),
    "updateResource": (
        "UpdateResourceInput",
        lambda ids: st.fixed_dictionaries(
            {
                "collectionId": st.sampled_from(ids) | text,
                "resourceType": resource_type,
                "resourceId": st.just("keep-1") | text,
                "resourceName": maybe(text),
                "tags": maybe(tags),
                "metadata": json_value,
            }
        ),
    ),
    "removeResourceFromCollection": (
        "RemoveResourceInput",
        lambda ids: st.fixed_dictionaries(
            {"collectionId": text, "resourceType": resource_type, "resourceId": text}
        ),
    ),
    "setResourceAccess": (
        "SetResourceAccessInput",
        lambda ids: st.fixed_dictionaries(
            {
                "collectionId": st.sampled_from(ids) | text,
                "resourceType": resource_type,
                "resourceId": st.just("keep-1") | text,
                "grants": st.lists(
                    st.fixed_dictionaries({"subject": text, "role": role}), max_size=3
                ),
            }
        ),
    ),
    "promoteCollection": (
        "PromoteCollectionInput",
        lambda ids: st.fixed_dictionaries(
            {
                "id": st.sampled_from(ids) | text,
                "targetEnvironment": maybe(text),
                "idempotencyKey": maybe(text),
                "dryRun": st.booleans(),
            }
        ),
    ),
    "createWorkflow": (
        "CreateWorkflowInput",
        lambda ids: st.fixed_dictionaries(
            {
                "collectionId": st.sampled_from(ids) | text,
                "name": text,
                "triggers": st.lists(
                    st.sampled_from(["MANUAL", "SCHEDULED", "NOPE"]), max_size=2
                ),
                "schedule": maybe(
                    st.fixed_dictionaries({"cron": text, "timezone": text})
                ),
                "actions": st.lists(
                    st.dictionaries(
                        st.sampled_from(["notification", "deploy", "healthCheck"]),
                        st.fixed_dictionaries(
                            {
                                "channel": st.just("WEBHOOK"),
                                "target": text,
                                "strategy": st.just("ROLLING"),
                                "webhookUrl": text,
                                "url": text,
                            }
                        ),
                        max_size=2,
                    ),
                    max_size=2,
                ),
            }
        ),
    ),
}


async def snapshot(runtime) -> dict[str, Any]:
    """Counts and versions that any accepted change would move."""
    db = runtime.database
    names = [
        "projects",
        "service_collections",
        "resources",
        "promotions",
        "workflows",
        "workflow_runs",
    ]
    counts = {name: await db.collection(name).count({}) for name in names}
    events = await db.collection("events").count({"state": "committed"})
    versions = [
        (doc["_id"], doc.get("version"), doc.get("resource_count"))
        for doc in await db.collection("service_collections").find_many({})
    ]
    return {"counts": counts, "events": events, "versions": sorted(versions)}


async def post(gql: GraphQLClient, query: str, variables: dict) -> dict[str, Any]:
    """Post with every non-ASCII character escaped, lone surrogates included."""
    payload = json.dumps({"query": query, "variables": variables}, ensure_ascii=True)
    response = await gql.http.post(
        "/graphql",
        content=payload.encode("ascii"),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer " + token_for("owner@example.com"),
        },
    )
    result: dict[str, Any] = response.json()
    return result


def query_for(name: str, input_type: str) -> str:
    return (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename }} }}"
    )


async def check(gql, runtime, name: str, input_type: str, value: dict) -> None:
    before = await snapshot(runtime)

    body = await post(gql, query_for(name, input_type), {"input": value})

    errors = body.get("errors", [])
    codes = [e.get("extensions", {}).get("code") for e in errors]
    assert None not in codes, body
    assert "INTERNAL_SERVER_ERROR" not in codes, body
    if errors:
        assert await snapshot(runtime) == before, (name, value, codes)


@pytest.fixture(scope="module")
def world():
    """A private loop, store and client: hypothesis drives sync functions."""
    loop = asyncio.new_event_loop()
    database = open_embedded("fuzz_" + uuid.uuid4().hex[:8])
    runtime = build_runtime(
        Settings(jwt_secret=SECRET),
        database=database,
        verifier=TokenVerifier(secret=SECRET),
    )
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://fuzz"
    )
    gql = GraphQLClient(http)

    async def prepare() -> list[str]:
        await runtime.store.create_indexes()
        collection = await create_collection(gql, name="base", project="shop")
        await add_resource(gql, collection["id"], "keep-1")
        return [collection["id"]]

    ids = loop.run_until_complete(prepare())
    yield loop, gql, runtime, ids
    loop.run_until_complete(http.aclose())
    loop.close()


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_fuzz_mutation(world, name):
    loop, gql, runtime, ids = world
    input_type, make = MUTATIONS[name]

    @SETTINGS
    @given(data=st.data())
    def property_holds(data):
        value = data.draw(make(ids))
        loop.run_until_complete(check(gql, runtime, name, input_type, value))

    property_holds()
