"""The playground and the dashboard are served from the package, CDN-free.

These checks need no browser; tests/test_browser.py runs the pages.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from importlib import resources

import httpx
import pytest

from gql_service.app import create_app
from gql_service.auth.tokens import TokenVerifier
from gql_service.config import Settings
from gql_service.runtime import build_runtime
from gql_service.storage.database import open_embedded
from tests.conftest import SECRET

HTML = {"accept": "text/html"}
REFERENCE = re.compile(r'(?:src|href)="([^"]+)"')
INLINE_SCRIPT = re.compile(r"<script[^>]*>\s*[^<\s]")
VERSIONS_LINE = re.compile(r"^\s+(\S+)\s+<- .*sha256:([0-9a-f]{64})$", re.MULTILINE)
VENDORED = resources.files("gql_service") / "static" / "graphiql"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The app over the embedded store only: the pages do not touch storage."""
    database = open_embedded("pages_" + uuid.uuid4().hex[:12])
    runtime = build_runtime(
        Settings(jwt_secret=SECRET),
        database=database,
        verifier=TokenVerifier(secret=SECRET),
    )
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
    database.close()


async def test_playground_loads_only_files_of_this_service(client):
    page = await client.get("/graphql", headers=HTML)

    references = REFERENCE.findall(page.text)
    answers = [await client.get(reference) for reference in references]

    assert "/static/graphiql/graphiql.min.js" in references
    assert all(reference.startswith("/static/") for reference in references)
    assert [answer.status_code for answer in answers] == [200] * len(references)


async def test_pages_have_no_inline_script(client):
    playground = await client.get("/graphql", headers=HTML)

    dashboard = await client.get("/")

    assert INLINE_SCRIPT.search(playground.text) is None
    assert INLINE_SCRIPT.search(dashboard.text) is None


async def test_pages_allow_scripts_from_this_service_only(client):
    playground = await client.get("/graphql", headers=HTML)

    dashboard = await client.get("/")

    for page in (playground, dashboard):
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "http" not in policy


async def test_dashboard_loads_only_files_of_this_service(client):
    page = await client.get("/")

    references = REFERENCE.findall(page.text)
    local = [r for r in references if r.startswith("/static/")]
    answers = [await client.get(reference) for reference in local]

    assert "/static/dashboard/dashboard.js" in local
    assert "/static/graphiql/graphql-ws.min.js" in local
    assert [answer.status_code for answer in answers] == [200] * len(local)


async def test_scripts_and_fonts_have_their_content_types(client):
    script = await client.get("/static/dashboard/dashboard.js")

    font = await client.get("/static/" + first_font())

    assert script.headers["content-type"].startswith("text/javascript")
    assert font.headers["content-type"] in {"font/woff2", "font/woff"}


def first_font() -> str:
    fonts = sorted(
        entry.name
        for entry in (VENDORED / "assets").iterdir()
        if entry.name.endswith((".woff2", ".woff"))
    )
    return f"graphiql/assets/{fonts[0]}"


def test_vendored_files_match_their_versions_file():
    listed = dict(VERSIONS_LINE.findall((VENDORED / "VERSIONS").read_text()))

    digests = {
        name: hashlib.sha256((VENDORED / name).read_bytes()).hexdigest()
        for name in listed
    }

    assert "graphiql.min.js" in listed
    assert digests == listed


def test_stylesheets_embed_no_data_urls():
    stylesheets = [
        VENDORED / "graphiql.min.css",
        VENDORED / "graphiql-plugin-explorer.css",
    ]

    embedded = [s.name for s in stylesheets if "data:" in s.read_text()]

    assert embedded == []
