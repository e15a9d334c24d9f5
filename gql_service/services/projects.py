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
    Protection,
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
from gql_service.events.log import EventLog
from gql_service.events.model import EventType, NewEvent
from gql_service.services import grants as grant_rules
from gql_service.services.access import Access
from gql_service.services.recording import diff, grant_values, project_event
from gql_service.storage.documents import (
    grants_to_doc,
    object_id,
    project_from_doc,
    project_to_doc,
    protections_to_doc,
)
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
    def __init__(self, store: Store, log: EventLog) -> None:
        self._store = store
        self._log = log

    async def create(self, access: Access, new: NewProject) -> Project:
        name = validation.project_name(new.name, "name")
        description = validation.description(new.description)
        path = validation.environment_path(
            list(new.environments)
            if new.environments is not None
            else list(DEFAULT_ENVIRONMENTS)
        )
        creator = access.principal.subject
        grants = grant_rules.initial_grants(
            creator, editors=new.editors, viewers=new.viewers
        )
        project = await self._insert(
            access, _new_project(name, description, path, grants, creator)
        )
        logger.info("Project created: %s", name)
        return project

    async def create_implicitly(self, access: Access, name: str) -> Project:
        """The project a first collection creates: default path, creator owns."""
        creator = access.principal.subject
        project = _new_project(
            name, "", list(DEFAULT_ENVIRONMENTS), [Grant(creator, Role.OWNER)], creator
        )
        try:
            await self._insert(access, project)
        except ConflictError:
            existing = await self._store.projects.get_by_name(name)
            if existing is None:
                raise
            return existing
        logger.info("Project created with its first collection: %s", name)
        return project

    async def _insert(self, access: Access, project: Project) -> Project:
        changes = [
            *diff("name", None, project.name),
            *diff("environments", None, project.environments),
            *diff("grants", None, grant_values(project.grants)),
        ]
        event = project_event(
            EventType.PROJECT_CREATED,
            access.principal.subject,
            project,
            {"kind": "insert_project", "doc": project_to_doc(project)},
            changes,
        )
        await self._log.execute([event])
        access.forget()
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
        if access.project_role(project) is not Role.OWNER:
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
        if description is not None:
            description = validation.description(description)
        path = None
        if environments is not None:
            path = validation.environment_path(list(environments))
        for _attempt in range(WRITE_ATTEMPTS):
            if expected_version is not None and expected_version != project.version:
                raise ConflictError(
                    "The project has changed; reload it and retry.",
                    currentVersion=project.version,
                )
            event = self._update_event(access, project, description, path)
            try:
                outcome = await self._log.execute([event])
            except ConflictError:
                if expected_version is not None:
                    raise
                project = await self._reload(project)
                continue
            return project_from_doc(outcome.value["project"])
        raise ConflictError("The project kept changing; retry.")

    def _update_event(
        self,
        access: Access,
        project: Project,
        description: str | None,
        path: list[str] | None,
    ) -> NewEvent:
        fields: dict[str, object] = {"updated_at": utc_now()}
        changes = []
        if description is not None:
            fields["description"] = description
            changes += diff("description", project.description, description)
        dropped: list[str] = []
        if path is not None:
            fields["environments"] = path
            changes += diff("environments", project.environments, path)
            dropped = [env for env in project.environments if env not in path]
        operation = {
            "kind": "update_project",
            "project_id": object_id(project.id),
            "version": project.version,
            "fields": fields,
            "dropped": dropped,
            "previous_environments": project.environments,
        }
        return project_event(
            EventType.PROJECT_UPDATED,
            access.principal.subject,
            project,
            operation,
            changes,
        )

    async def _reload(self, project: Project) -> Project:
        reloaded = await self._store.projects.get(project.id)
        if reloaded is None:
            raise NotFoundError(f"No project named {project.name!r}.")
        return reloaded

    async def update_permissions(
        self, access: Access, name: str, grant: Sequence[Grant], revoke: Sequence[str]
    ) -> Project:
        project = await self.require_owner(access, name)
        for _attempt in range(WRITE_ATTEMPTS):
            grants = grant_rules.apply_changes(project.grants, grant, revoke)
            operation = {
                "kind": "update_project",
                "project_id": object_id(project.id),
                "version": project.version,
                "fields": {"grants": grants_to_doc(grants), "updated_at": utc_now()},
            }
            changes = diff("grants", grant_values(project.grants), grant_values(grants))
            event = project_event(
                EventType.PERMISSIONS_CHANGED,
                access.principal.subject,
                project,
                operation,
                changes,
            )
            try:
                outcome = await self._log.execute([event])
            except ConflictError:
                project = await self._reload(project)
                continue
            access.forget()
            logger.info("Project permissions changed: %s", project.name)
            return project_from_doc(outcome.value["project"])
        raise ConflictError("The project kept changing; retry.")

    async def set_protection(
        self,
        access: Access,
        name: str,
        environment: str,
        protection: Protection | None,
    ) -> Project:
        project = await self.require_owner(access, name)
        environment = validation.environment_name(environment)
        if environment not in project.environments:
            raise BadUserInputError(
                f"Environment {environment!r} is not on the path of {project.name!r}; "
                f"valid: {', '.join(project.environments)}.",
                field="environment",
            )
        if protection is not None:
            protection = _check_protection(protection)
        for _attempt in range(WRITE_ATTEMPTS):
            protections = dict(project.protections)
            before = protections.get(environment)
            if protection is None:
                protections.pop(environment, None)
            else:
                protections[environment] = protection
            operation = {
                "kind": "update_project",
                "project_id": object_id(project.id),
                "version": project.version,
                "fields": {
                    "protections": protections_to_doc(protections),
                    "updated_at": utc_now(),
                },
            }
            changes = diff(
                f"protection.{environment}",
                protections_to_doc({environment: before})[0] if before else None,
                protections_to_doc({environment: protection})[0]
                if protection
                else None,
            )
            event = project_event(
                EventType.PROJECT_UPDATED,
                access.principal.subject,
                project,
                operation,
                changes,
            )
            try:
                outcome = await self._log.execute([event])
            except ConflictError:
                project = await self._reload(project)
                continue
            return project_from_doc(outcome.value["project"])
        raise ConflictError("The project kept changing; retry.")

    async def list_visible(
        self, access: Access, after: tuple[str, str] | None, limit: int
    ) -> list[Project]:
        return await self._store.projects.list(
            await access.project_scope(), after, limit
        )

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
        restricted = (
            role is not Role.OWNER
            and not access.principal.identities.isdisjoint(counters.restricted_subjects)
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


def _check_protection(protection: Protection) -> Protection:
    approvers = validation.subjects(protection.approvers, "protection.approvers")
    if not approvers:
        raise BadUserInputError(
            "A protection needs at least one approver.", field="protection.approvers"
        )
    if len(set(approvers)) != len(approvers):
        raise BadUserInputError(
            "An approver is listed twice.", field="protection.approvers"
        )
    if not 1 <= protection.required_approvals <= len(approvers):
        raise BadUserInputError(
            f"requiredApprovals must be between 1 and {len(approvers)}.",
            field="protection.requiredApprovals",
        )
    return Protection(
        tuple(approvers), protection.required_approvals, protection.prevent_self_review
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
