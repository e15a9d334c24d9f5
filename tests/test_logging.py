"""Request ids on responses and log lines; JSON log lines when asked."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import ValidationError
from strawberry.http.exceptions import WebSocketDisconnected

from gql_service.api.websocket import TransportWSHandler
from gql_service.config import Settings
from gql_service.errors import ServiceUnavailableError
from gql_service.observability.logging import (
    JsonFormatter,
    RequestIdFilter,
    build_handler,
    configure_logging,
    request_id,
)
from tests.conftest import SECRET, token_for
from tests.live_server import free_port
from tests.ws_support import Socket, live

HEX_ID = r"[0-9a-f]{32}"


def unreachable(_collection: str, _command: str) -> None:
    raise ServiceUnavailableError("down")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged, as the JSON handler of the service writes it."""
    stream = io.StringIO()
    handler = build_handler("json")
    handler.setStream(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def entries(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_response_gets_a_new_request_id(client):
    response = await client.get("/healthz")

    assert re.fullmatch(HEX_ID, response.headers["x-request-id"])


async def test_each_request_gets_its_own_id(client):
    first = await client.get("/healthz")
    second = await client.get("/healthz")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_well_formed_request_id_is_kept(client):
    given = "req-2024.06:abc_DEF-123"

    response = await client.get("/healthz", headers={"X-Request-ID": given})

    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize(
    "given",
    ["a" * 129, "has space", 'quote"d', "back\\slash", "ümlaut".encode(), ""],
)
async def test_malformed_request_id_is_replaced(client, given):
    response = await client.get("/healthz", headers={"X-Request-ID": given})

    assert re.fullmatch(HEX_ID, response.headers["x-request-id"])


async def test_graphql_answers_carry_the_id(client):
    headers = {"X-Request-ID": "graphql-1", "Authorization": "Bearer x"}

    response = await client.post("/graphql", json={"query": "{ a }"}, headers=headers)

    assert response.status_code == 401
    assert response.headers["x-request-id"] == "graphql-1"


async def test_lines_logged_for_a_request_carry_its_id(
    client, gateway_options, json_lines
):
    gateway_options.fault = unreachable

    response = await client.get("/readyz", headers={"X-Request-ID": "probe-7"})

    assert response.status_code == 503
    logged = entries(json_lines)
    assert logged
    assert {entry["request_id"] for entry in logged} == {"probe-7"}


async def test_lines_of_a_graphql_request_carry_its_id(
    client, gateway_options, json_lines
):
    gateway_options.fault = unreachable
    headers = {
        "X-Request-ID": "gql-42",
        "Authorization": "Bearer " + token_for("owner@example.com"),
    }

    await client.post(
        "/graphql", json={"query": "{ projects { totalCount } }"}, headers=headers
    )

    database_lines = [e for e in entries(json_lines) if "Database" in str(e["message"])]
    assert database_lines
    assert {entry["request_id"] for entry in database_lines} == {"gql-42"}


def test_json_line_has_the_fields(json_lines):
    logging.getLogger("gql_service.test").warning("Run %s failed", "r1")

    (entry,) = entries(json_lines)

    assert entry["level"] == "WARNING"
    assert entry["logger"] == "gql_service.test"
    assert entry["message"] == "Run r1 failed"
    assert str(entry["time"]).endswith("+00:00")


def test_line_outside_a_request_has_no_request_id(json_lines):
    logging.getLogger("gql_service.test").warning("Started")

    (entry,) = entries(json_lines)

    assert "request_id" not in entry


def test_json_line_carries_the_traceback(json_lines):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("gql_service.test").exception("Step failed")

    (entry,) = entries(json_lines)

    assert "RuntimeError: boom" in str(entry["exception"])


def test_text_line_shows_the_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Hello", None, None)
    handler = build_handler("text")
    token = request_id.set("abc-1")
    try:
        handler.filter(record)
    finally:
        request_id.reset(token)

    line = handler.format(record)

    assert "[abc-1]: Hello" in line


def test_filter_marks_lines_outside_requests():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Hello", None, None)

    RequestIdFilter().filter(record)

    assert record.request_id == "-"


def test_json_format_is_a_setting(monkeypatch):
    monkeypatch.setenv("GQL_SERVICE_LOG_FORMAT", "JSON")

    assert Settings(jwt_secret=SECRET).log_format == "json"


def test_text_is_the_default_format():
    assert Settings(jwt_secret=SECRET).log_format == "text"


def test_unknown_format_is_refused(monkeypatch):
    monkeypatch.setenv("GQL_SERVICE_LOG_FORMAT", "xml")

    with pytest.raises(ValidationError):
        Settings(jwt_secret=SECRET)


@pytest.mark.usefixtures("restore_root")
def test_configure_logging_json_formats_the_root():
    configure_logging("INFO", "json")

    (handler,) = logging.getLogger().handlers

    assert isinstance(handler.formatter, JsonFormatter)
    assert logging.getLogger().level == logging.INFO


async def test_websocket_answer_carries_the_id(database):
    async with live(database) as server:
        socket = await Socket.open(
            server, additional_headers={"X-Request-ID": "socket-9"}
        )
        headers = socket.connection.response.headers
        socket.abort()

    assert headers["x-request-id"] == "socket-9"


def test_serve_writes_json_lines_with_request_ids(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "GQL_SERVICE_LOG_FORMAT": "json",
        "GQL_SERVICE_JWT_SECRET": SECRET,
        "GQL_SERVICE_PORT": str(port),
        "GQL_SERVICE_RUN_WORKFLOWS": "false",
    }
    command = [sys.executable, "-m", "gql_service.cli", "serve"]
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        httpx.get(
            f"http://127.0.0.1:{port}/healthz",
            headers={"X-Request-ID": "from-test"},
            trust_env=False,
        )
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=15)

    lines = [json.loads(line) for line in err.decode().splitlines() if line]
    assert lines
    assert any(e.get("request_id") == "from-test" for e in lines), lines
    assert any(e["message"] == "Service ready" for e in lines)


def wait_for(url: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            httpx.get(url, trust_env=False, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {within} s")


async def test_a_subscriber_gone_mid_send_is_one_line_and_a_fault_is_a_traceback(
    caplog,
):
    handler = object.__new__(TransportWSHandler)
    handler.task_logger = logging.getLogger("strawberry.ws.task")
    caplog.set_level(logging.INFO)

    await handler.handle_task_exception(WebSocketDisconnected())
    await handler.handle_task_exception(RuntimeError("a real fault"))

    gone, fault = caplog.records
    assert gone.levelno == logging.INFO and gone.exc_info is None
    assert fault.levelno == logging.ERROR and fault.exc_info is not None
