from tests.conftest import codes, data
from tests.factories import add_resource, create_collection

NESTED = """
{ projects(first: 10) { totalCount nodes { name environments {
    name collectionCount resourceCount collections { name resourceCount } } } } }
"""


async def test_nested_view_counts_resources(gql):
    collection = await create_collection(gql)
    await add_resource(gql, collection["id"], "abc-1")

    body = await gql(NESTED)

    projects = data(body)["projects"]
    assert projects["totalCount"] == 1
    stages = {s["name"]: s for s in projects["nodes"][0]["environments"]}
    assert stages["development"]["collectionCount"] == 1
    assert stages["development"]["resourceCount"] == 1
    assert stages["production"]["collections"] == []


async def test_missing_token_is_unauthenticated(gql):
    body = await gql("{ viewer { subject } }", as_=None)

    assert codes(body) == ["UNAUTHENTICATED"]
