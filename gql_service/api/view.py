"""The HTTP and WebSocket endpoint at /graphql.

Requests that are not GraphQL at all (malformed JSON, no query, a mutation
over GET, a batch, an unsupported content type) get a 4xx answer whose body
is still GraphQL-shaped JSON, so clients can read ``extensions.code``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import (
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
)
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from gql_service.api.context import Context
from gql_service.api.errors import operation_name_problem
from gql_service.api.http_security import playground_csp
from gql_service.api.json_codec import FastJSONResponse, dumps, loads
from gql_service.api.pages import PLAYGROUND_HTML
from gql_service.api.rate_limit import RateLimiter, address_key, subject_key
from gql_service.api.websocket import LegacyWSHandler, TransportWSHandler
from gql_service.auth.principal import Principal
from gql_service.auth.tokens import TokenVerifier, bearer_token
from gql_service.errors import (
    HTTP_STATUS_CODES,
    RateLimitedError,
    ServiceError,
    UnauthenticatedError,
)
from gql_service.observability.metrics import note_operation
from gql_service.services.registry import Services

logger = logging.getLogger(__name__)

BODY_TOO_LARGE = "The request body is too large."
SUBSCRIPTION_OVER_HTTP = (
    "Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql."
)


def error_response(
    status: int,
    message: str,
    code: str,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    extensions = {**(extensions or {}), "code": code}
    body = {"errors": [{"message": message, "extensions": extensions}]}
    return FastJSONResponse(body, status_code=status, headers=headers)


def rate_limited_response(exc: RateLimitedError) -> JSONResponse:
    retry = str(exc.extensions["retryAfterSeconds"])
    return error_response(
        429, exc.message, exc.code, {"Retry-After": retry}, exc.extensions
    )


def capped_receive(receive: Receive, max_bytes: int) -> Receive:
    """Counts the body as it arrives, whatever Content-Length claimed (or
    with chunked encoding), and refuses it once past ``max_bytes``."""
    received = 0

    async def receive_capped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise HTTPException(413, BODY_TOO_LARGE)
        return message

    return receive_capped


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        schema: BaseSchema,
        services: Services,
        verifier: TokenVerifier,
        *,
        max_body_bytes: int,
        graphql_ide: str | None = "graphiql",
        rate_limiter: RateLimiter | None = None,
        **options: Any,
    ) -> None:
        super().__init__(schema, graphql_ide=graphql_ide, **options)  # type: ignore[arg-type]
        self.services = services
        self.verifier = verifier
        self.max_body_bytes = max_body_bytes
        self.rate_limiter = rate_limiter or RateLimiter(rate=0, burst=1)
        self.playground_policy = playground_csp(PLAYGROUND_HTML)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=capped_receive(receive, self.max_body_bytes))
        try:
            response = await self.run(request)
        except RateLimitedError as exc:
            response = rate_limited_response(exc)
        except HTTPException as exc:
            response = error_response(
                exc.status_code,
                exc.reason,
                HTTP_STATUS_CODES.get(exc.status_code, "BAD_REQUEST"),
            )
        except UnauthenticatedError as exc:
            response = error_response(
                401,
                exc.message,
                exc.code,
                {"WWW-Authenticate": 'Bearer realm="graphql"'},
            )
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        # Our own page on vendored files, not strawberry's CDN-loading one.
        response = HTMLResponse(PLAYGROUND_HTML)
        response.headers["Content-Security-Policy"] = self.playground_policy
        return response

    def rate_key(self, request: Request, context: Context) -> str:
        if context.principal is not None:
            return subject_key(context.principal.subject)
        return address_key(request.client.host if request.client else None)

    async def authenticate(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        if token is None:
            raise UnauthenticatedError("A bearer token is required.")
        return await self.verifier.verify(token)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(self.services, None, request=request, response=response)
        if isinstance(request, Request):
            try:
                context.principal = await self.authenticate(
                    request.headers.get("authorization")
                )
            except ServiceError as exc:
                context.auth_error = exc
        return context

    async def on_ws_connect(self, context: Context) -> Any:
        """Authenticate a WebSocket from its connection_init payload."""
        params = getattr(context, "connection_params", None) or {}
        header = params.get("Authorization") or params.get("authorization")
        try:
            if not isinstance(header, str):
                raise UnauthenticatedError(
                    "connection_init needs an Authorization entry."
                )
            context.principal = await self.authenticate(header)
        except ServiceError as exc:
            logger.info("WebSocket connection refused: %s", exc.code)
            raise ConnectionRejectionError(
                {"message": exc.message, "code": exc.code}
            ) from exc
        return UNSET

    async def execute_operation(  # type: ignore[override]
        self,
        request: Request,
        request_adapter: Any,
        request_data: Any,
        context: Context,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        note_operation(request_data.operation_name)
        self.rate_limiter.check(self.rate_key(request, context))
        if context.auth_error is not None:
            raise context.auth_error
        return await super().execute_operation(
            request=request,
            request_adapter=request_adapter,
            request_data=request_data,
            context=context,
            root_value=root_value,
            sub_response=sub_response,
        )

    async def execute_single(  # type: ignore[override]
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: Any,
    ) -> Any:
        # A subscription answered as one JSON result would run as a query;
        # they stream over WebSocket (or a streaming HTTP transport).
        allowed = OperationType.from_http(request_adapter.method) - {
            OperationType.SUBSCRIPTION
        }
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.SUBSCRIPTION:
                status = 405 if request_adapter.method == "GET" else 400
                raise HTTPException(status, SUBSCRIPTION_OVER_HTTP) from exc
            if request_adapter.method == "GET":
                raise HTTPException(
                    405, "Only queries are allowed over GET; use POST."
                ) from exc
            raise HTTPException(400, exc.as_http_error_reason("POST")) from exc
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request.") from exc

    async def parse_http_body(self, request: Any) -> Any:
        if request.method == "POST":
            content_type = (request.content_type or "").split(";")[0].strip().lower()
            if content_type not in {"application/json", "application/graphql"}:
                raise HTTPException(
                    415,
                    "Send the operation as application/json "
                    "(or the bare query as application/graphql).",
                )
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > self.max_body_bytes:
                raise HTTPException(413, BODY_TOO_LARGE)
            if content_type == "application/graphql":
                # The body is the document; the operation may be named in
                # the URL, as GET requests name it.
                name = request.query_params.get("operationName") or None
                if problem := operation_name_problem(name):
                    raise HTTPException(400, problem)
                return GraphQLRequestData(
                    query=decode_text(await request.get_body()),
                    variables=None,
                    operation_name=name,
                    extensions=None,
                )
        return await super().parse_http_body(request)

    def encode_json(self, data: object) -> str:
        # Text, not bytes: strawberry sends bytes over a WebSocket as binary
        # frames, which browser clients (graphql-ws) do not read.
        return dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        # What strawberry uses for WebSocket messages: one that is too deep,
        # not an object, or otherwise unacceptable is refused like any
        # non-JSON message (close 4400) instead of failing inside strawberry.
        message = loads(data)
        if not isinstance(message, dict):
            raise json.JSONDecodeError("a message must be a JSON object", "", 0)
        return message

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        """GET parameters: variables and extensions are JSON objects."""
        parsed = dict(params)
        for name in ("variables", "extensions"):
            if parsed.get(name):
                try:
                    parsed[name] = loads(parsed[name])
                except ValueError as exc:
                    raise HTTPException(400, f"{name} is not valid JSON.") from exc
        return parsed

    def parse_json(self, data: str | bytes) -> Any:
        """The request body: one operation as a JSON object."""
        if len(data) > self.max_body_bytes:
            raise HTTPException(413, BODY_TOO_LARGE)
        try:
            parsed = loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPException(400, "The request body is not valid JSON.") from exc
        if isinstance(parsed, list):
            raise HTTPException(400, "Batched operations are not supported.")
        if not isinstance(parsed, dict):
            raise HTTPException(400, "The request body must be a JSON object.")
        if problem := operation_name_problem(parsed.get("operationName")):
            raise HTTPException(400, problem)
        return parsed


def decode_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "The request body is not valid UTF-8.") from exc
