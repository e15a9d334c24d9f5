"""DateTime: always serialized in UTC; input without an offset is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry

from gql_service.errors import BadUserInputError


def _serialize_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise BadUserInputError("A DateTime must be an ISO-8601 string.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadUserInputError(f"{value!r} is not an ISO-8601 date-time.") from exc
    if parsed.tzinfo is None:
        raise BadUserInputError("A DateTime needs a UTC offset, such as +00:00 or Z.")
    return parsed.astimezone(UTC)


DateTime = strawberry.scalar(
    name="DateTime",
    description=(
        "ISO-8601 date-time with a UTC offset "
        '("2026-12-04T15:11:30.123000+00:00"); input without an offset is refused.'
    ),
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)
