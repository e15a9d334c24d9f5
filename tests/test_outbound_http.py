"""Outgoing HTTP of workflow actions against real loopback receivers.

ARCHITECTURE.md, "Workflows": outgoing HTTP has timeouts, retries with
backoff and jitter on network errors, 429 and 5xx (honouring Retry-After),
follows no redirects, connects to the address it checked, signs the body
when a secret is configured, and carries the same idempotency key on every
attempt. The SSRF tests use an injected resolver and a recording
MockTransport: a refused call must never reach a transport at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import hmac
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gql_service.outbound.addresses import resolve_host
from gql_service.outbound.http import (
    OutboundClient,
    OutboundError,
    OutboundResult,
    check_url,
    redact_url,
)

SIGNING_SECRET = "webhook-secret-" + "s" * 32
PUBLIC_IP = "93.184.215.14"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    """An ASGI app that records every request and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []
        self.base = ""

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Received(scope["method"], scope["path"], headers, body))

        reply = self.replies.pop(0) if self.replies else Reply()
        await asyncio.sleep(reply.delay)
        raw_headers = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": reply.body.encode()})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections, held so nobody else takes it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(
    receiver: Receiver, certificate: tuple[Path, Path] | None = None
) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(
        receiver,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
        ssl_certfile=str(certificate[0]) if certificate else None,
        ssl_keyfile=str(certificate[1]) if certificate else None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve(receiver) as port:
        receiver.base = f"http://127.0.0.1:{port}"
        yield receiver


class Sleeps:
    """Stands in for asyncio.sleep: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Resolver:
    """Answers from a table and records each lookup; never touches DNS."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "not in the test table")
        return self.table[host]


class Recording:
    """A MockTransport handler that records requests and answers 200."""

    def __init__(self, *statuses: int) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses = list(statuses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status, text="mock")


@contextlib.asynccontextmanager
async def loopback_client(**options: Any) -> AsyncIterator[OutboundClient]:
    client = OutboundClient(allow_private=True, **options)
    try:
        yield client
    finally:
        await client.aclose()


async def post(client: OutboundClient, url: str, **options: Any) -> OutboundResult:
    options.setdefault("idempotency_key", "step-1")
    return await client.post_json(url, {"event": "RESOURCE_ADDED"}, **options)


# Delivery, retries and failures


async def test_post_delivers_json(receiver: Receiver) -> None:
    async with loopback_client() as client:
        result = await client.post_json(
            receiver.base + "/hook", {"text": "déployé", "n": 1}, idempotency_key="k-1"
        )

    assert result == OutboundResult(status=200, attempts=1, body="ok")
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.body == '{"text":"déployé","n":1}'.encode()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "k-1"
    assert request.headers["user-agent"] == "gql-service"
    assert "x-signature" not in request.headers


async def test_two_failures_then_success_share_the_key(receiver: Receiver) -> None:
    receiver.script(Reply(500), Reply(500), Reply(200))
    sleeps = Sleeps()

    async with loopback_client(sleep=sleeps) as client:
        result = await post(client, receiver.base, idempotency_key="run-7-step-2")

    assert result.attempts == 3
    assert len(receiver.requests) == 3
    keys = {request.headers["idempotency-key"] for request in receiver.requests}
    assert keys == {"run-7-step-2"}
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.5
    assert 0 <= sleeps.delays[1] <= 1.0


async def test_retry_after_seconds_is_honoured(receiver: Receiver) -> None:
    receiver.script(Reply(429, headers={"Retry-After": "7"}), Reply(200))
    sleeps = Sleeps()

    async with loopback_client(sleep=sleeps) as client:
        result = await post(client, receiver.base)

    assert result.attempts == 2
    assert sleeps.delays == [7.0]


async def test_retry_after_date_is_honoured(receiver: Receiver) -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=20)
    date = format_datetime(later, usegmt=True)
    receiver.script(Reply(503, headers={"Retry-After": date}), Reply(200))
    sleeps = Sleeps()

    async with loopback_client(sleep=sleeps) as client:
        await post(client, receiver.base)

    [delay] = sleeps.delays
    assert 17 <= delay <= 20


async def test_retry_after_is_capped(receiver: Receiver) -> None:
    receiver.script(Reply(429, headers={"Retry-After": "3600"}), Reply(200))
    sleeps = Sleeps()

    async with loopback_client(sleep=sleeps) as client:
        await post(client, receiver.base)

    assert sleeps.delays == [60.0]


async def test_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.script(Reply(400, body="bad"))
    sleeps = Sleeps()

    async with loopback_client(sleep=sleeps) as client:
        with pytest.raises(OutboundError) as caught:
            await post(client, receiver.base)

    assert (caught.value.status, caught.value.attempts) == (400, 1)
    assert len(receiver.requests) == 1
    assert sleeps.delays == []


async def test_exhaustion_raises_with_last_status(receiver: Receiver) -> None:
    receiver.script(Reply(500), Reply(502), Reply(502))
    sleeps = Sleeps()

    async with loopback_client(sleep=sleeps) as client:
        with pytest.raises(OutboundError) as caught:
            await post(client, receiver.base, max_attempts=3)

    assert (caught.value.status, caught.value.attempts) == (502, 3)
    assert len(receiver.requests) == 3
    assert len(sleeps.delays) == 2


async def test_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.script(Reply(302, headers={"Location": "/elsewhere"}))
    sleeps = Sleeps()

    async with loopback_client(sleep=sleeps) as client:
        with pytest.raises(OutboundError) as caught:
            await post(client, receiver.base + "/hook")

    assert (caught.value.status, caught.value.attempts) == (302, 1)
    assert [request.path for request in receiver.requests] == ["/hook"]


async def test_get_returns_redirect_unfollowed(receiver: Receiver) -> None:
    receiver.script(Reply(301, headers={"Location": "/elsewhere"}))

    async with loopback_client() as client:
        result = await client.get(receiver.base + "/health")

    assert (result.status, result.attempts) == (301, 1)
    assert [request.path for request in receiver.requests] == ["/health"]


async def test_get_returns_any_status_once(receiver: Receiver) -> None:
    receiver.script(Reply(503, body="down"))

    async with loopback_client() as client:
        result = await client.get(receiver.base + "/health")

    assert result == OutboundResult(status=503, attempts=1, body="down")
    assert len(receiver.requests) == 1


async def test_post_times_out_each_attempt(receiver: Receiver) -> None:
    receiver.script(Reply(200, delay=2.0), Reply(200, delay=2.0))
    sleeps = Sleeps()

    async with loopback_client(sleep=sleeps) as client:
        started = time.monotonic()
        with pytest.raises(OutboundError) as caught:
            await post(client, receiver.base, timeout=0.3, max_attempts=2)

    assert time.monotonic() - started < 1.5
    assert (caught.value.status, caught.value.attempts) == (None, 2)
    assert "timed out" in caught.value.message
    assert len(sleeps.delays) == 1


async def test_get_times_out(receiver: Receiver) -> None:
    receiver.script(Reply(200, delay=2.0))

    async with loopback_client() as client:
        with pytest.raises(OutboundError) as caught:
            await client.get(receiver.base, timeout=0.3)

    assert caught.value.attempts == 1


async def test_refused_connection_is_retried() -> None:
    sleeps = Sleeps()

    with closed_port() as port:
        async with loopback_client(sleep=sleeps) as client:
            with pytest.raises(OutboundError) as caught:
                await post(client, f"http://127.0.0.1:{port}/", max_attempts=2)

    assert (caught.value.status, caught.value.attempts) == (None, 2)
    assert len(sleeps.delays) == 1


async def test_failed_lookup_is_retried_without_sending() -> None:
    recording = Recording()
    sleeps = Sleeps()
    resolver = Resolver({})

    async with loopback_client(
        transport=httpx.MockTransport(recording), resolve=resolver, sleep=sleeps
    ) as client:
        with pytest.raises(OutboundError) as caught:
            await post(client, "https://gone.example/hook", max_attempts=2)

    assert caught.value.attempts == 2
    assert resolver.lookups == ["gone.example", "gone.example"]
    assert recording.requests == []


async def test_body_is_cut(receiver: Receiver) -> None:
    receiver.script(Reply(200, body="é" * 5000))

    async with loopback_client() as client:
        result = await post(client, receiver.base)

    assert result.body == "é" * 2000


# Signing


def signature_of(request: Received) -> tuple[int, str]:
    fields = dict(
        item.split("=", 1) for item in request.headers["x-signature"].split(",")
    )
    return int(fields["t"]), fields["v1"]


def is_signed_with(request: Received, secret: str) -> bool:
    """What a receiver does: recompute the HMAC of "<t>.<body>" and compare."""
    timestamp, given = signature_of(request)
    signed = str(timestamp).encode() + b"." + request.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given, expected)


async def test_signature_verifies_with_the_secret(receiver: Receiver) -> None:
    receiver.script(Reply(500), Reply(200))

    async with loopback_client(signing_secret=SIGNING_SECRET, sleep=Sleeps()) as client:
        await post(client, receiver.base)

    assert len(receiver.requests) == 2
    for request in receiver.requests:
        assert is_signed_with(request, SIGNING_SECRET)
        assert abs(signature_of(request)[0] - time.time()) < 60


async def test_signature_fails_with_another_secret(receiver: Receiver) -> None:
    async with loopback_client(signing_secret=SIGNING_SECRET) as client:
        await post(client, receiver.base)

    assert not is_signed_with(receiver.requests[0], SIGNING_SECRET + "x")


async def test_signature_is_made_per_attempt(receiver: Receiver) -> None:
    receiver.script(Reply(500), Reply(200))

    async def wait_past_a_second(seconds: float) -> None:
        # The timestamp has one-second steps; waiting one shows it is fresh.
        await asyncio.sleep(1.05)

    async with loopback_client(
        signing_secret=SIGNING_SECRET, sleep=wait_past_a_second
    ) as client:
        await post(client, receiver.base)

    first, second = (signature_of(request)[0] for request in receiver.requests)
    assert second > first


# URLs and logs


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com"),
        (
            "https://u:pw@Ci.Example.com:8443/deploy?token=XYZ#frag",
            "https://ci.example.com:8443",
        ),
        ("http://[::1]:9000/path/XYZ", "http://[::1]:9000"),
        ("http://10.0.0.1/XYZ?key=XYZ", "http://10.0.0.1"),
        ("hooks.slack.com/services/XYZ", "<invalid URL>"),
        ("http://[::1/XYZ", "<invalid URL>"),
    ],
)
def test_redact_url_keeps_only_the_origin(url: str, shown: str) -> None:
    redacted = redact_url(url)

    assert redacted == shown
    assert "XYZ" not in redacted
    assert "pw" not in redacted


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://files.example.com/x",
        "gopher://example.com/",
        "http:///path-only",
        "https://",
        "//example.com/x",
        "not a url",
        "http://a b.example/",
        "http://example.com:70000/",
    ],
)
def test_check_url_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T0",
        "http://ci.example.com:8080/x",
        "http://[2001:db8::1]/",
    ],
)
def test_check_url_accepts(url: str) -> None:
    check_url(url)


async def test_logs_show_neither_path_body_nor_secret(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.script(Reply(500), Reply(200))
    caplog.set_level(logging.DEBUG, logger="gql_service.outbound")
    url = receiver.base + "/services/T0/PATHSECRET?token=QUERYSECRET"

    async with loopback_client(signing_secret=SIGNING_SECRET, sleep=Sleeps()) as client:
        await client.post_json(url, {"text": "BODYSECRET"}, idempotency_key="k")

    levels = [record.levelname for record in caplog.records]
    assert levels == ["WARNING", "INFO"]
    assert receiver.base in caplog.text
    for secret in ("PATHSECRET", "QUERYSECRET", "BODYSECRET", SIGNING_SECRET):
        assert secret not in caplog.text


# SSRF


RESOLVES = {
    "localhost": ["127.0.0.1"],
    "internal.example": ["10.1.2.3"],
    "mixed.example": [PUBLIC_IP, "192.168.0.7"],
    "metadata.example": ["169.254.169.254"],
    "mapped.example": ["::ffff:10.0.0.1"],
    "hooks.example.com": [PUBLIC_IP],
    "v6.example.com": ["2606:4700::1111"],
}

REFUSED = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/hook",
    "http://localhost/",
    "http://[::1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://100.100.100.200/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://internal.example/hook",
    "https://mixed.example/hook",
    "https://mapped.example/hook",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_targets_are_refused_without_connecting(url: str) -> None:
    recording = Recording()
    client = OutboundClient(
        transport=httpx.MockTransport(recording), resolve=Resolver(RESOLVES)
    )

    with pytest.raises(OutboundError) as posted:
        await post(client, url)
    with pytest.raises(OutboundError) as got:
        await client.get(url)
    await client.aclose()

    assert recording.requests == []
    assert posted.value.attempts == got.value.attempts == 0
    assert "refused" in posted.value.message


async def test_refused_target_gets_no_traffic(receiver: Receiver) -> None:
    client = OutboundClient(allow_private=False)

    with pytest.raises(OutboundError):
        await post(client, receiver.base + "/hook")
    await client.aclose()

    assert receiver.requests == []


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/", "https://metadata.example/"]
)
async def test_metadata_is_refused_even_when_private_is_allowed(url: str) -> None:
    recording = Recording()

    async with loopback_client(
        transport=httpx.MockTransport(recording), resolve=Resolver(RESOLVES)
    ) as client:
        with pytest.raises(OutboundError):
            await post(client, url)

    assert recording.requests == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/", "http:///x"]
)
async def test_bad_urls_are_refused_without_connecting(url: str) -> None:
    recording = Recording()
    resolver = Resolver(RESOLVES)

    async with loopback_client(
        transport=httpx.MockTransport(recording), resolve=resolver
    ) as client:
        with pytest.raises(OutboundError):
            await post(client, url)

    assert recording.requests == []
    assert resolver.lookups == []


async def test_public_name_is_called_at_the_checked_address() -> None:
    recording = Recording()
    resolver = Resolver(RESOLVES)
    client = OutboundClient(transport=httpx.MockTransport(recording), resolve=resolver)

    result = await post(client, "https://hooks.example.com:8443/services/T0?x=1")
    await client.aclose()

    assert result.status == 200
    assert resolver.lookups == ["hooks.example.com"]
    [request] = recording.requests
    assert request.url.host == PUBLIC_IP
    assert (request.url.port, request.url.raw_path) == (8443, b"/services/T0?x=1")
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


async def test_public_ipv6_name_is_pinned() -> None:
    recording = Recording()
    client = OutboundClient(
        transport=httpx.MockTransport(recording), resolve=Resolver(RESOLVES)
    )

    await client.get("http://v6.example.com/health")
    await client.aclose()

    [request] = recording.requests
    assert request.url.host == "2606:4700::1111"
    assert request.headers["host"] == "v6.example.com"


async def test_each_attempt_checks_the_address_again() -> None:
    recording = Recording(500)
    resolver = Resolver({"flip.example": [PUBLIC_IP]})
    sleeps = Sleeps()

    async def rebind(seconds: float) -> None:
        await sleeps(seconds)
        resolver.table["flip.example"] = ["10.0.0.9"]

    client = OutboundClient(
        transport=httpx.MockTransport(recording), resolve=resolver, sleep=rebind
    )
    with pytest.raises(OutboundError) as caught:
        await post(client, "https://flip.example/hook")
    await client.aclose()

    assert len(recording.requests) == 1
    assert (caught.value.attempts, caught.value.status) == (1, 500)
    assert "refused" in caught.value.message


async def test_pinned_request_reaches_a_real_server(receiver: Receiver) -> None:
    port = receiver.base.rsplit(":", 1)[1]
    resolver = Resolver({"hooks.test": ["127.0.0.1"]})

    async with loopback_client(resolve=resolver) as client:
        await post(client, f"http://hooks.test:{port}/hook")

    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.test:{port}"


async def test_default_resolver_looks_up_without_blocking() -> None:
    addresses = await resolve_host("localhost", 80)

    assert addresses
    assert set(addresses) <= {"127.0.0.1", "::1"}


# TLS: the pinned address is dialled, the certificate checked for the name


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def trusting(cert_path: Path) -> httpx.AsyncHTTPTransport:
    context = ssl.create_default_context(cafile=str(cert_path))
    return httpx.AsyncHTTPTransport(verify=context)


async def test_tls_verifies_the_name_at_the_pinned_address(
    certificate: tuple[Path, Path],
) -> None:
    receiver = Receiver()
    resolver = Resolver({"hooks.test": ["127.0.0.1"]})

    async with (
        serve(receiver, certificate) as port,
        loopback_client(transport=trusting(certificate[0]), resolve=resolver) as client,
    ):
        result = await post(client, f"https://hooks.test:{port}/hook")

    assert result.status == 200
    assert receiver.requests[0].headers["host"] == f"hooks.test:{port}"


async def test_tls_refuses_a_certificate_for_another_name(
    certificate: tuple[Path, Path],
) -> None:
    receiver = Receiver()
    resolver = Resolver({"other.test": ["127.0.0.1"]})

    async with (
        serve(receiver, certificate) as port,
        loopback_client(transport=trusting(certificate[0]), resolve=resolver) as client,
    ):
        with pytest.raises(OutboundError) as caught:
            await post(client, f"https://other.test:{port}/hook", max_attempts=1)

    assert caught.value.attempts == 1
    assert receiver.requests == []
