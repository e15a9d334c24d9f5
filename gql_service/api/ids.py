"""Opaque global ids and page cursors.

A global id is base64url("<TypeName>:<object id>"); a cursor is
base64url(JSON) tagged with the feed it belongs to, so a cursor of one
list is refused by another instead of silently paging wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from bson import ObjectId

from gql_service.errors import BadUserInputError

NODE_TYPES = frozenset(
    {
        "Project",
        "ServiceCollection",
        "ResourceReference",
        "Promotion",
        "Event",
        "WorkflowDefinition",
        "WorkflowRun",
    }
)
# Events are numbered by their cursor; everything else has an ObjectId.
NUMBERED_TYPES = frozenset({"Event"})


def encode_id(type_name: str, object_id: str) -> str:
    raw = f"{type_name}:{object_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(value: str) -> bytes:
    padded = value + "=" * (-len(value) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def decode_any_id(global_id: str, field: str = "id") -> tuple[str, str]:
    """(type name, object id) of a global id; BAD_USER_INPUT if malformed."""
    try:
        type_name, _, object_id = _b64decode(global_id).decode().partition(":")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadUserInputError(f"{field} is not a valid id.", field=field) from exc
    if type_name in NUMBERED_TYPES:
        valid = object_id.isdigit() and 0 < len(object_id) < 19
    else:
        valid = type_name in NODE_TYPES and ObjectId.is_valid(object_id)
    if not valid:
        raise BadUserInputError(f"{field} is not a valid id.", field=field)
    return type_name, object_id


def decode_id(global_id: str, expected: str, field: str = "id") -> str:
    type_name, object_id = decode_any_id(global_id, field)
    if type_name != expected:
        raise BadUserInputError(
            f"{field} is the id of a {type_name}, not of a {expected}.", field=field
        )
    return object_id


def encode_cursor(feed: str, *values: Any) -> str:
    raw = json.dumps([feed, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, feed: str, arity: int) -> list[Any]:
    try:
        values = json.loads(_b64decode(cursor))
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadUserInputError("after is not a valid cursor.", field="after") from exc
    if (
        not isinstance(values, list)
        or len(values) != arity + 1
        or values[0] != feed
        or not all(isinstance(v, str) for v in values[1:])
        or not ObjectId.is_valid(values[-1])
    ):
        raise BadUserInputError("after is not a cursor of this list.", field="after")
    return values[1:]


def page_size(first: int | None, default: int, field: str = "first") -> int:
    if first is None:
        return default
    if not 1 <= first <= 100:
        raise BadUserInputError(f"{field} must be between 1 and 100.", field=field)
    return first


def encode_event_cursor(seq: int) -> str:
    return encode_cursor("event", str(seq))


def decode_event_cursor(cursor: str, field: str = "after") -> int:
    try:
        values = json.loads(_b64decode(cursor))
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadUserInputError(f"{field} is not a valid cursor.", field=field) from exc
    if (
        not isinstance(values, list)
        or len(values) != 2
        or values[0] != "event"
        or not isinstance(values[1], str)
        or not values[1].isdigit()
        or len(values[1]) > 18
    ):
        raise BadUserInputError(f"{field} is not an event cursor.", field=field)
    return int(values[1])
