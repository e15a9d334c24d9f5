"""Browser-facing protections: security headers, CORS and the playground's CSP.

Every HTTP response says nosniff, no referrer and no framing. JSON answers
also get a Content-Security-Policy that allows nothing; the GraphiQL page
gets one that allows exactly what it loads (its own scripts, styles and
fonts from this service's /static/, requests and its WebSocket back here).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# The page loads only this service's files (gql_service/static/, vendored by
# scripts/fetch_graphiql.py) and has no inline script; GraphiQL sets inline
# styles, and its subscriptions open a WebSocket back to this host.
PLAYGROUND_SOURCES = {
    "default-src": "'self'",
    "connect-src": "'self' ws: wss:",
    "style-src": "'self' 'unsafe-inline'",
    "script-src": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "form-action": "'none'",
}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# Headers a browser client sends besides the CORS-safelisted ones.
CORS_HEADERS = ["Authorization", "Content-Type"]


def playground_csp(html: str) -> str:
    """The playground's policy, allowing each of its inline scripts by hash."""
    sources = dict(PLAYGROUND_SOURCES)
    for script in INLINE_SCRIPT.findall(html):
        digest = hashlib.sha256(script.encode()).digest()
        sources["script-src"] += f" 'sha256-{base64.b64encode(digest).decode()}'"
    return "; ".join(f"{name} {value}" for name, value in sources.items())


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", API_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_browser_protections(app: Starlette, allowed_origins: Sequence[str]) -> None:
    """CORS for the configured origins only (none when the list is empty),
    inside the security headers so that preflight answers carry them too.

    Tokens travel in the Authorization header, never in cookies, so
    credentials are not allowed.
    """
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(allowed_origins),
        allow_methods=["GET", "POST"],
        allow_headers=CORS_HEADERS,
        expose_headers=["Retry-After"],
        allow_credentials=False,
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware)
