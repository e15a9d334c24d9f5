"""Who may read an event: the rules of the audit log and the live feed."""

from __future__ import annotations

from dataclasses import dataclass

from gql_service.auth.principal import Principal
from gql_service.domain.models import Grant
from gql_service.domain.roles import Role, highest, role_in
from gql_service.events.model import Event


@dataclass(frozen=True, slots=True)
class CollectionState:
    """A collection's grants now, or the readers it had when it was deleted."""

    grants: tuple[Grant, ...] = ()
    deleted_readers: frozenset[str] | None = None


def can_read_event(
    principal: Principal,
    event: Event,
    project_grants: tuple[Grant, ...],
    collection: CollectionState | None,
) -> bool:
    """Project members read everything of the project; others what they can read.

    Events of a deleted collection stay readable by whoever could read the
    collection when it was deleted.
    """
    if principal.is_admin:
        return True
    role = role_in(((g.subject, g.role) for g in project_grants), principal)
    if event.collection_id is None:
        return role is not None
    if collection is not None and collection.deleted_readers is None:
        own = role_in(((g.subject, g.role) for g in collection.grants), principal)
        role = highest([role, own])
    elif (
        collection is not None
        and role is None
        and not principal.identities.isdisjoint(collection.deleted_readers or ())
    ):
        role = Role.VIEWER
    if role is None:
        return False
    return role is Role.OWNER or not _hidden_resource(principal, event)


def _hidden_resource(principal: Principal, event: Event) -> bool:
    if not event.resource:
        return False
    hidden = event.resource.get("hidden_for") or []
    return not principal.identities.isdisjoint(hidden)
