"""Applying grant and revoke lists, with the last-owner guard."""

from __future__ import annotations

from collections.abc import Sequence

from gql_service.domain import validation
from gql_service.domain.models import Grant
from gql_service.domain.roles import Role
from gql_service.errors import BadUserInputError, LastOwnerError


def initial_grants(
    creator: str,
    *,
    owners: Sequence[str] = (),
    editors: Sequence[str] = (),
    viewers: Sequence[str] = (),
) -> list[Grant]:
    """The creator owns; a subject named under two roles is refused."""
    named: dict[str, Role] = {}
    for role, subjects in (
        (Role.OWNER, owners),
        (Role.EDITOR, editors),
        (Role.VIEWER, viewers),
    ):
        for subject in validation.subjects(subjects, role.value.lower() + "s"):
            if subject in named and named[subject] is not role:
                raise BadUserInputError(f"{subject!r} is named under two roles.")
            named[subject] = role
    if creator in named and named[creator] is not Role.OWNER:
        raise BadUserInputError("The creator is always an owner; do not list them.")
    named[creator] = Role.OWNER
    return [Grant(subject, role) for subject, role in named.items()]


def apply_changes(
    current: list[Grant], grant: Sequence[Grant], revoke: Sequence[str]
) -> list[Grant]:
    """Set each granted role, remove each revoked subject, keep at least one owner."""
    granted = [
        Grant(validation.subject(g.subject, "grant.subject"), g.role) for g in grant
    ]
    revoked = validation.subjects(revoke, "revoke")
    granted_subjects = [g.subject for g in granted]
    if len(set(granted_subjects)) != len(granted_subjects):
        raise BadUserInputError("A subject is granted twice in one request.")
    if set(granted_subjects) & set(revoked):
        raise BadUserInputError("A subject is both granted and revoked.")

    changed = {g.subject: g for g in granted}
    result = [
        changed.pop(g.subject, g) for g in current if g.subject not in set(revoked)
    ]
    result.extend(changed.values())

    had_owner = any(g.role is Role.OWNER for g in current)
    if had_owner and not any(g.role is Role.OWNER for g in result):
        raise LastOwnerError("The last owner cannot be removed; add another first.")
    return result
