"""Input rules shared by every mutation; each failure is BAD_USER_INPUT."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from gql_service.auth.principal import GROUP_PREFIX
from gql_service.domain.models import Tag
from gql_service.errors import BadUserInputError

# `\Z`, not `$`: `$` also matches before a trailing newline.
PROJECT_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
ENVIRONMENT_SLUG = PROJECT_SLUG
COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z")

MAX_DESCRIPTION = 2000
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_SUBJECT = 320
MAX_GRANTS = 200
MAX_RESOURCE_ID = 128
MAX_RESOURCE_NAME = 255
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 20
MAX_ENVIRONMENTS = 20
MAX_REASON = 1000


def check_text(value: str, field: str, *, max_length: int, min_length: int = 0) -> str:
    """Refuse NUL, lone surrogates and lengths outside the bounds."""
    if "\x00" in value:
        raise BadUserInputError(
            f"{field} must not contain NUL characters.", field=field
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadUserInputError(
            f"{field} contains a lone surrogate; send valid Unicode.", field=field
        ) from exc
    if not min_length <= len(value) <= max_length:
        raise BadUserInputError(
            f"{field} must be {min_length}-{max_length} characters long.", field=field
        )
    return value


def _check_pattern(value: str, field: str, pattern: re.Pattern[str], rule: str) -> str:
    check_text(value, field, max_length=200)
    if not pattern.match(value):
        raise BadUserInputError(f"{field} {value!r} is not valid: {rule}.", field=field)
    return value


def project_name(value: str, field: str = "project") -> str:
    rule = "1-63 lowercase letters, digits and '-', starting with a letter or digit"
    return _check_pattern(value, field, PROJECT_SLUG, rule)


def environment_name(value: str, field: str = "environment") -> str:
    rule = "1-63 lowercase letters, digits and '-', starting with a letter or digit"
    return _check_pattern(value, field, ENVIRONMENT_SLUG, rule)


def collection_name(value: str, field: str = "name") -> str:
    rule = (
        "1-100 ASCII letters, digits, '.', '_' and '-', starting with a letter or digit"
    )
    return _check_pattern(value, field, COLLECTION_NAME, rule)


def region(value: str | None, field: str = "region") -> str | None:
    if value is None:
        return None
    rule = "a Vultr region id such as 'ewr': 1-32 lowercase letters, digits and '-'"
    return _check_pattern(value, field, REGION, rule)


def description(value: str, field: str = "description") -> str:
    return check_text(value, field, max_length=MAX_DESCRIPTION)


def environment_path(values: Sequence[str], field: str = "environments") -> list[str]:
    if not values:
        raise BadUserInputError(
            "A project needs at least one environment.", field=field
        )
    if len(values) > MAX_ENVIRONMENTS:
        raise BadUserInputError(
            f"A project may have at most {MAX_ENVIRONMENTS} environments.", field=field
        )
    path = [environment_name(value, field) for value in values]
    if len(set(path)) != len(path):
        raise BadUserInputError("Environments must not repeat.", field=field)
    return path


def tags(values: Iterable[tuple[str, str]], field: str = "tags") -> list[Tag]:
    result: list[Tag] = []
    seen: set[str] = set()
    for key, value in values:
        check_text(key, f"{field}.key", min_length=1, max_length=MAX_TAG_KEY)
        check_text(value, f"{field}.value", max_length=MAX_TAG_VALUE)
        if key in seen:
            raise BadUserInputError(f"Tag key {key!r} is given twice.", field=field)
        seen.add(key)
        result.append(Tag(key, value))
    if len(result) > MAX_TAGS:
        raise BadUserInputError(f"At most {MAX_TAGS} tags are allowed.", field=field)
    return result


def subject(value: str, field: str = "subject") -> str:
    check_text(value, field, min_length=1, max_length=MAX_SUBJECT)
    if value != value.strip():
        raise BadUserInputError(
            f"{field} must not start or end with white space.", field=field
        )
    if value.startswith(GROUP_PREFIX) and len(value) == len(GROUP_PREFIX):
        raise BadUserInputError(f"{field} names an empty group.", field=field)
    return value


def subjects(values: Iterable[str], field: str) -> list[str]:
    result = [subject(value, field) for value in values]
    if len(result) > MAX_GRANTS:
        raise BadUserInputError(f"At most {MAX_GRANTS} subjects at once.", field=field)
    return result


def resource_id(value: str, field: str = "resourceId") -> str:
    check_text(value, field, min_length=1, max_length=MAX_RESOURCE_ID)
    if value != value.strip():
        raise BadUserInputError(
            f"{field} must not start or end with white space.", field=field
        )
    return value


def resource_name(value: str | None, field: str = "resourceName") -> str | None:
    if value is None:
        return None
    return check_text(value, field, max_length=MAX_RESOURCE_NAME)


def metadata(value: Any, field: str = "metadata") -> dict[str, Any]:
    """A JSON object of at most 16 KiB whose keys are never Mongo operators."""
    if not isinstance(value, dict):
        raise BadUserInputError(f"{field} must be a JSON object.", field=field)
    _check_json(value, field, depth=0)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise BadUserInputError(
            f"{field} is {size} bytes; the limit is {MAX_METADATA_BYTES}.", field=field
        )
    return value


def _check_json(value: Any, field: str, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise BadUserInputError(f"{field} is nested too deeply.", field=field)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise BadUserInputError(f"{field} keys must be strings.", field=field)
            check_text(key, f"{field} key", max_length=MAX_TAG_VALUE)
            if key.startswith("$"):
                raise BadUserInputError(
                    f"{field} key {key!r} must not start with '$'.", field=field
                )
            _check_json(item, field, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, field, depth + 1)
    elif isinstance(value, str):
        check_text(value, field, max_length=MAX_METADATA_BYTES)
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadUserInputError(
            f"{field} must not contain NaN or Infinity.", field=field
        )


def reason(value: str | None, field: str = "reason") -> str | None:
    if value is None:
        return None
    return check_text(value, field, max_length=MAX_REASON)
