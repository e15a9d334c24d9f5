"""The permission matrix: every core mutation for every kind of caller.

Expected outcomes follow "Roles and permissions" in ARCHITECTURE.md:
mutating something one cannot read is NOT_FOUND, reading it without the
needed role is FORBIDDEN, no token is UNAUTHENTICATED, and a refused
mutation changes nothing (the whole store is read back as an admin before
and after). The callers and the world they act on are in
``tests/access_world.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.access_world import (
    ALL_CALLERS,
    CALLERS,
    COLLECTION,
    FORBIDDEN,
    NEWBIE,
    NOT_FOUND,
    OK,
    OWNER,
    PROJECT,
    PROMOTE,
    RESOURCE_OVERRIDE_CALLERS,
    SOURCE_DESCRIPTION,
    SOURCE_ENV,
    TARGET_ENV,
    TARGET_RESOURCE,
    UNAUTHENTICATED,
    UPDATE_COLLECTION_PERMISSIONS,
    UPDATE_PROJECT_PERMISSIONS,
    Caller,
    Snapshot,
    World,
    build_world,
    caller,
    grant_collection,
    grant_project,
    outcome,
    set_resource_access,
    snapshot,
)
from tests.conftest import codes, data
from tests.factories import create_collection

Verify = Callable[[Snapshot, Snapshot, World, Caller, dict[str, Any]], None]


@dataclass(frozen=True)
class MutationCase:
    """One mutation: its document, input, who may run it and what it changes."""

    name: str
    document: str
    variables: Callable[[World], dict[str, Any]]
    expect: Callable[[Caller], str]
    verify: Verify
    with_target: bool = False

    def __str__(self) -> str:
        return self.name


def _expect_any_subject(who: Caller) -> str:
    return OK


def _expect_project(needed: str) -> Callable[[Caller], str]:
    def expect(who: Caller) -> str:
        return outcome(who.project_role, needed, visible=who.sees_project)

    return expect


def _expect_collection(needed: str) -> Callable[[Caller], str]:
    def expect(who: Caller) -> str:
        return outcome(who.collection_role, needed)

    return expect


def _expect_resource(needed: str) -> Callable[[Caller], str]:
    """Collection must be readable, then the resource's own role decides."""

    def expect(who: Caller) -> str:
        if who.collection_role is None:
            return NOT_FOUND
        return outcome(who.resource_role, needed)

    return expect


def _expect_promotion_new_target(who: Caller) -> str:
    """EDITOR on the source, and project EDITOR as the target does not exist."""
    on_source = outcome(who.collection_role, "EDITOR")
    if on_source != OK:
        return on_source
    return OK if who.project_role in ("EDITOR", "OWNER") else FORBIDDEN


# ---------------------------------------------------------------------------
# What each mutation changes when it is allowed
# ---------------------------------------------------------------------------


def _collection_of(snap: Snapshot, world: World) -> dict[str, Any]:
    return snap.collections[world.collection_id]


def _verify_create_project(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    created = after.projects["new-project"]
    assert "new-project" not in before.projects
    assert created["owners"] == [who.subject]


def _verify_update_project(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    assert after.projects[PROJECT]["description"] == "changed"
    assert after.projects[PROJECT]["version"] == before.projects[PROJECT]["version"] + 1


def _verify_update_project_permissions(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    assert NEWBIE in after.projects[PROJECT]["viewers"]
    assert after.projects[PROJECT]["version"] == before.projects[PROJECT]["version"] + 1


def _verify_create_collection(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    created = after.collection_named("api", SOURCE_ENV)
    assert created is not None
    assert who.subject in created["owners"]


def _verify_update_collection(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    old, new = _collection_of(before, world), _collection_of(after, world)
    assert new["description"] == "changed"
    assert new["version"] == old["version"] + 1


def _verify_delete_collection(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    assert world.collection_id in before.collections
    assert world.collection_id not in after.collections


def _verify_update_collection_permissions(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    old, new = _collection_of(before, world), _collection_of(after, world)
    assert NEWBIE in new["viewers"]
    assert new["version"] == old["version"] + 1


def _verify_add_resource(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    old, new = _collection_of(before, world), _collection_of(after, world)
    assert "res-new" in after.resources(world.collection_id)
    assert new["resourceCount"] == old["resourceCount"] + 1
    assert new["version"] == old["version"] + 1


def _verify_add_resources(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    results = data(body)["addResourcesToCollection"]["results"]
    old, new = _collection_of(before, world), _collection_of(after, world)
    assert [r["status"] for r in results] == ["ADDED", "ADDED"]
    assert {"res-a", "res-b"} <= set(after.resources(world.collection_id))
    assert new["resourceCount"] == old["resourceCount"] + 2


def _verify_update_resource(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    old, new = _collection_of(before, world), _collection_of(after, world)
    resource = after.resources(world.collection_id)[TARGET_RESOURCE]
    assert resource["resourceName"] == "renamed"
    assert new["version"] == old["version"] + 1


def _verify_remove_resource(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    old, new = _collection_of(before, world), _collection_of(after, world)
    assert TARGET_RESOURCE not in after.resources(world.collection_id)
    assert new["resourceCount"] == old["resourceCount"] - 1
    assert new["version"] == old["version"] + 1


def _verify_set_resource_access(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    old, new = _collection_of(before, world), _collection_of(after, world)
    resource = after.resources(world.collection_id)[TARGET_RESOURCE]
    assert resource["access"] == [{"subject": NEWBIE, "role": "VIEWER"}]
    assert new["version"] == old["version"] + 1


def _verify_promote_new_target(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    target = after.collection_named(COLLECTION, TARGET_ENV)
    assert before.collection_named(COLLECTION, TARGET_ENV) is None
    assert target is not None
    assert target["description"] == SOURCE_DESCRIPTION
    assert [p["status"] for p in after.promotions] == ["SUCCEEDED"]


def _verify_promote_existing_target(
    before: Snapshot, after: Snapshot, world: World, who: Caller, body: dict[str, Any]
) -> None:
    assert world.target_id
    old, new = before.collections[world.target_id], after.collections[world.target_id]
    assert new["description"] == SOURCE_DESCRIPTION
    assert new["version"] == old["version"] + 1
    assert [p["status"] for p in after.promotions] == ["SUCCEEDED"]


def _resource_key(world: World, resource_id: str = TARGET_RESOURCE) -> dict[str, Any]:
    return {
        "collectionId": world.collection_id,
        "resourceType": "INSTANCE",
        "resourceId": resource_id,
    }


def _rename(world: World, resource_id: str = TARGET_RESOURCE) -> dict[str, Any]:
    """An updateResource input that names every field.

    A partial update (only ``resourceName``) is covered on its own by
    ``test_update_resource_leaves_absent_fields_alone``; sending every field
    keeps this matrix about roles.
    """
    return {
        "input": {
            **_resource_key(world, resource_id),
            "resourceName": "renamed",
            "tags": [{"key": "tier", "value": "web"}],
            "metadata": {"note": "renamed"},
        }
    }


MUTATIONS = [
    MutationCase(
        name="createProject",
        document="""
mutation($input: CreateProjectInput!) {
  createProject(input: $input) { project { name owners } }
}""",
        variables=lambda w: {"input": {"name": "new-project"}},
        expect=_expect_any_subject,
        verify=_verify_create_project,
    ),
    MutationCase(
        name="updateProject",
        document="""
mutation($input: UpdateProjectInput!) {
  updateProject(input: $input) { project { name version description } }
}""",
        variables=lambda w: {"input": {"name": PROJECT, "description": "changed"}},
        expect=_expect_project("OWNER"),
        verify=_verify_update_project,
    ),
    MutationCase(
        name="updateProjectPermissions",
        document=UPDATE_PROJECT_PERMISSIONS,
        variables=lambda w: {
            "input": {"name": PROJECT, "grant": [{"subject": NEWBIE, "role": "VIEWER"}]}
        },
        expect=_expect_project("OWNER"),
        verify=_verify_update_project_permissions,
    ),
    MutationCase(
        name="createCollection",
        document="""
mutation($input: CreateCollectionInput!) {
  createCollection(input: $input) { collection { id owners } }
}""",
        variables=lambda w: {
            "input": {"name": "api", "project": PROJECT, "environment": SOURCE_ENV}
        },
        expect=_expect_project("EDITOR"),
        verify=_verify_create_collection,
    ),
    MutationCase(
        name="updateCollection",
        document="""
mutation($input: UpdateCollectionInput!) {
  updateCollection(input: $input) { collection { id version description } }
}""",
        variables=lambda w: {
            "input": {"id": w.collection_id, "description": "changed"}
        },
        expect=_expect_collection("EDITOR"),
        verify=_verify_update_collection,
    ),
    MutationCase(
        name="deleteCollection",
        document="""
mutation($input: DeleteCollectionInput!) {
  deleteCollection(input: $input) { deletedId detachedResourceCount }
}""",
        variables=lambda w: {"input": {"id": w.collection_id, "force": True}},
        expect=_expect_collection("OWNER"),
        verify=_verify_delete_collection,
    ),
    MutationCase(
        name="updateCollectionPermissions",
        document=UPDATE_COLLECTION_PERMISSIONS,
        variables=lambda w: {
            "input": {
                "id": w.collection_id,
                "grant": [{"subject": NEWBIE, "role": "VIEWER"}],
            }
        },
        expect=_expect_collection("OWNER"),
        verify=_verify_update_collection_permissions,
    ),
    MutationCase(
        name="addResourceToCollection",
        document="""
mutation($input: AddResourceInput!) {
  addResourceToCollection(input: $input) {
    collection { id version } resource { resourceId }
  }
}""",
        variables=lambda w: {"input": _resource_key(w, "res-new")},
        expect=_expect_collection("EDITOR"),
        verify=_verify_add_resource,
    ),
    MutationCase(
        name="addResourcesToCollection",
        document="""
mutation($input: AddResourcesInput!) {
  addResourcesToCollection(input: $input) {
    collection { id version } results { resourceId status }
  }
}""",
        variables=lambda w: {
            "input": {
                "collectionId": w.collection_id,
                "resources": [
                    {"resourceType": "INSTANCE", "resourceId": "res-a"},
                    {"resourceType": "INSTANCE", "resourceId": "res-b"},
                ],
            }
        },
        expect=_expect_collection("EDITOR"),
        verify=_verify_add_resources,
    ),
    MutationCase(
        name="updateResource",
        document="""
mutation($input: UpdateResourceInput!) {
  updateResource(input: $input) {
    collection { id version } resource { resourceId resourceName }
  }
}""",
        variables=_rename,
        expect=_expect_resource("EDITOR"),
        verify=_verify_update_resource,
    ),
    MutationCase(
        name="removeResourceFromCollection",
        document="""
mutation($input: RemoveResourceInput!) {
  removeResourceFromCollection(input: $input) {
    collection { id version } removed { resourceId }
  }
}""",
        variables=lambda w: {"input": _resource_key(w)},
        expect=_expect_resource("EDITOR"),
        verify=_verify_remove_resource,
    ),
    MutationCase(
        name="setResourceAccess",
        document="""
mutation($input: SetResourceAccessInput!) {
  setResourceAccess(input: $input) {
    collection { id version } resource { resourceId access { subject role } }
  }
}""",
        variables=lambda w: {
            "input": {
                **_resource_key(w),
                "grants": [{"subject": NEWBIE, "role": "VIEWER"}],
            }
        },
        expect=_expect_collection("OWNER"),
        verify=_verify_set_resource_access,
    ),
    MutationCase(
        name="promoteCollection-new-target",
        document=PROMOTE,
        variables=lambda w: {"input": {"id": w.collection_id}},
        expect=_expect_promotion_new_target,
        verify=_verify_promote_new_target,
    ),
    MutationCase(
        name="promoteCollection-existing-target",
        document=PROMOTE,
        variables=lambda w: {"input": {"id": w.collection_id}},
        expect=_expect_collection("EDITOR"),
        verify=_verify_promote_existing_target,
        with_target=True,
    ),
]


def _document(name: str) -> str:
    return next(m.document for m in MUTATIONS if m.name == name)


CREATE_PROJECT = _document("createProject")
CREATE_COLLECTION = _document("createCollection")
UPDATE_COLLECTION = _document("updateCollection")
UPDATE_RESOURCE = _document("updateResource")


def _matrix(callers: list[Caller]) -> list[Any]:
    return [
        pytest.param(mutation, who, id=mutation.name + "-" + who.kind)
        for mutation in MUTATIONS
        for who in callers
    ]


def _expected(mutation: MutationCase, who: Caller) -> str:
    return UNAUTHENTICATED if who.anonymous else mutation.expect(who)


# ---------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutation", "who"),
    [p for p in _matrix(ALL_CALLERS) if _expected(*p.values) == OK],
)
async def test_allowed_mutation_takes_effect(gql, mutation, who):
    world = await build_world(gql, who, with_target=mutation.with_target)
    before = await snapshot(gql)

    body = await who.send(gql, mutation.document, mutation.variables(world))

    assert codes(body) == []
    mutation.verify(before, await snapshot(gql), world, who, body)


@pytest.mark.parametrize(
    ("mutation", "who"),
    [p for p in _matrix(ALL_CALLERS) if _expected(*p.values) != OK],
)
async def test_refused_mutation_answers_code_and_changes_nothing(gql, mutation, who):
    world = await build_world(gql, who, with_target=mutation.with_target)
    before = await snapshot(gql)

    body = await who.send(gql, mutation.document, mutation.variables(world))

    assert codes(body) == [_expected(mutation, who)]
    assert (await snapshot(gql)).raw == before.raw


# ---------------------------------------------------------------------------
# Roles as the API reports them
# ---------------------------------------------------------------------------

MY_ROLES = """
query($id: ID!, $project: String!) {
  collection(id: $id) { myRole }
  project(name: $project) { myRole }
}"""


@pytest.mark.parametrize("who", [c for c in CALLERS if c.sees_project], ids=str)
async def test_my_role_is_the_effective_collection_role(gql, who):
    world = await build_world(gql, who)

    body = await who.send(
        gql, MY_ROLES, {"id": world.collection_id, "project": PROJECT}
    )

    assert data(body)["collection"]["myRole"] == who.collection_role


@pytest.mark.parametrize("who", [c for c in CALLERS if c.sees_project], ids=str)
async def test_project_my_role_counts_project_grants_only(gql, who):
    world = await build_world(gql, who)

    body = await who.send(
        gql, MY_ROLES, {"id": world.collection_id, "project": PROJECT}
    )

    assert data(body)["project"]["myRole"] == who.project_role


RESOURCE_ROLES = """
query($id: ID!) {
  collection(id: $id) { resources { nodes { resourceId myRole } } }
}"""


@pytest.mark.parametrize(
    "who", [c for c in RESOURCE_OVERRIDE_CALLERS if c.collection_role], ids=str
)
async def test_resource_my_role_applies_the_override(gql, who):
    world = await build_world(gql, who)
    expected = {TARGET_RESOURCE: who.resource_role, "res-2": who.collection_role}

    body = await who.send(gql, RESOURCE_ROLES, {"id": world.collection_id})

    nodes = data(body)["collection"]["resources"]["nodes"]
    roles = {n["resourceId"]: n["myRole"] for n in nodes}
    assert roles == {k: v for k, v in expected.items() if v is not None}


# ---------------------------------------------------------------------------
# Resource overrides beyond the matrix
# ---------------------------------------------------------------------------


async def test_update_resource_leaves_absent_fields_alone(gql):
    # "In update inputs an absent field stays as it is": only the name is sent.
    world = await build_world(gql, caller("owner"))
    variables = {"input": {**_resource_key(world), "resourceName": "renamed"}}

    body = await gql(UPDATE_RESOURCE, variables)

    assert data(body)["updateResource"]["resource"]["resourceName"] == "renamed"


async def test_resource_editor_grant_does_not_reach_other_resources(gql):
    who = caller("viewer+res-editor")
    world = await build_world(gql, who)
    before = await snapshot(gql)
    variables = _rename(world, "res-2")

    body = await who.send(gql, UPDATE_RESOURCE, variables)

    assert codes(body) == [FORBIDDEN]
    assert (await snapshot(gql)).raw == before.raw


async def test_group_none_grant_beats_direct_viewer_role(gql):
    # Viewer of the collection in person, hidden from res-1 through a group.
    world = await build_world(gql, caller("viewer"))
    await set_resource_access(
        gql, world.collection_id, TARGET_RESOURCE, [("group:contractors", "NONE")]
    )

    body = await gql(
        RESOURCE_ROLES,
        {"id": world.collection_id},
        as_="viewer@example.com",
        groups=["contractors"],
    )

    nodes = data(body)["collection"]["resources"]["nodes"]
    assert [n["resourceId"] for n in nodes] == ["res-2"]


async def test_resource_grant_for_group_owner_never_lowers_it(gql):
    who = caller("group-owner")
    world = await build_world(gql, who)
    await set_resource_access(
        gql, world.collection_id, TARGET_RESOURCE, [("group:leads", "NONE")]
    )
    variables = _rename(world)

    body = await who.send(gql, UPDATE_RESOURCE, variables)

    assert data(body)["updateResource"]["resource"]["resourceName"] == "renamed"


async def test_resource_viewer_grant_never_lowers_a_project_owner(gql):
    who = caller("project-owner")
    world = await build_world(gql, who)
    await set_resource_access(
        gql, world.collection_id, TARGET_RESOURCE, [(who.subject, "VIEWER")]
    )
    variables = _rename(world)

    body = await who.send(gql, UPDATE_RESOURCE, variables)

    assert data(body)["updateResource"]["resource"]["resourceName"] == "renamed"


async def test_setting_resource_access_replaces_the_earlier_grants(gql):
    who = caller("viewer+res-none")
    world = await build_world(gql, who)
    await set_resource_access(gql, world.collection_id, TARGET_RESOURCE, [])

    body = await who.send(gql, RESOURCE_ROLES, {"id": world.collection_id})

    nodes = data(body)["collection"]["resources"]["nodes"]
    assert sorted(n["resourceId"] for n in nodes) == ["res-1", "res-2"]


# ---------------------------------------------------------------------------
# Promotion rules that depend on the role
# ---------------------------------------------------------------------------


def _expect_skip(who: Caller) -> str:
    """Skipping a stage needs project OWNER (on top of EDITOR on the source)."""
    on_source = outcome(who.collection_role, "EDITOR")
    if on_source != OK:
        return on_source
    return OK if who.project_role == "OWNER" else FORBIDDEN


SKIP_CALLERS = [c for c in CALLERS if not c.anonymous]


@pytest.mark.parametrize(
    "who", [c for c in SKIP_CALLERS if _expect_skip(c) == OK], ids=str
)
async def test_promotion_that_skips_a_stage_is_allowed_to_project_owners(gql, who):
    world = await build_world(gql, who)
    variables = {"input": {"id": world.collection_id, "targetEnvironment": "staging"}}

    body = await who.send(gql, PROMOTE, variables)

    promotion = data(body)["promoteCollection"]["promotion"]
    assert promotion["targetEnvironment"] == "staging"


@pytest.mark.parametrize(
    "who", [c for c in SKIP_CALLERS if _expect_skip(c) != OK], ids=str
)
async def test_promotion_that_skips_a_stage_is_refused_to_others(gql, who):
    world = await build_world(gql, who)
    before = await snapshot(gql)
    variables = {"input": {"id": world.collection_id, "targetEnvironment": "staging"}}

    body = await who.send(gql, PROMOTE, variables)

    assert codes(body) == [_expect_skip(who)]
    assert (await snapshot(gql)).raw == before.raw


async def test_promotion_needs_editor_on_an_existing_target(gql):
    # Editor of the source only; the target exists and they may read it.
    who = caller("editor")
    world = await build_world(gql, who, with_target=True)
    assert world.target_id
    await grant_collection(gql, world.target_id, "editor@example.com", "VIEWER")
    before = await snapshot(gql)

    body = await who.send(gql, PROMOTE, {"input": {"id": world.collection_id}})

    assert codes(body) == [FORBIDDEN]
    assert (await snapshot(gql)).raw == before.raw


async def test_promotion_copies_owners_but_not_editors_or_viewers(gql):
    world = await build_world(gql, caller("editor"))
    await grant_collection(gql, world.collection_id, "viewer@example.com", "VIEWER")

    await gql(PROMOTE, {"input": {"id": world.collection_id}})

    target = (await snapshot(gql)).collection_named(COLLECTION, TARGET_ENV)
    assert target is not None
    assert (target["owners"], target["editors"], target["viewers"]) == (
        [OWNER],
        [],
        [],
    )


async def test_promoter_is_not_added_to_the_new_target(gql):
    who = caller("project-editor")
    world = await build_world(gql, who)

    await who.send(gql, PROMOTE, {"input": {"id": world.collection_id}})

    target = (await snapshot(gql)).collection_named(COLLECTION, TARGET_ENV)
    assert target is not None
    assert who.subject not in target["owners"] + target["editors"] + target["viewers"]


async def test_dry_run_promotion_needs_the_same_role(gql):
    who = caller("viewer")
    world = await build_world(gql, who)
    before = await snapshot(gql)
    variables = {"input": {"id": world.collection_id, "dryRun": True}}

    body = await who.send(gql, PROMOTE, variables)

    assert codes(body) == [FORBIDDEN]
    assert (await snapshot(gql)).raw == before.raw


# ---------------------------------------------------------------------------
# The last direct owner
# ---------------------------------------------------------------------------

LAST_OWNER_CHANGES = [
    pytest.param({"revoke": [OWNER]}, id="revoke"),
    pytest.param({"grant": [{"subject": OWNER, "role": "EDITOR"}]}, id="demote"),
]


@pytest.mark.parametrize("change", LAST_OWNER_CHANGES)
@pytest.mark.parametrize("actor", ["owner", "admin", "project-owner"])
async def test_last_direct_collection_owner_cannot_be_removed(gql, change, actor):
    who = caller(actor)
    world = await build_world(gql, who)
    before = await snapshot(gql)
    variables = {"input": {"id": world.collection_id, **change}}

    body = await who.send(gql, UPDATE_COLLECTION_PERMISSIONS, variables)

    assert codes(body) == ["LAST_OWNER"]
    assert (await snapshot(gql)).raw == before.raw


async def test_collection_owner_may_leave_when_a_group_still_owns_it(gql):
    world = await build_world(gql, caller("group-owner"))
    variables = {"input": {"id": world.collection_id, "revoke": [OWNER]}}

    body = await gql(UPDATE_COLLECTION_PERMISSIONS, variables)

    assert data(body)["updateCollectionPermissions"]["collection"]["owners"] == [
        "group:leads"
    ]


async def test_last_group_owner_of_a_collection_cannot_be_revoked(gql):
    who = caller("group-owner")
    world = await build_world(gql, who)
    await gql(
        UPDATE_COLLECTION_PERMISSIONS,
        {"input": {"id": world.collection_id, "revoke": [OWNER]}},
    )
    before = await snapshot(gql)
    variables = {"input": {"id": world.collection_id, "revoke": ["group:leads"]}}

    body = await who.send(gql, UPDATE_COLLECTION_PERMISSIONS, variables)

    assert codes(body) == ["LAST_OWNER"]
    assert (await snapshot(gql)).raw == before.raw


@pytest.mark.parametrize("change", LAST_OWNER_CHANGES)
@pytest.mark.parametrize("actor", ["owner", "admin"])
async def test_last_project_owner_cannot_be_removed(gql, change, actor):
    who = caller(actor)
    await build_world(gql, who)
    before = await snapshot(gql)
    variables = {"input": {"name": PROJECT, **change}}

    body = await who.send(gql, UPDATE_PROJECT_PERMISSIONS, variables)

    assert codes(body) == ["LAST_OWNER"]
    assert (await snapshot(gql)).raw == before.raw


async def test_project_owner_may_leave_when_another_owner_remains(gql):
    await build_world(gql, caller("project-owner"))
    variables = {"input": {"name": PROJECT, "revoke": [OWNER]}}

    body = await gql(UPDATE_PROJECT_PERMISSIONS, variables)

    assert data(body)["updateProjectPermissions"]["project"]["owners"] == [
        "cto@example.com"
    ]


# ---------------------------------------------------------------------------
# Grants take effect at once and go away when revoked
# ---------------------------------------------------------------------------


async def test_revoked_collection_editor_can_no_longer_update(gql):
    who = caller("editor")
    world = await build_world(gql, who)
    await gql(
        UPDATE_COLLECTION_PERMISSIONS,
        {"input": {"id": world.collection_id, "revoke": [who.subject]}},
    )
    before = await snapshot(gql)
    variables = {"input": {"id": world.collection_id, "description": "changed"}}

    body = await who.send(gql, UPDATE_COLLECTION, variables)

    assert codes(body) == [NOT_FOUND]
    assert (await snapshot(gql)).raw == before.raw


async def test_revoked_project_editor_can_no_longer_update(gql):
    who = caller("project-editor")
    world = await build_world(gql, who)
    await gql(
        UPDATE_PROJECT_PERMISSIONS,
        {"input": {"name": PROJECT, "revoke": [who.subject]}},
    )
    before = await snapshot(gql)
    variables = {"input": {"id": world.collection_id, "description": "changed"}}

    body = await who.send(gql, UPDATE_COLLECTION, variables)

    assert codes(body) == [NOT_FOUND]
    assert (await snapshot(gql)).raw == before.raw


async def test_leaving_the_group_removes_the_group_role(gql):
    who = caller("group-editor")
    world = await build_world(gql, who)
    before = await snapshot(gql)
    variables = {"input": {"id": world.collection_id, "description": "changed"}}

    body = await gql(UPDATE_COLLECTION, variables, as_=who.subject, groups=["everyone"])

    assert codes(body) == [NOT_FOUND]
    assert (await snapshot(gql)).raw == before.raw


async def test_collection_role_adds_to_a_lower_project_role(gql):
    # Project viewer, collection editor: the higher of the two applies.
    who = caller("project-viewer")
    world = await build_world(gql, who)
    await grant_collection(gql, world.collection_id, who.subject or "", "EDITOR")
    variables = {"input": {"id": world.collection_id, "description": "changed"}}

    body = await who.send(gql, UPDATE_COLLECTION, variables)

    assert data(body)["updateCollection"]["collection"]["description"] == "changed"


async def test_project_role_outranks_a_lower_collection_role(gql):
    who = caller("project-editor")
    world = await build_world(gql, who)
    await grant_collection(gql, world.collection_id, who.subject or "", "VIEWER")
    variables = {"input": {"id": world.collection_id, "description": "changed"}}

    body = await who.send(gql, UPDATE_COLLECTION, variables)

    assert data(body)["updateCollection"]["collection"]["description"] == "changed"


async def test_create_collection_makes_the_caller_an_owner_of_it(gql):
    who = caller("project-editor")
    await build_world(gql, who)

    body = await who.send(
        gql,
        CREATE_COLLECTION,
        {"input": {"name": "api", "project": PROJECT, "environment": SOURCE_ENV}},
    )

    assert data(body)["createCollection"]["collection"]["owners"] == [who.subject]


async def test_any_subject_may_create_a_collection_in_a_new_project(gql):
    who = caller("stranger")
    await build_world(gql, who)

    created = await create_collection(
        gql, as_=who.subject or "", project="side-project"
    )

    project = (await snapshot(gql)).projects["side-project"]
    assert created["name"] == COLLECTION
    assert project["owners"] == [who.subject]


async def test_project_editor_grant_on_create_project_is_honoured(gql):
    await gql(
        CREATE_PROJECT,
        {"input": {"name": "new-project", "editors": ["pm@example.com"]}},
    )

    created = await create_collection(
        gql, as_="pm@example.com", name="api", project="new-project"
    )

    assert created["name"] == "api"


async def test_promotion_retry_after_losing_access_is_not_found(gql):
    # The retry is a mutation on a collection the caller can no longer read.
    who = caller("project-editor")
    world = await build_world(gql, who)
    variables = {"input": {"id": world.collection_id, "idempotencyKey": "deploy-42"}}
    data(await who.send(gql, PROMOTE, variables))
    await gql(
        UPDATE_PROJECT_PERMISSIONS,
        {"input": {"name": PROJECT, "revoke": [who.subject]}},
    )

    body = await who.send(gql, PROMOTE, variables)

    assert codes(body) == [NOT_FOUND]


async def test_promotion_retry_after_losing_the_role_is_forbidden(gql):
    who = caller("project-editor")
    world = await build_world(gql, who)
    variables = {"input": {"id": world.collection_id, "idempotencyKey": "deploy-42"}}
    data(await who.send(gql, PROMOTE, variables))
    await grant_project(gql, PROJECT, who.subject or "", "VIEWER")

    body = await who.send(gql, PROMOTE, variables)

    assert codes(body) == [FORBIDDEN]


# ---------------------------------------------------------------------------
# Group subjects
# ---------------------------------------------------------------------------

READ_COLLECTION = "query($id: ID!) { collection(id: $id) { id myRole } }"


async def test_token_whose_subject_is_a_group_is_refused(gql):
    world = await build_world(gql, caller("group-editor"))

    body = await gql(READ_COLLECTION, {"id": world.collection_id}, as_="group:devs")

    assert codes(body) == [UNAUTHENTICATED]


async def test_user_named_like_a_group_does_not_get_the_group_grant(gql):
    world = await build_world(gql, caller("group-editor"))

    body = await gql(READ_COLLECTION, {"id": world.collection_id}, as_="devs")

    assert data(body)["collection"] is None


async def test_group_role_and_direct_role_combine_to_the_highest(gql):
    who = caller("group-viewer")
    world = await build_world(gql, who)
    await grant_collection(gql, world.collection_id, who.subject or "", "EDITOR")

    body = await who.send(gql, READ_COLLECTION, {"id": world.collection_id})

    assert data(body)["collection"]["myRole"] == "EDITOR"
