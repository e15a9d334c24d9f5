"""A recording HTTP receiver on loopback: the far end of workflow webhooks.

A small Starlette app under uvicorn on a free 127.0.0.1 port. Each
``recording_receiver()`` gets its own path prefix on it and records every
call under that prefix (method, path, headers, JSON body, when it started
and ended); it answers with scripted replies per path, in order, then with
the path's default (200 and ``{"ok": true}`` unless told otherwise). It
also counts calls that overlap another call carrying the same
``Idempotency-Key``, which is how the tests see one workflow step running
twice at once.

One uvicorn server, in a thread of its own, serves every receiver of the
test session: starting and stopping uvicorn per test costs a fifth of a
second each time, most of the suite's run time.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer  # noqa: N811 (its own name)
from aiosmtpd.smtp import Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.live_server import free_port

WAIT_SECONDS = 5.0


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to hold the answer back: makes a call long enough to overlap.
    delay: float = 0.0
    body: Any = field(default_factory=lambda: {"ok": True})


@dataclass
class Call:
    method: str
    # The path below the receiver's own prefix ("/deploy").
    path: str
    headers: dict[str, str]
    body: Any
    started: float
    finished: float | None = None
    raw: bytes = b""

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


class Receiver:
    """One test's share of the server: everything under ``/<prefix>``."""

    def __init__(self, origin: str, prefix: str) -> None:
        # scheme://host:port, which is also how the service shows the URL
        # to readers who may not see it whole.
        self.origin = origin
        self.prefix = prefix
        self.calls: list[Call] = []
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._defaults: dict[str, Reply] = {}
        self._active: dict[str, int] = defaultdict(int)
        # Calls that began while another with the same idempotency key ran.
        self.overlaps = 0

    @property
    def url(self) -> str:
        return f"{self.origin}/{self.prefix}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next calls to ``path`` with ``replies``, in order."""
        self._scripts[path].extend(replies)

    def default(self, path: str, reply: Reply) -> None:
        """Answer calls to ``path`` with ``reply`` once its script is used up."""
        self._defaults[path] = reply

    def calls_to(self, path: str) -> list[Call]:
        return [call for call in list(self.calls) if call.path == path]

    async def wait_for(self, path: str, count: int = 1) -> list[Call]:
        """Wait (boundedly) until ``path`` got ``count`` calls."""
        async with asyncio.timeout(WAIT_SECONDS):
            # Calls arrive on the server's thread, where no asyncio.Event of
            # this loop may be set: poll instead.
            while len(self.calls_to(path)) < count:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        return self.calls_to(path)

    def _reply_for(self, path: str) -> Reply:
        if self._scripts[path]:
            return self._scripts[path].popleft()
        return self._defaults.get(path, Reply())

    async def handle(self, request: Request, path: str) -> Response:
        """Record one call (runs on the server's thread) and answer it."""
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        call = Call(
            method=request.method,
            path=path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            started=time.monotonic(),
            raw=raw,
        )
        key = call.key
        if key is not None:
            if self._active[key]:
                self.overlaps += 1
            self._active[key] += 1
        self.calls.append(call)
        reply = self._reply_for(path)
        try:
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            if key is not None:
                self._active[key] -= 1
            call.finished = time.monotonic()
        return JSONResponse(reply.body, reply.status, headers=reply.headers)


class _SharedServer:
    """uvicorn on 127.0.0.1 in a daemon thread, routing by path prefix."""

    def __init__(self) -> None:
        self.port = free_port()
        self.receivers: dict[str, Receiver] = {}
        self._numbers = itertools.count(1)
        app = Starlette(
            routes=[Route("/{path:path}", self._route, methods=["GET", "POST", "PUT"])]
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="test-receivers", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + WAIT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test receiver server did not start")
            time.sleep(0.01)
        atexit.register(self.stop)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(WAIT_SECONDS)

    def open(self) -> Receiver:
        prefix = f"r{next(self._numbers)}"
        receiver = Receiver(f"http://127.0.0.1:{self.port}", prefix)
        self.receivers[prefix] = receiver
        return receiver

    def close(self, receiver: Receiver) -> None:
        self.receivers.pop(receiver.prefix, None)

    async def _route(self, request: Request) -> Response:
        prefix, _, rest = request.path_params["path"].partition("/")
        receiver = self.receivers.get(prefix)
        if receiver is None:
            return JSONResponse({"error": "no such receiver"}, 404)
        return await receiver.handle(request, "/" + rest)


_shared: _SharedServer | None = None
_lock = threading.Lock()


def _server() -> _SharedServer:
    global _shared
    with _lock:
        if _shared is None:
            _shared = _SharedServer()
        return _shared


@contextlib.asynccontextmanager
async def recording_receiver() -> AsyncIterator[Receiver]:
    """A fresh Receiver for the duration of the block."""
    server = _server()
    receiver = server.open()
    try:
        yield receiver
    finally:
        server.close(receiver)


# E-mail --------------------------------------------------------------------


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 (the name aiosmtpd calls)
        self, server: SMTPServer, session: Session, envelope: Envelope
    ) -> str:
        parsed = message_from_bytes(
            envelope.original_content or b"", policy=policy.default
        )
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


@contextlib.contextmanager
def smtp_server(mailbox: Mailbox) -> Iterator[int]:
    """A plain SMTP server on 127.0.0.1; yields its port."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
