"""Build test data through the API itself, so every rule applies."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient, data

CREATE_COLLECTION = """
mutation($input: CreateCollectionInput!) {
  createCollection(input: $input) { collection { id name version environment } }
}"""

ADD_RESOURCE = """
mutation($input: AddResourceInput!) {
  addResourceToCollection(input: $input) {
    collection { id version resourceCount }
    resource { id resourceId resourceType }
  }
}"""


async def create_collection(
    gql: GraphQLClient,
    *,
    as_: str = "owner@example.com",
    name: str = "web-app",
    project: str = "shop",
    environment: str = "development",
    **fields: Any,
) -> dict[str, Any]:
    variables = {
        "input": {
            "name": name,
            "project": project,
            "environment": environment,
            **fields,
        }
    }
    body = await gql(CREATE_COLLECTION, variables, as_=as_)
    collection: dict[str, Any] = data(body)["createCollection"]["collection"]
    return collection


async def add_resource(
    gql: GraphQLClient,
    collection_id: str,
    resource_id: str,
    *,
    as_: str = "owner@example.com",
    resource_type: str = "INSTANCE",
    **fields: Any,
) -> dict[str, Any]:
    variables = {
        "input": {
            "collectionId": collection_id,
            "resourceType": resource_type,
            "resourceId": resource_id,
            **fields,
        }
    }
    body = await gql(ADD_RESOURCE, variables, as_=as_)
    result: dict[str, Any] = data(body)["addResourceToCollection"]
    return result
