"""WebSocket protocol handlers: strawberry's, with coded limit errors."""

from __future__ import annotations

from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import (
    BaseGraphQLWSHandler,
)

LIMIT_ERROR = {
    "message": "Too many subscriptions on this connection.",
    "extensions": {"code": "SUBSCRIPTION_LIMIT_REACHED"},
}


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged and _over(
            self.max_subscriptions_per_connection, self.operations, message
        ):
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [LIMIT_ERROR]}
            )
            return
        await super().handle_subscribe(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Any, Any]):
    async def handle_start(self, message: Any) -> None:
        if self.connection_acknowledged and _over(
            self.max_subscriptions_per_connection, self.tasks, message
        ):
            await self.send_message(
                {"type": "error", "id": message["id"], "payload": LIMIT_ERROR}
            )
            return
        await super().handle_start(message)


def _over(limit: int | None, running: dict[str, Any], message: Any) -> bool:
    """True when a new operation would pass the per-connection limit."""
    is_new = message.get("id") not in running
    return limit is not None and is_new and len(running) >= limit
