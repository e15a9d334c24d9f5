"""Read state back through the API, so tests can show a failure changed nothing."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient, data

ADMIN = "root@example.com"

COLLECTION_STATE = """
query($id: ID!) { collection(id: $id) {
  id name environment description region version resourceCount
  tags { key value } owners editors viewers
  promotedFrom { id }
  resources(first: 100) { totalCount nodes {
    resourceType resourceId resourceName tags { key value } metadata } } } }
"""

WORLD = """
{ projects(first: 100) { totalCount nodes { name version description
    owners editors viewers
    environments { name collectionCount resourceCount } } }
  collections(first: 100) { totalCount nodes {
    id name environment version resourceCount description region
    tags { key value } owners editors viewers } }
  promotions(first: 100) { totalCount nodes { id status } } }
"""

GRANT_PROJECT = """
mutation($input: UpdateProjectPermissionsInput!) {
  updateProjectPermissions(input: $input) { project { version } } }
"""

GRANT_COLLECTION = """
mutation($input: UpdateCollectionPermissionsInput!) {
  updateCollectionPermissions(input: $input) { collection { version } } }
"""


async def collection_state(
    gql: GraphQLClient, collection_id: str
) -> dict[str, Any] | None:
    """Everything about one collection, as an administrator sees it."""
    body = await gql(COLLECTION_STATE, {"id": collection_id}, as_=ADMIN, admin=True)
    found: dict[str, Any] | None = data(body)["collection"]
    return found


async def world(gql: GraphQLClient) -> dict[str, Any]:
    """Every project, collection and promotion, as an administrator sees them."""
    return data(await gql(WORLD, as_=ADMIN, admin=True))


async def grant_project_role(
    gql: GraphQLClient,
    subject: str,
    role: str,
    *,
    project: str = "shop",
    as_: str = "owner@example.com",
) -> None:
    variables = {
        "input": {"name": project, "grant": [{"subject": subject, "role": role}]}
    }
    data(await gql(GRANT_PROJECT, variables, as_=as_))


async def grant_collection_role(
    gql: GraphQLClient,
    collection_id: str,
    subject: str,
    role: str,
    *,
    as_: str = "owner@example.com",
) -> None:
    variables = {
        "input": {"id": collection_id, "grant": [{"subject": subject, "role": role}]}
    }
    data(await gql(GRANT_COLLECTION, variables, as_=as_))
