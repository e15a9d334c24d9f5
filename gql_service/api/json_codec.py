"""JSON for responses: orjson, with the standard library as the fallback.

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


def dumps(data: Any) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)
