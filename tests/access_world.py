"""Callers, a small world to act on, and snapshots for the permission tests.

Each ``Caller`` is one kind of subject from the "Roles and permissions"
section of ARCHITECTURE.md, with the grant that makes it that kind and the
roles it should end up with. ``build_world`` makes the same world for every
kind (project ``shop``, collection ``web-app`` in ``development`` holding
``res-1`` and ``res-2``), then gives the caller its grant. ``snapshot`` reads
everything back as an admin, so a test can show that a refused mutation
changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.conftest import GraphQLClient, data
from tests.factories import add_resource, create_collection

OWNER = "owner@example.com"
NEWBIE = "newbie@example.com"
PROJECT = "shop"
SOURCE_ENV = "development"
TARGET_ENV = "testing"
COLLECTION = "web-app"
SOURCE_DESCRIPTION = "the shop front"
RESOURCES = ("res-1", "res-2")
TARGET_RESOURCE = "res-1"

RANK = {None: 0, "VIEWER": 1, "EDITOR": 2, "OWNER": 3}

OK = "OK"
UNAUTHENTICATED = "UNAUTHENTICATED"
NOT_FOUND = "NOT_FOUND"
FORBIDDEN = "FORBIDDEN"


@dataclass(frozen=True)
class Caller:
    """A kind of subject and the roles the design gives it on the world."""

    kind: str
    subject: str | None
    groups: tuple[str, ...] = ()
    admin: bool = False
    # Where the caller's grant goes: "collection", "project" or nowhere.
    grant_on: str | None = None
    grant_subject: str | None = None
    grant_role: str | None = None
    # A resource grant on res-1 given to grant_subject (or subject).
    resource_grant: str | None = None
    # What ARCHITECTURE.md says the caller ends up with.
    collection_role: str | None = None
    project_role: str | None = None
    sees_project: bool = False
    resource_role: str | None = field(default=None)

    @property
    def anonymous(self) -> bool:
        return self.subject is None

    def __str__(self) -> str:
        return self.kind

    async def send(
        self, gql: GraphQLClient, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await gql(
            query,
            variables,
            as_=self.subject,
            groups=list(self.groups) or None,
            admin=self.admin,
        )


def _caller(**fields: Any) -> Caller:
    fields.setdefault("resource_role", fields.get("collection_role"))
    return Caller(**fields)


CALLERS = [
    _caller(
        kind="owner",
        subject=OWNER,
        collection_role="OWNER",
        project_role="OWNER",
        sees_project=True,
    ),
    _caller(
        kind="admin",
        subject="admin@example.com",
        admin=True,
        collection_role="OWNER",
        project_role="OWNER",
        sees_project=True,
    ),
    _caller(
        kind="editor",
        subject="editor@example.com",
        grant_on="collection",
        grant_role="EDITOR",
        collection_role="EDITOR",
        sees_project=True,
    ),
    _caller(
        kind="viewer",
        subject="viewer@example.com",
        grant_on="collection",
        grant_role="VIEWER",
        collection_role="VIEWER",
        sees_project=True,
    ),
    _caller(kind="stranger", subject="stranger@example.com"),
    _caller(kind="anonymous", subject=None),
    _caller(
        kind="group-owner",
        subject="lead@example.com",
        groups=("leads",),
        grant_on="collection",
        grant_subject="group:leads",
        grant_role="OWNER",
        collection_role="OWNER",
        sees_project=True,
    ),
    _caller(
        kind="group-editor",
        subject="dev@example.com",
        groups=("devs", "everyone"),
        grant_on="collection",
        grant_subject="group:devs",
        grant_role="EDITOR",
        collection_role="EDITOR",
        sees_project=True,
    ),
    _caller(
        kind="group-viewer",
        subject="tester@example.com",
        groups=("qa",),
        grant_on="collection",
        grant_subject="group:qa",
        grant_role="VIEWER",
        collection_role="VIEWER",
        sees_project=True,
    ),
    _caller(
        kind="project-owner",
        subject="cto@example.com",
        grant_on="project",
        grant_role="OWNER",
        collection_role="OWNER",
        project_role="OWNER",
        sees_project=True,
    ),
    _caller(
        kind="project-editor",
        subject="pm@example.com",
        grant_on="project",
        grant_role="EDITOR",
        collection_role="EDITOR",
        project_role="EDITOR",
        sees_project=True,
    ),
    _caller(
        kind="project-viewer",
        subject="auditor@example.com",
        grant_on="project",
        grant_role="VIEWER",
        collection_role="VIEWER",
        project_role="VIEWER",
        sees_project=True,
    ),
    _caller(
        kind="project-group-editor",
        subject="sre@example.com",
        groups=("platform",),
        grant_on="project",
        grant_subject="group:platform",
        grant_role="EDITOR",
        collection_role="EDITOR",
        project_role="EDITOR",
        sees_project=True,
    ),
]

# Resource overrides: a grant on res-1 only, on top of a collection role.
RESOURCE_OVERRIDE_CALLERS = [
    _caller(
        kind="viewer+res-editor",
        subject="viewer@example.com",
        grant_on="collection",
        grant_role="VIEWER",
        resource_grant="EDITOR",
        collection_role="VIEWER",
        resource_role="EDITOR",
        sees_project=True,
    ),
    _caller(
        kind="group-viewer+group-res-editor",
        subject="tester@example.com",
        groups=("qa",),
        grant_on="collection",
        grant_subject="group:qa",
        grant_role="VIEWER",
        resource_grant="EDITOR",
        collection_role="VIEWER",
        resource_role="EDITOR",
        sees_project=True,
    ),
    _caller(
        kind="editor+res-viewer",
        subject="editor@example.com",
        grant_on="collection",
        grant_role="EDITOR",
        resource_grant="VIEWER",
        collection_role="EDITOR",
        resource_role="VIEWER",
        sees_project=True,
    ),
    _caller(
        kind="editor+res-none",
        subject="editor@example.com",
        grant_on="collection",
        grant_role="EDITOR",
        resource_grant="NONE",
        collection_role="EDITOR",
        resource_role=None,
        sees_project=True,
    ),
    _caller(
        kind="viewer+res-none",
        subject="viewer@example.com",
        grant_on="collection",
        grant_role="VIEWER",
        resource_grant="NONE",
        collection_role="VIEWER",
        resource_role=None,
        sees_project=True,
    ),
    _caller(
        kind="owner+res-none",
        subject=OWNER,
        resource_grant="NONE",
        collection_role="OWNER",
        project_role="OWNER",
        resource_role="OWNER",
        sees_project=True,
    ),
    _caller(
        kind="project-owner+res-none",
        subject="cto@example.com",
        grant_on="project",
        grant_role="OWNER",
        resource_grant="NONE",
        collection_role="OWNER",
        project_role="OWNER",
        resource_role="OWNER",
        sees_project=True,
    ),
    _caller(
        kind="admin+res-none",
        subject="admin@example.com",
        admin=True,
        resource_grant="NONE",
        collection_role="OWNER",
        project_role="OWNER",
        resource_role="OWNER",
        sees_project=True,
    ),
    _caller(
        kind="stranger+res-editor",
        subject="stranger@example.com",
        resource_grant="EDITOR",
    ),
]

ALL_CALLERS = CALLERS + RESOURCE_OVERRIDE_CALLERS


def caller(kind: str) -> Caller:
    return next(c for c in ALL_CALLERS if c.kind == kind)


def outcome(role: str | None, needed: str, *, visible: bool | None = None) -> str:
    """OK, NOT_FOUND (cannot read) or FORBIDDEN (reads, lacks the role)."""
    if not (role is not None if visible is None else visible):
        return NOT_FOUND
    return OK if RANK[role] >= RANK[needed] else FORBIDDEN


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------

UPDATE_COLLECTION_PERMISSIONS = """
mutation($input: UpdateCollectionPermissionsInput!) {
  updateCollectionPermissions(input: $input) {
    collection { id version owners editors viewers myRole }
  }
}"""

UPDATE_PROJECT_PERMISSIONS = """
mutation($input: UpdateProjectPermissionsInput!) {
  updateProjectPermissions(input: $input) {
    project { name version owners editors viewers myRole }
  }
}"""

SET_RESOURCE_ACCESS = """
mutation($input: SetResourceAccessInput!) {
  setResourceAccess(input: $input) {
    collection { id version }
    resource { resourceId access { subject role } }
  }
}"""

PROMOTE = """
mutation($input: PromoteCollectionInput!) {
  promoteCollection(input: $input) {
    promotion { id status sourceEnvironment targetEnvironment createdTarget }
  }
}"""

SNAPSHOT = """
{
  projects(first: 100) {
    totalCount
    nodes {
      name description version environments { name } owners editors viewers
    }
  }
  collections(first: 100) {
    totalCount
    nodes {
      id name environment description region version resourceCount
      owners editors viewers tags { key value }
      project { name }
      resources(first: 100) {
        totalCount
        nodes {
          resourceType resourceId resourceName metadata
          tags { key value } access { subject role }
        }
      }
    }
  }
  promotions(first: 100) { totalCount nodes { id status targetEnvironment } }
}"""


# ---------------------------------------------------------------------------
# Building the world
# ---------------------------------------------------------------------------


@dataclass
class World:
    collection_id: str
    target_id: str | None = None
    resource_ids: tuple[str, ...] = RESOURCES


async def grant_collection(
    gql: GraphQLClient, collection_id: str, subject: str, role: str, *, as_: str = OWNER
) -> dict[str, Any]:
    variables = {
        "input": {"id": collection_id, "grant": [{"subject": subject, "role": role}]}
    }
    body = await gql(UPDATE_COLLECTION_PERMISSIONS, variables, as_=as_)
    result: dict[str, Any] = data(body)["updateCollectionPermissions"]["collection"]
    return result


async def grant_project(
    gql: GraphQLClient, project: str, subject: str, role: str, *, as_: str = OWNER
) -> dict[str, Any]:
    variables = {
        "input": {"name": project, "grant": [{"subject": subject, "role": role}]}
    }
    body = await gql(UPDATE_PROJECT_PERMISSIONS, variables, as_=as_)
    result: dict[str, Any] = data(body)["updateProjectPermissions"]["project"]
    return result


async def set_resource_access(
    gql: GraphQLClient,
    collection_id: str,
    resource_id: str,
    grants: list[tuple[str, str]],
    *,
    as_: str = OWNER,
) -> dict[str, Any]:
    variables = {
        "input": {
            "collectionId": collection_id,
            "resourceType": "INSTANCE",
            "resourceId": resource_id,
            "grants": [{"subject": s, "role": r} for s, r in grants],
        }
    }
    body = await gql(SET_RESOURCE_ACCESS, variables, as_=as_)
    result: dict[str, Any] = data(body)["setResourceAccess"]
    return result


async def give_grant(
    gql: GraphQLClient, who: Caller, collection_ids: list[str]
) -> None:
    """Make ``who`` the kind of caller it is on the given collections."""
    subject = who.grant_subject or who.subject
    if who.grant_on == "collection":
        assert subject and who.grant_role
        for collection_id in collection_ids:
            await grant_collection(gql, collection_id, subject, who.grant_role)
    elif who.grant_on == "project":
        assert subject and who.grant_role
        await grant_project(gql, PROJECT, subject, who.grant_role)


async def build_world(
    gql: GraphQLClient, who: Caller, *, with_target: bool = False
) -> World:
    """shop/development/web-app with res-1 and res-2, plus ``who``'s grant.

    With ``with_target`` the promotion target shop/testing/web-app exists too
    (owned by the owner, empty, no description) and ``who`` holds the same
    collection grant there.
    """
    source = await create_collection(
        gql, name=COLLECTION, project=PROJECT, description=SOURCE_DESCRIPTION
    )
    for resource_id in RESOURCES:
        await add_resource(gql, source["id"], resource_id)
    world = World(collection_id=source["id"])
    collection_ids = [source["id"]]
    if with_target:
        target = await create_collection(
            gql, name=COLLECTION, project=PROJECT, environment=TARGET_ENV
        )
        world.target_id = target["id"]
        collection_ids.append(target["id"])
    await give_grant(gql, who, collection_ids)
    if who.resource_grant is not None:
        subject = who.grant_subject or who.subject
        assert subject
        await set_resource_access(
            gql, source["id"], TARGET_RESOURCE, [(subject, who.resource_grant)]
        )
    return world


# ---------------------------------------------------------------------------
# Reading everything back
# ---------------------------------------------------------------------------


@dataclass
class Snapshot:
    raw: dict[str, Any]

    @property
    def projects(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.raw["projects"]["nodes"]}

    @property
    def collections(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.raw["collections"]["nodes"]}

    def collection_named(
        self, name: str, environment: str, project: str = PROJECT
    ) -> dict[str, Any] | None:
        for found in self.raw["collections"]["nodes"]:
            if (found["name"], found["environment"], found["project"]["name"]) == (
                name,
                environment,
                project,
            ):
                return dict(found)
        return None

    def resources(self, collection_id: str) -> dict[str, dict[str, Any]]:
        nodes = self.collections[collection_id]["resources"]["nodes"]
        return {r["resourceId"]: r for r in nodes}

    @property
    def promotions(self) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = self.raw["promotions"]["nodes"]
        return nodes


async def snapshot(gql: GraphQLClient) -> Snapshot:
    """Everything in the store, as a service administrator reads it."""
    body = await gql(SNAPSHOT, as_="auditor-admin@example.com", admin=True)
    return Snapshot(data(body))
