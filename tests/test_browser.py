"""The dashboard and the playground in a real browser.

Debian's chromium (/usr/bin/chromium), driven by Playwright, against a real
server on 127.0.0.1 with the demo data. Every request a page makes is
recorded; each must go to that server and succeed, and a request for any
other host is refused before it leaves. The pages run under the service's
own Content-Security-Policy, so a blocked script or style fails the test.
Without chromium or the playwright package the tests are skipped, and the
skip says why.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gql_service.demo import DEVELOPER, STAKEHOLDER, demo_instance_id
from tests.conftest import token_for
from tests.demo_server import DemoServer, demo_server

try:
    from playwright.async_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Locator,
        Page,
        Request,
        Response,
        Route,
        WebSocket,
        async_playwright,
        expect,
    )
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 10_000
# The README's screenshot is refreshed only on request (UPDATE_SCREENSHOT=1),
# so a test run leaves the work tree clean.
README_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "dashboard.png"

HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RUN_BUTTON = ".graphiql-execute-button"
RESULT = ".graphiql-response"
# GraphiQL re-reads the operation from the editor 100 ms after a change;
# running sooner would send the previous operation.
GRAPHIQL_DEBOUNCE_MS = 400
NO_PROBLEMS: dict[str, list[str]] = {
    "requests to other hosts": [],
    "failed requests": [],
    "console errors": [],
}
VENDORED = {
    "/static/graphiql/react.production.min.js",
    "/static/graphiql/react-dom.production.min.js",
    "/static/graphiql/graphiql.min.js",
    "/static/graphiql/graphiql.min.css",
}


def missing_browser() -> str | None:
    if async_playwright is None:
        return "the playwright package is not installed: pip install -e '.[dev]'"
    if not CHROMIUM.exists():
        return (
            f"no browser at {CHROMIUM}: install Debian's chromium "
            "(apt-get install -y chromium) to run the browser tests"
        )
    return None


class Traffic:
    """Everything the pages of one browser context asked for."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.requests: list[str] = []
        self.documents: list[str] = []
        self.failures: list[str] = []
        self.refused: list[str] = []
        self.console_errors: list[str] = []
        self.sockets: list[str] = []
        self.frames_sent: list[str] = []

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in {"http", "ws"} and parts.netloc == self.address

    async def attach(self, context: BrowserContext) -> None:
        context.on("request", self.on_request)
        context.on("requestfailed", self.on_failed)
        context.on("response", self.on_response)
        context.on("console", self.on_console)
        await context.route(lambda url: not self.is_local(url), self.refuse)

    def watch(self, page: Page) -> None:
        page.on("websocket", self.on_socket)
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)
        if request.resource_type == "document":
            self.documents.append(request.url)

    def on_failed(self, request: Request) -> None:
        self.failures.append(f"{request.url}: {request.failure}")

    def on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.failures.append(f"{response.url}: HTTP {response.status}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def on_socket(self, socket: WebSocket) -> None:
        self.sockets.append(socket.url)
        socket.on("framesent", lambda payload: self.frames_sent.append(str(payload)))

    async def refuse(self, route: Route) -> None:
        self.refused.append(route.request.url)
        await route.abort("blockedbyclient")

    def paths(self) -> set[str]:
        return {urlsplit(url).path for url in self.requests if self.is_local(url)}

    def problems(self) -> dict[str, list[str]]:
        """What went wrong: all lists empty when every request stayed local and
        succeeded."""
        return {
            "requests to other hosts": self.refused
            + [url for url in self.requests + self.sockets if not self.is_local(url)],
            "failed requests": self.failures,
            "console errors": self.console_errors,
        }

    def connection_inits(self) -> list[dict[str, Any]]:
        messages = [json.loads(frame) for frame in self.frames_sent]
        return [m for m in messages if m.get("type") == "connection_init"]


@pytest.fixture
async def server() -> AsyncIterator[DemoServer]:
    async with demo_server() as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    reason = missing_browser()
    if reason is not None:
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def traffic(server: DemoServer) -> Traffic:
    return Traffic(server.address)


@pytest.fixture
async def page(browser: Browser, traffic: Traffic) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(WAIT_MS)
    await traffic.attach(context)
    opened = await context.new_page()
    traffic.watch(opened)
    yield opened
    await context.close()


async def replace_editor_text(page: Page, editor: str, text: str) -> None:
    await page.locator(editor).click()
    await page.keyboard.press("Control+A")
    await page.keyboard.insert_text(text)
    await page.wait_for_timeout(GRAPHIQL_DEBOUNCE_MS)


async def sign_in_to_playground(page: Page, server: DemoServer, subject: str) -> str:
    await page.goto(server.url("/graphql"))
    token = token_for(subject)
    headers = json.dumps({"Authorization": "Bearer " + token})
    await replace_editor_text(page, HEADERS_EDITOR, headers)
    return token


def grid_cell(page: Page, project: str, environment: str) -> Locator:
    return page.locator(
        f'td[data-project="{project}"][data-environment="{environment}"]'
    )


# The playground -------------------------------------------------------------


async def test_playground_runs_a_query_with_local_files_only(page, server, traffic):
    await sign_in_to_playground(page, server, STAKEHOLDER)

    await page.locator(RUN_BUTTON).click()

    await expect(page.locator(RESULT)).to_contain_text(
        '"name": "ecommerce-platform"', timeout=WAIT_MS
    )
    assert traffic.paths() >= VENDORED | {"/graphql"}
    assert traffic.problems() == NO_PROBLEMS


async def test_playground_sends_the_header_in_connection_init(page, server, traffic):
    token = await sign_in_to_playground(page, server, STAKEHOLDER)
    staging = await server.collection_id("ecommerce-platform", "staging", "web-app")
    subscription = "subscription { collectionEvents { type resource { resourceId } } }"
    await replace_editor_text(page, QUERY_EDITOR, subscription)
    await page.locator(RUN_BUTTON).click()
    await server.wait_for_subscribers(1)
    added = demo_instance_id("stage-web-3")

    await server.add_resource(staging, resourceType="INSTANCE", resourceId=added)

    result = page.locator(RESULT)
    await expect(result).to_contain_text(f'"resourceId": "{added}"', timeout=WAIT_MS)
    inits = traffic.connection_inits()
    assert [init["payload"] for init in inits] == [{"Authorization": "Bearer " + token}]
    assert traffic.problems() == NO_PROBLEMS


# The dashboard --------------------------------------------------------------


async def test_dashboard_shows_the_demo_data_and_follows_a_change(
    tmp_path, page, server, traffic
):
    await page.goto(server.url("/"))
    await page.fill("#token", token_for(STAKEHOLDER))
    await page.click("#sign-in-form button")
    staging = grid_cell(page, "ecommerce-platform", "staging")
    production = grid_cell(page, "ecommerce-platform", "production")
    await expect(production.get_by_role("button")).to_have_text("web-app (3)")
    await expect(staging.locator(".resource-count")).to_have_text("2")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await staging.get_by_role("button", name="web-app (2)").click()
    await expect(page.locator("#resource-rows tr")).to_have_count(2)

    collection = await server.collection_id("ecommerce-platform", "staging", "web-app")
    added = demo_instance_id("stage-lb-1")
    await server.add_resource(
        collection,
        resourceType="LOAD_BALANCER",
        resourceId=added,
        resourceName="stage-lb-1",
        tags=[{"key": "role", "value": "load-balancer"}],
    )

    await expect(staging.locator(".resource-count")).to_have_text("3")
    await expect(staging.get_by_role("button")).to_have_text("web-app (3)")
    new_row = page.locator(f'#resource-rows tr[data-resource-id="{added}"]')
    await expect(new_row).to_contain_text("role=load-balancer")
    await expect(page.locator("#events")).to_contain_text(f"by {DEVELOPER}")
    shot = (
        README_SCREENSHOT
        if os.environ.get("UPDATE_SCREENSHOT") == "1"
        else tmp_path / "dashboard.png"
    )
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert traffic.documents == [server.url("/")]
    assert traffic.problems() == NO_PROBLEMS


async def test_dashboard_refuses_a_bad_token(page, server):
    await page.goto(server.url("/"))

    await page.fill("#token", "not-a-token")
    await page.click("#sign-in-form button")

    await expect(page.locator("#message")).to_contain_text("refused the token")
    await expect(page.locator("#sign-in")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0
