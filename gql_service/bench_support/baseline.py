"""Plain-JSON answers to the bench's dashboard and collection-detail queries.

The floor the GraphQL API is measured against: the same data, read from the
same store by the storage repositories with as few commands as the rules
allow (authenticate, find what the subject may read, read it), and no
GraphQL layer. Per-resource NONE grants are honoured in the detail view;
counters are taken as stored (the bench data set hides no resource).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from gql_service.api.json_codec import FastJSONResponse
from gql_service.auth.principal import Principal
from gql_service.auth.tokens import TokenVerifier, bearer_token
from gql_service.domain.models import (
    EnvironmentCounts,
    Project,
    ResourceReference,
    ServiceCollection,
)
from gql_service.domain.roles import Role, highest, resource_role, role_in
from gql_service.errors import UnauthenticatedError
from gql_service.storage.resources import ResourceQuery
from gql_service.storage.service_collections import scope_filter
from gql_service.storage.store import Store

MAX_FIRST = 100


class Baseline:
    def __init__(self, store: Store, verifier: TokenVerifier) -> None:
        self._store = store
        self._verifier = verifier

    def routes(self) -> list[Route]:
        return [
            Route("/bench/baseline/dashboard", self.dashboard, methods=["GET"]),
            Route(
                "/bench/baseline/collections/{collection_id:str}",
                self.collection,
                methods=["GET"],
            ),
        ]

    async def _principal(self, request: Request) -> Principal | None:
        try:
            token = bearer_token(request.headers.get("authorization"))
            return await self._verifier.verify(token) if token else None
        except UnauthenticatedError:
            return None

    async def dashboard(self, request: Request) -> FastJSONResponse:
        principal = await self._principal(request)
        if principal is None:
            return FastJSONResponse({"error": "UNAUTHENTICATED"}, status_code=401)
        first = _first(request, 10)

        projects, roles, scope = await self._visible_projects(principal, first)
        ids = [project.id for project in projects]
        collections = await self._store.collections.list_in_projects(scope, ids)
        counts = await self._store.counts.for_projects(ids)
        body = [
            _project_view(project, roles.get(project.id), collections, counts)
            for project in projects
        ]
        return FastJSONResponse({"projects": body})

    async def _visible_projects(
        self, principal: Principal, first: int
    ) -> tuple[list[Project], dict[str, Role], dict[str, Any]]:
        """The first projects by name, the subject's roles, the collection scope."""
        store = self._store
        if principal.is_admin:
            projects = await store.projects.list({}, None, first)
            return projects, {p.id: Role.OWNER for p in projects}, {}
        identities = sorted(principal.identities)
        members = await store.projects.member_projects(identities)
        granted = await store.collections.granted(identities)
        roles = {
            p.id: role
            for p in members
            if (role := role_in(((g.subject, g.role) for g in p.grants), principal))
        }
        known = {p.id: p for p in members}
        others = sorted({pid for _cid, pid in granted} - set(known))
        if others:
            known.update((p.id, p) for p in await store.projects.get_many(others))
        projects = sorted(known.values(), key=lambda p: (p.name, p.id))[:first]
        return projects, roles, scope_filter(list(roles), identities)

    async def collection(self, request: Request) -> FastJSONResponse:
        principal = await self._principal(request)
        if principal is None:
            return FastJSONResponse({"error": "UNAUTHENTICATED"}, status_code=401)
        first = _first(request, 50)

        try:
            found = await self._store.collections.get(
                request.path_params["collection_id"]
            )
        except ValueError:
            found = None
        role = await self._collection_role(principal, found) if found else None
        if found is None or role is None:
            return FastJSONResponse({"collection": None}, status_code=404)
        restricted = role is not Role.OWNER and not principal.identities.isdisjoint(
            found.restricted_subjects
        )
        query = ResourceQuery(
            hidden_from=sorted(principal.identities) if restricted else None
        )
        resources = await self._store.resources.list(found.id, query, None, first)
        body = {
            "id": found.id,
            "name": found.name,
            "resources": [_resource_view(r, role, principal) for r in resources],
        }
        return FastJSONResponse({"collection": body})

    async def _collection_role(
        self, principal: Principal, collection: ServiceCollection
    ) -> Role | None:
        if principal.is_admin:
            return Role.OWNER
        project = await self._store.projects.get(collection.project_id)
        grants = project.grants if project else []
        return highest(
            [
                role_in(((g.subject, g.role) for g in grants), principal),
                role_in(((g.subject, g.role) for g in collection.grants), principal),
            ]
        )


def _first(request: Request, default: int) -> int:
    value = request.query_params.get("first", "")
    return min(int(value), MAX_FIRST) if value.isdigit() else default


def _project_view(
    project: Project,
    role: Role | None,
    collections: list[ServiceCollection],
    counts: dict[tuple[str, str], EnvironmentCounts],
) -> dict[str, Any]:
    stages = []
    for environment in project.environments:
        visible = [
            c
            for c in collections
            if c.project_id == project.id and c.environment == environment
        ]
        stored = counts.get((project.id, environment), EnvironmentCounts())
        if role is not None:
            totals = (stored.collection_count, stored.resource_count)
        else:
            totals = (len(visible), sum(c.resource_count for c in visible))
        stages.append(
            {
                "name": environment,
                "collectionCount": totals[0],
                "resourceCount": totals[1],
                "collections": [
                    {"name": c.name, "resourceCount": c.resource_count} for c in visible
                ],
            }
        )
    return {"name": project.name, "environments": stages}


def _resource_view(
    resource: ResourceReference, collection_role: Role, principal: Principal
) -> dict[str, Any]:
    grants = ((grant.subject, grant.role) for grant in resource.access)
    my_role = resource_role(collection_role, grants, principal)
    return {
        "id": resource.id,
        "resourceType": resource.resource_type.value,
        "resourceId": resource.resource_id,
        "resourceName": resource.resource_name,
        "tags": [{"key": tag.key, "value": tag.value} for tag in resource.tags],
        "metadata": resource.metadata,
        "access": [
            {"subject": grant.subject, "role": grant.role.value}
            for grant in resource.access
        ],
        "myRole": my_role.value if my_role else None,
        "createdAt": resource.created_at.isoformat(),
        "updatedAt": resource.updated_at.isoformat(),
        "addedBy": resource.added_by,
    }
