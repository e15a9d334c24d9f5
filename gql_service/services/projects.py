"""Projects: creation, the promotion path, permissions and nested counts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bson import ObjectId

from gql_service.domain import validation
from gql_service.domain.models import (
    DEFAULT_ENVIRONMENTS,
    EnvironmentCounts,
    Grant,
    Project,
    ServiceCollection,
    utc_now,
)
from gql_service.domain.roles import Role
from gql_service.errors import (
    BadUserInputError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)
from gql_service.services import grants as grant_rules
from gql_service.services.access import Access
from gql_service.storage.resources import ResourceQuery
from gql_service.storage.store import Store

logger = logging.getLogger(__name__)

# Version-checked writes retry this often before answering CONFLICT.
WRITE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class NewProject:
    name: str
    description: str = ""
    environments: Sequence[str] | None = None
    editors: Sequence[str] = ()
    viewers: Sequence[str] = ()


class ProjectService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, access: Access, new: NewProject) -> Project:
        name = validation.project_name(new.name, "name")
        description = validation.description(new.description)
        path = validation.environment_path(
            list(new.environments) if new.environments is not None
            else list(DEFAULT_ENVIRONMENTS)
        )
        creator = access.principal.subject
        grants = grant_rules.initial_grants(
            creator, editors=new.editors, viewers=new.viewers
        )
        project = _new_project(name, description, path, grants, creator)
        await self._store.projects.insert(project)
        access.forget()
        logger.info("Project created: %s", name)
        return project

    async def create_implicitly(self, access: Access, name: str) -> Project:
        """The project a first collection creates: default path, creator owns."""
        creator = access.principal.subject
        project = _new_project(
            name, "", list(DEFAULT_ENVIRONMENTS), [Grant(creator, Role.OWNER)], creator
        )
        try:
            await self._store.projects.insert(project)
        except ConflictError:
            existing = await self._store.projects.get_by_name(name)
            if existing is None:
                raise
            return existing
        access.forget()
        logger.info("Project created with its first collection: %s", name)
        return project

    async def get_visible(self, access: Access, name: str) -> Project | None:
        project = await self._store.projects.get_by_name(name)
        if project is None or not await access.can_see_project(project):
            return None
        return project

    async def require_owner(self, access: Access, name: str) -> Project:
        project = await self.get_visible(access, validation.project_name(name, "name"))
        if project is None:
            raise NotFoundError(f"No project named {name!r}.")
        role = access.project_role(project)
        if role is not Role.OWNER:
            raise ForbiddenError("This needs the OWNER role on the project.")
        return project

    async def update(
        self,
        access: Access,
        name: str,
        *,
        description: str | None = None,
        environments: Sequence[str] | None = None,
        expected_version: int | None = None,
    ) -> Project:
        project = await self.require_owner(access, name)
        fields: dict[str, object] = {}
        if description is not None:
            fields["description"] = validation.description(description)
        new_path = None
        if environments is not None:
            new_path = validation.environment_path(list(environments))
            fields["environments"] = new_path
        if expected_version is not None and expected_version != project.version:
            raise ConflictError("The project has changed; reload it and retry.")
        if new_path is not None:
            await self._check_droppable(project, new_path)
        fields["updated_at"] = utc_now()

        updated = await self._store.projects.update_checked(
            project.id, project.version, fields
        )
        if updated is None:
            raise ConflictError("The project has changed; reload it and retry.")
        if new_path is not None:
            await self._undo_if_populated(project, updated, new_path)
        return updated

    async def _check_droppable(self, project: Project, new_path: list[str]) -> None:
        dropped = [env for env in project.environments if env not in new_path]
        if not dropped:
            return
        counts = await self._store.counts.for_projects([project.id])
        busy = [
            env for env in dropped
            if counts.get((project.id, env), EnvironmentCounts()).collection_count > 0
        ]
        if busy:
            raise BadUserInputError(
                "Environments that still hold collections cannot be dropped: "
                + ", ".join(busy),
                field="environments",
            )

    async def _undo_if_populated(
        self, before: Project, after: Project, new_path: list[str]
    ) -> None:
        # A collection created while the path changed may have landed in a
        # dropped environment; look again now that the path is written, and
        # put the old path back if so. createCollection checks the other way.
        try:
            await self._check_droppable(before, new_path)
        except BadUserInputError:
            await self._store.projects.update_checked(
                after.id,
                after.version,
                {"environments": before.environments, "updated_at": utc_now()},
            )
            raise

    async def update_permissions(
        self, access: Access, name: str, grant: Sequence[Grant], revoke: Sequence[str]
    ) -> Project:
        project = await self.require_owner(access, name)
        for _attempt in range(WRITE_ATTEMPTS):
            grants = grant_rules.apply_changes(project.grants, grant, revoke)
            updated = await self._store.projects.set_grants_checked(
                project.id, project.version, grants, {"updated_at": utc_now()}
            )
            if updated is not None:
                access.forget()
                logger.info("Project permissions changed: %s", project.name)
                return updated
            reloaded = await self._store.projects.get(project.id)
            if reloaded is None:
                raise NotFoundError(f"No project named {name!r}.")
            project = reloaded
        raise ConflictError("The project kept changing; retry.")

    async def list_visible(
        self, access: Access, after: tuple[str, str] | None, limit: int
    ) -> list[Project]:
        return await self._store.projects.list(await access.project_scope(), after, limit)

    async def count_visible(self, access: Access) -> int:
        return await self._store.projects.count(await access.project_scope())

    async def stage_counts(
        self,
        access: Access,
        project: Project,
        environment: str,
        counters: EnvironmentCounts,
        visible: list[ServiceCollection],
    ) -> tuple[int, int]:
        """Collections and resources of one stage that the principal may read."""
        role = (await access.project_roles()).get(project.id)
        if access.principal.is_admin:
            role = Role.OWNER
        restricted = role is not Role.OWNER and not access.principal.identities.isdisjoint(
            counters.restricted_subjects
        )
        if role is not None and not restricted:
            return counters.collection_count, counters.resource_count
        in_stage = [c for c in visible if c.environment == environment]
        total = 0
        for collection in in_stage:
            total += await self.visible_resource_count(access, collection)
        return len(in_stage), total

    async def visible_resource_count(
        self, access: Access, collection: ServiceCollection
    ) -> int:
        role = await access.collection_role(collection)
        if role is None:
            return 0
        if not access.is_restricted_in(collection, role):
            return collection.resource_count
        return await self._store.resources.count(
            collection.id, ResourceQuery(hidden_from=access.identities)
        )


def _new_project(
    name: str, description: str, path: list[str], grants: list[Grant], creator: str
) -> Project:
    now = utc_now()
    return Project(
        id=str(ObjectId()),
        name=name,
        description=description,
        environments=path,
        grants=grants,
        version=1,
        created_at=now,
        updated_at=now,
        created_by=creator,
    )
