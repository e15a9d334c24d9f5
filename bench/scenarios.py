"""The requests `make bench` sends: GraphQL documents and baseline paths."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

DASHBOARD = """query Dashboard($first: Int!) {
  projects(first: $first) { nodes { name environments {
    name collectionCount resourceCount collections { name resourceCount } } } } }"""

DETAIL = """query Detail($id: ID!) {
  collection(id: $id) { id name resources(first: 50) { nodes {
    id resourceType resourceId resourceName tags { key value } metadata
    access { subject role } myRole createdAt updatedAt addedBy } } } }"""

SEARCH = """query Search($tags: [TagInput!], $resourceTags: [TagInput!]) {
  collections(filter: {environment: "production", tags: $tags}, first: 20) {
    totalCount nodes { id name tags { key value }
      resources(filter: {tags: $resourceTags}, first: 20) {
        nodes { id resourceId resourceName tags { key value } } } } } }"""
SEARCH_VARIABLES = {
    "tags": [{"key": "tier", "value": "backend"}],
    "resourceTags": [{"key": "zone", "value": "a"}],
}

WRITE = """mutation Add($input: AddResourceInput!) {
  addResourceToCollection(input: $input) {
    resource { id resourceId } collection { version resourceCount } } }"""

FIND = """query Find($environment: String!) {
  collections(filter: {environment: $environment}, first: 100) {
    nodes { id name project { name } } } }"""

RESOURCE_PAGE = """query Page($id: ID!, $after: String) {
  collection(id: $id) { resourceCount resources(first: 100, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { resourceId } } } }"""

# Resource ids the write scenario adds: WRITE_PREFIX<thread>-<n>.
WRITE_PREFIX = "benchw"


@dataclass(frozen=True, slots=True)
class Target:
    """One kind of request, sent over and over by a load generator."""

    name: str
    method: str
    path: str
    body: bytes | None = None


def graphql(name: str, query: str, variables: dict[str, Any] | None = None) -> Target:
    payload = {"query": query, "variables": variables or {}}
    return Target(name, "POST", "/graphql", json.dumps(payload).encode())


def write_template(resource_type: str = "INSTANCE") -> str:
    """The write body with two %s: collection id, then resource id."""
    variables = {
        "input": {
            "collectionId": "@COLLECTION@",
            "resourceType": resource_type,
            "resourceId": "@RESOURCE@",
            "resourceName": "bench write",
            "tags": [{"key": "source", "value": "bench"}],
            "metadata": {"plan": "vc2-1c-2gb", "note": "written by make bench"},
        }
    }
    body = json.dumps({"query": WRITE, "variables": variables})
    if "%" in body:
        raise ValueError("the write body must not contain %")
    return body.replace("@COLLECTION@", "%s").replace("@RESOURCE@", "%s")


def raw_id(global_id: str) -> str:
    """The object id inside a GraphQL global id (base64url "Type:id")."""
    padded = global_id + "=" * (-len(global_id) % 4)
    return base64.urlsafe_b64decode(padded).decode().partition(":")[2]
