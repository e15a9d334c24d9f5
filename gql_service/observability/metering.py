"""Database commands and storage time per HTTP request, in response headers.

Only installed when ``GQL_SERVICE_EXPOSE_DB_METRICS`` is on (``make bench``):
the figures tell a client how the service reads its data, which is nobody's
business in production. Each request gets a fresh ``CommandMeter`` in
``current_meter``; every command that ``StoreCollection`` runs inside the
request (DataLoader batches included, as they inherit the context) counts
into it. The headers go out with the response start, which for GraphQL over
HTTP comes after the operation has finished.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql_service.storage.gateway import CommandMeter, current_meter

COMMANDS_HEADER = b"x-db-commands"
SECONDS_HEADER = b"x-db-seconds"


class DatabaseMeteringMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        meter = CommandMeter()
        token = current_meter.set(meter)

        async def send_with_figures(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((COMMANDS_HEADER, str(meter.commands).encode()))
                headers.append((SECONDS_HEADER, f"{meter.seconds:.6f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_figures)
        finally:
            current_meter.reset(token)
