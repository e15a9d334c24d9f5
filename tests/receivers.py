"""A recording HTTP receiver on loopback: the far end of workflow webhooks.

A small Starlette app under uvicorn on a free 127.0.0.1 port. It records
every call (method, path, headers, JSON body, when it started and ended)
and answers with scripted replies per path, in order, then with the path's
default (200 and ``{"ok": true}`` unless told otherwise). It also counts
calls that overlap another call carrying the same ``Idempotency-Key``,
which is how the tests see one workflow step running twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from dataclasses import dataclass, field
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
    path: str
    headers: dict[str, str]
    body: Any
    started: float
    finished: float | None = None

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


class Receiver:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.port = 0
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._defaults: dict[str, Reply] = {}
        self._active: dict[str, int] = defaultdict(int)
        # Calls that began while another with the same idempotency key ran.
        self.overlaps = 0
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next calls to ``path`` with ``replies``, in order."""
        self._scripts[path].extend(replies)

    def default(self, path: str, reply: Reply) -> None:
        """Answer calls to ``path`` with ``reply`` once its script is used up."""
        self._defaults[path] = reply

    def calls_to(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    async def wait_for(self, path: str, count: int = 1) -> list[Call]:
        """Wait (boundedly) until ``path`` got ``count`` calls."""
        async with asyncio.timeout(WAIT_SECONDS):
            while len(self.calls_to(path)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.calls_to(path)

    def _reply_for(self, path: str) -> Reply:
        if self._scripts[path]:
            return self._scripts[path].popleft()
        return self._defaults.get(path, Reply())

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        call = Call(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            started=time.monotonic(),
        )
        key = call.key
        if key is not None:
            if self._active[key]:
                self.overlaps += 1
            self._active[key] += 1
        self.calls.append(call)
        self._changed.set()
        reply = self._reply_for(call.path)
        try:
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            if key is not None:
                self._active[key] -= 1
            call.finished = time.monotonic()
            self._changed.set()
        return JSONResponse(reply.body, reply.status, headers=reply.headers)


@contextlib.asynccontextmanager
async def recording_receiver() -> AsyncIterator[Receiver]:
    """Serve a Receiver on 127.0.0.1 for the duration of the block."""
    receiver = Receiver()
    app = Starlette(
        routes=[
            Route("/{path:path}", receiver.handle, methods=["GET", "POST", "PUT"]),
        ]
    )
    receiver.port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=receiver.port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(WAIT_SECONDS):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_SECONDS)


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
