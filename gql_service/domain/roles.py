"""Roles and how they combine: project -> collection -> resource."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from gql_service.auth.principal import Principal


class Role(StrEnum):
    VIEWER = "VIEWER"
    EDITOR = "EDITOR"
    OWNER = "OWNER"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


class ResourceRole(StrEnum):
    EDITOR = "EDITOR"
    VIEWER = "VIEWER"
    NONE = "NONE"


def highest(roles: Iterable[Role | None]) -> Role | None:
    best: Role | None = None
    for role in roles:
        if role is not None and (best is None or role.rank > best.rank):
            best = role
    return best


def role_in(grants: Iterable[tuple[str, Role]], principal: Principal) -> Role | None:
    """The highest role that ``grants`` give any identity of the principal."""
    return highest(role for subject, role in grants if subject in principal.identities)


def resource_role(
    collection_role: Role | None,
    grants: Iterable[tuple[str, ResourceRole]],
    principal: Principal,
) -> Role | None:
    """The principal's role on one resource; None hides it.

    Resource grants only adjust the role of someone who can read the
    collection. Owners are never lowered. Among the principal's own resource
    grants (direct and through groups) NONE wins, so a deny cannot be undone
    by another group membership; otherwise the highest applies.
    """
    if collection_role is None:
        return None
    if collection_role is Role.OWNER:
        return Role.OWNER
    mine = [role for subject, role in grants if subject in principal.identities]
    if not mine:
        return collection_role
    if ResourceRole.NONE in mine:
        return None
    if ResourceRole.EDITOR in mine:
        return Role.EDITOR
    return Role.VIEWER
