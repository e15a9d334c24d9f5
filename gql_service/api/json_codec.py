"""JSON in and out: requests decoded with a nesting limit, answers encoded
with orjson and the standard library as the fallback.

Decoding refuses nesting deeper than MAX_DEPTH (a GraphQL request has no use
for it, and the json module itself fails with RecursionError near 1,000
levels, which would otherwise surface as a 500).

orjson encodes a large answer several times faster than ``json``; the one
value it refuses that ``json`` takes is an integer beyond 64 bits, which a
resource's metadata may hold, so that answer takes the slow path instead of
failing. The fallback escapes everything beyond ASCII, so even text
orjson refuses for being invalid UTF-8 (a lone surrogate) still encodes.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import JSONResponse

MAX_DEPTH = 64


def loads(data: str | bytes) -> Any:
    """Decode JSON text; JSONDecodeError (a ValueError) when it is not JSON or
    is nested too deeply, which is what strawberry's WebSocket reader catches.
    """
    try:
        value = json.loads(data)
    except json.JSONDecodeError:
        raise
    except RecursionError as exc:
        raise _not_json(data, f"nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        # Text that is not UTF-8, or a number of more than 4,300 digits.
        raise _not_json(data, "not acceptable JSON") from exc
    if not within_depth(value, MAX_DEPTH):
        raise _not_json(data, f"nested deeper than {MAX_DEPTH} levels")
    return value


def _not_json(data: str | bytes, why: str) -> json.JSONDecodeError:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    return json.JSONDecodeError(why, text, 0)


def within_depth(value: Any, limit: int) -> bool:
    """True when no object or array in ``value`` lies deeper than ``limit``."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        pending.extend((child, depth + 1) for child in children)
    return True


def dumps(data: Any) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)
