"""WebSocket protocol handlers: strawberry's, with coded limit errors.

Each operation started on a connection takes a token from its subject's
rate-limit bucket, the same bucket as the subject's HTTP requests. A
subscriber that goes away while an event is being sent to it is an
everyday event, not a fault: it is logged in one line, without traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import (
    BaseGraphQLWSHandler,
)

from gql_service.api.errors import operation_name_problem
from gql_service.api.rate_limit import subject_key
from gql_service.errors import RateLimitedError

logger = logging.getLogger(__name__)

LIMIT_ERROR = {
    "message": "Too many subscriptions on this connection.",
    "extensions": {"code": "SUBSCRIPTION_LIMIT_REACHED"},
}
# A close frame's reason holds at most 123 bytes of UTF-8.
MAX_CLOSE_REASON = 123


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        # Strawberry closes with 4400 and a syntax error's message or the
        # unknown operation's name as the reason: keep it sendable.
        reason = BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)
        return None if reason is None else close_reason(reason)

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged and not isinstance(
            message.get("payload"), dict
        ):
            await self.handle_invalid_message("A subscribe message needs a payload.")
            return
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
    async def handle_connection_init(self, message: Any) -> None:
        # Strawberry would authenticate a second connection_init and swap
        # the connection's principal under running subscriptions; the newer
        # protocol refuses it too (4429).
        if self.connection_acknowledged:
            await self.websocket.close(
                code=4429, reason="Too many initialisation requests"
            )
            return
        await super().handle_connection_init(message)

    async def handle_start(self, message: Any) -> None:
        if self.connection_acknowledged and not isinstance(
            message.get("payload"), dict
        ):
            error: Any = {"type": "error", "id": message.get("id"), "payload": PAYLOAD}
            await self.send_message(error)
            return
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
            error = {"type": "error", "id": message["id"], "payload": refusal}
            await self.send_message(error)
            return
        await super().handle_start(message)


PAYLOAD = {
    "message": "A start message needs a payload object.",
    "extensions": {"code": "BAD_USER_INPUT"},
}


def _bad_name(message: Any) -> dict[str, Any] | None:
    """BAD_USER_INPUT for an operationName that is not text we accept."""
    problem = operation_name_problem(message["payload"].get("operationName"))
    if problem is None:
        return None
    return {"message": problem, "extensions": {"code": "BAD_USER_INPUT"}}


def close_reason(text: str) -> str:
    """``text`` cut to what a close frame can carry, on a character boundary."""
    data = text.encode("utf-8", "replace")
    if len(data) <= MAX_CLOSE_REASON:
        return data.decode("utf-8")
    return data[: MAX_CLOSE_REASON - 3].decode("utf-8", "ignore") + "..."


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
