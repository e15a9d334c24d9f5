"""Races made visible: the gateway yields around every database call."""

import asyncio

from tests.conftest import codes, data
from tests.factories import add_resource, create_collection

UPDATE = """
mutation($input: UpdateCollectionInput!) {
  updateCollection(input: $input) { collection { version description } }
}"""

COUNT = """
query($id: ID!) { collection(id: $id) {
  resourceCount version resources(first: 100) { totalCount } } }
"""


async def test_concurrent_adds_lose_nothing(gql):
    collection = await create_collection(gql)

    await asyncio.gather(
        *(add_resource(gql, collection["id"], f"inst-{n}") for n in range(50))
    )

    found = data(await gql(COUNT, {"id": collection["id"]}))["collection"]
    assert found["resourceCount"] == 50
    assert found["resources"]["totalCount"] == 50
    assert found["version"] == collection["version"] + 50


async def test_same_expected_version_lets_one_writer_win(gql):
    collection = await create_collection(gql)
    version = collection["version"]

    bodies = await asyncio.gather(
        *(
            gql(
                UPDATE,
                {
                    "input": {
                        "id": collection["id"],
                        "description": text,
                        "expectedVersion": version,
                    }
                },
            )
            for text in ("first", "second")
        )
    )

    outcomes = sorted(tuple(codes(body)) for body in bodies)
    assert outcomes == [(), ("CONFLICT",)]
    winner = next(body for body in bodies if not codes(body))
    final = data(await gql(COUNT, {"id": collection["id"]}))["collection"]
    assert final["version"] == version + 1
    assert winner["data"]["updateCollection"]["collection"]["version"] == version + 1


async def test_concurrent_adds_and_removes_keep_the_counter(gql):
    collection = await create_collection(gql)
    for n in range(10):
        await add_resource(gql, collection["id"], f"old-{n}")
    remove = """
    mutation($input: RemoveResourceInput!) {
      removeResourceFromCollection(input: $input) { collection { id } } }"""

    await asyncio.gather(
        *(add_resource(gql, collection["id"], f"new-{n}") for n in range(10)),
        *(
            gql(
                remove,
                {
                    "input": {
                        "collectionId": collection["id"],
                        "resourceType": "INSTANCE",
                        "resourceId": f"old-{n}",
                    }
                },
            )
            for n in range(10)
        ),
    )

    found = data(await gql(COUNT, {"id": collection["id"]}))["collection"]
    assert found["resourceCount"] == 10
    assert found["resources"]["totalCount"] == 10


async def test_concurrent_permission_changes_keep_both(gql):
    collection = await create_collection(gql)
    grant = """
    mutation($input: UpdateCollectionPermissionsInput!) {
      updateCollectionPermissions(input: $input) { collection { editors } } }"""

    await asyncio.gather(
        *(
            gql(
                grant,
                {
                    "input": {
                        "id": collection["id"],
                        "grant": [{"subject": f"user{n}@x.io", "role": "EDITOR"}],
                    }
                },
            )
            for n in range(5)
        )
    )

    query = "query($id: ID!) { collection(id: $id) { editors } }"
    editors = data(await gql(query, {"id": collection["id"]}))["collection"]["editors"]
    assert sorted(editors) == [f"user{n}@x.io" for n in range(5)]
