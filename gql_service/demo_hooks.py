"""Stand-in receivers for the demo's workflow: Slack, deploy hook, health URL.

Only mounted by ``serve --demo``. They record what they receive (the last
100 calls, in memory) so a newcomer can watch the seed's Production
Deployment run without any outside service: GET /demo/hooks lists them.
"""

from __future__ import annotations

import json
from collections import deque
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MAX_KEPT = 100
MAX_BODY = 64 * 1024


class DemoHooks:
    def __init__(self) -> None:
        self.received: deque[dict[str, Any]] = deque(maxlen=MAX_KEPT)

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            payload: Any = json.loads(body[:MAX_BODY]) if body else None
        except ValueError:
            payload = None
        self.received.append(
            {
                "at": datetime.now(UTC).isoformat(),
                "method": request.method,
                "hook": request.path_params["name"],
                "idempotencyKey": request.headers.get("idempotency-key"),
                "body": payload,
            }
        )
        return JSONResponse({"ok": True})

    async def list(self, _request: Request) -> JSONResponse:
        return JSONResponse({"received": list(self.received)})

    def routes(self) -> list[Route]:
        return [
            Route("/demo/hooks", self.list, methods=["GET"]),
            Route("/demo/hooks/{name:str}", self.receive, methods=["GET", "POST"]),
        ]
