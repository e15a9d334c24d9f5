"""Small shared GraphQL shapes: tags, grants, page info, the viewer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from gql_service.domain import models
from gql_service.domain.roles import Role

Counter = Callable[[], Awaitable[int]]


@strawberry.type
class Counted:
    """A page of a list whose total is counted only when a client asks."""

    counter: strawberry.Private[Counter]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Tag:
    key: str
    value: str

    @classmethod
    def many(cls, tags: list[models.Tag]) -> list[Tag]:
        return [cls(key=tag.key, value=tag.value) for tag in tags]


@strawberry.input
class TagInput:
    key: str
    value: str


@strawberry.type(
    description=(
        "A role held by a subject: a user id (the token's `sub`) or `group:<name>`."
    )
)
class Grant:
    subject: str
    role: Role


@strawberry.input
class GrantInput:
    subject: str
    role: Role

    def to_model(self) -> models.Grant:
        return models.Grant(self.subject, Role(self.role))


@strawberry.type(
    description="Who is asking, as the service understood the bearer token."
)
class Viewer:
    subject: str
    groups: list[str]
    is_admin: bool


@strawberry.type(
    description=(
        "A change to one field, as recorded in the audit log and promotion diffs."
    )
)
class FieldChange:
    field: str
    before: strawberry.scalars.JSON | None
    after: strawberry.scalars.JSON | None

    @classmethod
    def many(cls, changes: list[models.FieldChange]) -> list[FieldChange]:
        return [cls(field=c.field, before=c.before, after=c.after) for c in changes]


def page_info(cursors: list[str], has_next: bool, after: str | None) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


def tag_pairs(tags: list[TagInput] | None) -> list[tuple[str, str]]:
    return [(tag.key, tag.value) for tag in tags or []]
