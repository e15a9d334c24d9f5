"""Who is asking: the subject of a verified bearer token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

GROUP_PREFIX = "group:"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    groups: tuple[str, ...] = ()
    is_admin: bool = False
    # When the token runs out; long-lived subscriptions stop delivering then.
    expires_at: datetime | None = field(default=None, compare=False)
    # Every name a grant may use for this principal: itself and its groups.
    identities: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = {self.subject, *(GROUP_PREFIX + group for group in self.groups)}
        object.__setattr__(self, "identities", frozenset(names))
