"""The service's own browser pages: the dashboard at / and the playground.

Both pages and everything they load (GraphiQL, React, the graphql-ws client,
fonts) are files of this package under gql_service/static/, served at
/static/, so they work with no internet; scripts/fetch_graphiql.py vendors
the third-party files. Neither page has an inline script, so both run under
a Content-Security-Policy whose script-src is 'self'.
"""

from __future__ import annotations

import mimetypes
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_PACKAGE = ("gql_service", "static")
# The dashboard's policy; the playground's comes from http_security with the
# other security headers. WebSockets go back to this host for the live feed.
DASHBOARD_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

# Slim images have no /etc/mime.types, and Python alone does not know fonts.
mimetypes.add_type("font/woff2", ".woff2")
mimetypes.add_type("font/woff", ".woff")
mimetypes.add_type("text/javascript", ".js")


def read_page(name: str) -> str:
    return (resources.files("gql_service") / "static" / name).read_text("utf-8")


PLAYGROUND_HTML = read_page("playground/index.html")
DASHBOARD_HTML = read_page("dashboard/index.html")


async def dashboard(_request: Request) -> HTMLResponse:
    return HTMLResponse(
        DASHBOARD_HTML, headers={"Content-Security-Policy": DASHBOARD_POLICY}
    )


def page_routes() -> list[BaseRoute]:
    """The dashboard at / and the static files at /static/."""
    return [
        Route("/", dashboard, methods=["GET", "HEAD"]),
        Mount("/static", app=StaticFiles(packages=[STATIC_PACKAGE]), name="static"),
    ]
