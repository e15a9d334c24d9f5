"""Operations sharing one Context (a WebSocket) keep their caches apart.

Found by review: with roles and loaders kept on the Context, another
operation's slow role read could land after a mutation's forget() and put
pre-write roles back into its payload, and every forget() dropped the
loaders of whatever else was running on the connection.
"""

from __future__ import annotations

import asyncio

from gql_service.api.context import Context
from gql_service.api.schema import build_schema
from gql_service.auth.principal import Principal
from tests.conftest import data
from tests.factories import add_resource, create_collection

MEMBER = "u@example.com"
GRANT = """mutation($input: UpdateProjectPermissionsInput!) {
  updateProjectPermissions(input: $input) { project { name } } }"""
READ = "query($id: ID!) { collection(id: $id) { name myRole } }"
REVOKE = f"""mutation {{ updateProjectPermissions(
  input: {{name: "shop", revoke: ["{MEMBER}"]}}) {{
  project {{ myRole collections {{ nodes {{ name myRole }} }} }} }} }}"""


async def test_a_slow_read_elsewhere_cannot_put_old_roles_in_a_payload(gql, runtime):
    collection = await create_collection(gql)
    grants = [
        {"subject": MEMBER, "role": "OWNER"},
        {"subject": "group:ops", "role": "VIEWER"},
    ]
    data(await gql(GRANT, {"input": {"name": "shop", "grant": grants}}))
    schema = build_schema()
    context = Context(runtime.services, Principal(MEMBER, groups=("ops",)))
    projects, collections = runtime.store.projects, runtime.store.collections
    read_roles, list_collections = projects.member_projects, collections.list
    answered, release = asyncio.Event(), asyncio.Event()

    async def slow_once(identities):
        # Read before the revoke, answered after it: a slow network reply.
        found = await read_roles(identities)
        if not answered.is_set():
            answered.set()
            await release.wait()
        return found

    async def list_then_release(*args, **kwargs):
        # The revoke's payload lists its collections: the old answer lands now.
        release.set()
        await asyncio.sleep(0.01)
        return await list_collections(*args, **kwargs)

    projects.member_projects = slow_once
    reading = asyncio.create_task(
        schema.execute(READ, {"id": collection["id"]}, context_value=context)
    )
    await answered.wait()
    collections.list = list_then_release
    revoked = await schema.execute(REVOKE, context_value=context)
    await reading
    projects.member_projects, collections.list = read_roles, list_collections
    fresh = await schema.execute(READ, {"id": collection["id"]}, context_value=context)

    assert revoked.errors is None and fresh.errors is None
    payload = revoked.data["updateProjectPermissions"]["project"]
    assert payload["collections"]["nodes"][0]["myRole"] == "VIEWER"
    assert fresh.data["collection"]["myRole"] == "VIEWER"


async def test_one_operation_s_forget_leaves_another_s_loaders(runtime):
    context = Context(runtime.services, Principal("owner@example.com"))
    seen: dict[str, list[object]] = {"steady": [], "forgetful": []}
    step = asyncio.Event()

    async def operation(name: str, forgets: bool) -> None:
        context.begin_operation()
        seen[name].append(context.loaders)
        await step.wait()
        if forgets:
            context.forget()
        await asyncio.sleep(0)
        seen[name].append(context.loaders)

    steady = asyncio.create_task(operation("steady", forgets=False))
    forgetful = asyncio.create_task(operation("forgetful", forgets=True))
    await asyncio.sleep(0)
    step.set()
    await asyncio.gather(steady, forgetful)

    assert seen["steady"][0] is seen["steady"][1]
    assert seen["forgetful"][0] is not seen["forgetful"][1]
    assert seen["steady"][0] is not seen["forgetful"][0]


async def test_subscription_events_read_through_their_own_operation(gql, runtime):
    collection = await create_collection(gql)
    await runtime.services.hub.start()  # past the creation: only the add is live
    try:
        schema = build_schema()
        context = Context(runtime.services, Principal("owner@example.com"))
        feed = await schema.subscribe(
            "subscription { collectionEvents { type collection { resourceCount } } }",
            context_value=context,
        )
        first = asyncio.ensure_future(feed.__anext__())
        await asyncio.sleep(0.05)
        await add_resource(gql, collection["id"], "r1")
        result = await asyncio.wait_for(first, 5)
        await feed.aclose()
    finally:
        await runtime.services.hub.stop()

    assert result.errors is None
    assert result.data["collectionEvents"] == {
        "type": "RESOURCE_ADDED",
        "collection": {"resourceCount": 1},
    }
    # Nothing fell back to the connection-wide state.
    assert context._outside is None
