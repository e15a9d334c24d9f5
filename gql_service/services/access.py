"""What one principal may see and do, loaded once per request."""

from __future__ import annotations

from typing import Any

from gql_service.auth.principal import Principal
from gql_service.domain.models import Project, ResourceReference, ServiceCollection
from gql_service.domain.roles import Role, highest, resource_role, role_in
from gql_service.errors import ForbiddenError, NotFoundError
from gql_service.storage import events as event_storage
from gql_service.storage import projects as project_storage
from gql_service.storage import promotions as promotion_storage
from gql_service.storage import service_collections as collection_storage
from gql_service.storage.store import Store


class Access:
    """A principal's roles, cached for the request that asks."""

    def __init__(self, principal: Principal, store: Store) -> None:
        self.principal = principal
        self._store = store
        self._project_roles: dict[str, Role] | None = None
        self._visible_project_ids: list[str] | None = None
        self._granted_collections: list[tuple[str, str]] | None = None

    @property
    def identities(self) -> list[str]:
        return sorted(self.principal.identities)

    def forget(self) -> None:
        """Drop cached roles after a change to grants."""
        self._project_roles = None
        self._visible_project_ids = None
        self._granted_collections = None

    async def project_roles(self) -> dict[str, Role]:
        if self._project_roles is None:
            projects = await self._store.projects.member_projects(self.identities)
            self._project_roles = {
                p.id: role
                for p in projects
                if (
                    role := role_in(
                        ((g.subject, g.role) for g in p.grants), self.principal
                    )
                )
            }
        return self._project_roles

    def project_role(self, project: Project) -> Role | None:
        if self.principal.is_admin:
            return Role.OWNER
        return role_in(((g.subject, g.role) for g in project.grants), self.principal)

    async def collection_role(self, collection: ServiceCollection) -> Role | None:
        if self.principal.is_admin:
            return Role.OWNER
        project_role = (await self.project_roles()).get(collection.project_id)
        own = role_in(((g.subject, g.role) for g in collection.grants), self.principal)
        return highest([project_role, own])

    async def resource_role(
        self, collection: ServiceCollection, resource: ResourceReference
    ) -> Role | None:
        return self.resource_role_under(
            await self.collection_role(collection), resource
        )

    def resource_role_under(
        self, collection_role: Role | None, resource: ResourceReference
    ) -> Role | None:
        """The role on ``resource`` for one who has ``collection_role`` above it."""
        grants = ((grant.subject, grant.role) for grant in resource.access)
        return resource_role(collection_role, grants, self.principal)

    async def require_collection(
        self, collection: ServiceCollection | None, needed: Role
    ) -> tuple[ServiceCollection, Role]:
        """NOT_FOUND for what the principal cannot read, FORBIDDEN below ``needed``."""
        role = await self.collection_role(collection) if collection else None
        if collection is None or role is None:
            raise NotFoundError("No such collection.")
        if not role.at_least(needed):
            raise ForbiddenError(
                f"This needs the {needed.value} role on the collection; "
                f"you have {role.value}."
            )
        return collection, role

    async def collection_scope(self) -> dict[str, Any]:
        if self.principal.is_admin:
            return {}
        members = list(await self.project_roles())
        return collection_storage.scope_filter(members, self.identities)

    async def visible_project_ids(self) -> list[str] | None:
        """Projects with a role or a readable collection; None for admins."""
        if self.principal.is_admin:
            return None
        if self._visible_project_ids is None:
            members = set(await self.project_roles())
            granted = {pid for _cid, pid in await self.granted()}
            self._visible_project_ids = sorted(members | granted)
        return self._visible_project_ids

    async def project_scope(self) -> dict[str, Any]:
        return project_storage.scope_filter(await self.visible_project_ids())

    async def can_see_project(self, project: Project) -> bool:
        visible = await self.visible_project_ids()
        return visible is None or project.id in visible

    async def promotion_scope(self) -> dict[str, Any]:
        if self.principal.is_admin:
            return {}
        members = list(await self.project_roles())
        granted = [cid for cid, _pid in await self.granted()]
        return promotion_storage.scope_filter(members, granted, self.identities)

    async def event_scope(self) -> dict[str, Any]:
        """Events of member projects, readable collections
        and deleted ones read before."""
        if self.principal.is_admin:
            return {}
        members = list(await self.project_roles())
        granted = [cid for cid, _pid in await self.granted()]
        deleted = await self._store.tombstones.readable_ids(self.identities)
        return event_storage.scope_filter(members, granted + deleted)

    async def granted(self) -> list[tuple[str, str]]:
        if self._granted_collections is None:
            self._granted_collections = await self._store.collections.granted(
                self.identities
            )
        return self._granted_collections

    def is_restricted_in(self, collection: ServiceCollection, role: Role) -> bool:
        """True when some resource of the collection may be hidden from us."""
        if role is Role.OWNER:
            return False
        return not self.principal.identities.isdisjoint(collection.restricted_subjects)
