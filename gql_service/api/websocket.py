"""WebSocket protocol handlers: strawberry's, with coded limit errors.

Each operation started on a connection takes a token from its subject's
rate-limit bucket, the same bucket as the subject's HTTP requests. A
subscriber that goes away while an event is being sent to it is an
everyday event, not a fault: it is logged in one line, without traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import (
    BaseGraphQLWSHandler,
)

from gql_service.api.errors import is_clean_text
from gql_service.api.rate_limit import subject_key
from gql_service.errors import RateLimitedError

logger = logging.getLogger(__name__)

LIMIT_ERROR = {
    "message": "Too many subscriptions on this connection.",
    "extensions": {"code": "SUBSCRIPTION_LIMIT_REACHED"},
}
# Refused up front: strawberry would echo the name in a close frame's
# reason, which cannot carry such text.
NAME_ERROR = {
    "message": "operationName must not contain NUL characters or lone surrogates.",
    "extensions": {"code": "BAD_USER_INPUT"},
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
        refusal = self.connection_acknowledged and (
            _rate_limited(self.view, self.context) or _bad_name(message)
        )
        if refusal:
            error: Any = {"id": message["id"], "type": "error", "payload": [refusal]}
            await self.send_message(error)
            return
        await super().handle_subscribe(message)

    async def handle_task_exception(self, error: Exception) -> None:
        if isinstance(error, WebSocketDisconnected):
            logger.info("Subscriber disconnected while an event was being sent")
            return
        await super().handle_task_exception(error)


class LegacyWSHandler(BaseGraphQLWSHandler[Any, Any]):
    async def handle_start(self, message: Any) -> None:
        if self.connection_acknowledged and _over(
            self.max_subscriptions_per_connection, self.tasks, message
        ):
            await self.send_message(
                {"type": "error", "id": message["id"], "payload": LIMIT_ERROR}
            )
            return
        refusal = self.connection_acknowledged and (
            _rate_limited(self.view, self.context) or _bad_name(message)
        )
        if refusal:
            error: Any = {"type": "error", "id": message["id"], "payload": refusal}
            await self.send_message(error)
            return
        await super().handle_start(message)


def _bad_name(message: Any) -> dict[str, Any] | None:
    payload = message.get("payload")
    name = payload.get("operationName") if isinstance(payload, dict) else None
    if isinstance(name, str) and not is_clean_text(name):
        return NAME_ERROR
    return None


def _over(limit: int | None, running: dict[str, Any], message: Any) -> bool:
    """True when a new operation would pass the per-connection limit."""
    is_new = message.get("id") not in running
    return limit is not None and is_new and len(running) >= limit


def _rate_limited(view: Any, context: Any) -> dict[str, Any] | None:
    """The error for an operation over the subject's rate, else None; every
    operation started on a connection counts like an HTTP request."""
    limiter = getattr(view, "rate_limiter", None)
    principal = getattr(context, "principal", None)
    if limiter is None or principal is None:
        return None
    try:
        limiter.check(subject_key(principal.subject))
    except RateLimitedError as exc:
        return {
            "message": exc.message,
            "extensions": {**exc.extensions, "code": exc.code},
        }
    return None
