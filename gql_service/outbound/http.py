"""Outgoing HTTP for workflow actions: SSRF-checked, pinned, retried, signed.

A call resolves the host once, refuses the target if any address it
resolves to is not public (unless private targets are allowed), and then
connects to the address it checked, so a second DNS answer cannot redirect
it. TLS still verifies the certificate against the original host name.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from gql_service.outbound.addresses import (
    is_metadata_address,
    is_private_address,
    parse_address,
    resolve_host,
)
from gql_service.outbound.retry import (
    backoff_delay,
    is_retryable_status,
    retry_after_delay,
)
from gql_service.outbound.urls import Target, check_url, parse_target, redact_url

__all__ = [
    "OutboundClient",
    "OutboundError",
    "OutboundResult",
    "check_url",
    "redact_url",
]

logger = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
Sleeper = Callable[[float], Awaitable[None]]

USER_AGENT = "gql-service"
BODY_LIMIT_CHARS = 2000
# Enough bytes for 2,000 characters in any encoding a receiver may use.
BODY_READ_LIMIT_BYTES = 8192


@dataclass(frozen=True)
class OutboundResult:
    status: int
    attempts: int
    body: str


class OutboundError(Exception):
    """An outbound call that did not succeed; ``message`` is safe to show."""

    def __init__(
        self, message: str, *, attempts: int = 0, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.status = status


class _NoAnswerError(Exception):
    """An attempt that got no HTTP answer: network error, timeout, no address."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Call:
    method: str
    headers: dict[str, str]
    payload: bytes | None
    seconds: float


@dataclass(frozen=True)
class _Answer:
    status: int
    body: str
    retry_after: str | None


class OutboundClient:
    def __init__(
        self,
        *,
        allow_private: bool = False,
        signing_secret: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleeper = asyncio.sleep,
        resolve: Resolver | None = None,
    ) -> None:
        if signing_secret == "":
            raise ValueError("signing_secret must not be empty")
        self._allow_private = allow_private
        self._secret = signing_secret.encode("utf-8") if signing_secret else None
        self._sleep = sleep
        self._resolve = resolve or resolve_host
        # trust_env=False: no proxy or .netrc from the environment, since a
        # proxy would resolve the host itself and defeat the address check.
        self._client = httpx.AsyncClient(
            transport=transport or _default_transport(),
            follow_redirects=False,
            trust_env=False,
        )

    async def __aenter__(self) -> OutboundClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post_json(
        self,
        url: str,
        body: dict[str, Any],
        *,
        idempotency_key: str,
        timeout: float = 10.0,  # noqa: ASYNC109 (applied per attempt, see _attempt)
        max_attempts: int = 4,
    ) -> OutboundResult:
        """POST ``body`` as JSON, retrying network errors, 429 and 5xx."""
        _check_limits(timeout, max_attempts)
        target = _parse(url)
        shown = redact_url(url)
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        payload = content.encode("utf-8")

        last_status: int | None = None
        reason = ""
        for attempt in range(1, max_attempts + 1):
            headers = self._post_headers(payload, idempotency_key)
            call = _Call("POST", headers, payload, timeout)
            try:
                answer = await self._attempt(target, call, attempt, last_status)
            except _NoAnswerError as exc:
                reason, delay = exc.reason, backoff_delay(attempt)
            else:
                last_status = answer.status
                if 200 <= answer.status < 300:
                    _log_delivered("POST", shown, answer.status, attempt)
                    return OutboundResult(answer.status, attempt, answer.body)
                if not is_retryable_status(answer.status):
                    raise OutboundError(
                        f"POST to {shown} was answered with HTTP {answer.status}",
                        attempts=attempt,
                        status=answer.status,
                    )
                reason = f"HTTP {answer.status}"
                asked = retry_after_delay(answer.retry_after)
                delay = backoff_delay(attempt) if asked is None else asked

            if attempt < max_attempts:
                logger.warning(
                    "POST %s attempt %d of %d failed (%s); retrying in %.2f s",
                    shown,
                    attempt,
                    max_attempts,
                    reason,
                    delay,
                )
                await self._sleep(delay)
        raise OutboundError(
            f"POST to {shown} failed after {max_attempts} attempts ({reason})",
            attempts=max_attempts,
            status=last_status,
        )

    async def get(
        self,
        url: str,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 (applied per attempt, see _attempt)
    ) -> OutboundResult:
        """One GET; any HTTP status is a result, only a network failure raises."""
        _check_limits(timeout, 1)
        target = _parse(url)
        shown = redact_url(url)
        call = _Call("GET", {"User-Agent": USER_AGENT}, None, timeout)

        try:
            answer = await self._attempt(target, call, 1, None)
        except _NoAnswerError as exc:
            raise OutboundError(
                f"GET {shown} failed ({exc.reason})", attempts=1
            ) from exc

        _log_delivered("GET", shown, answer.status, 1)
        return OutboundResult(answer.status, 1, answer.body)

    def _post_headers(self, payload: bytes, idempotency_key: str) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            "User-Agent": USER_AGENT,
        }
        if self._secret is not None:
            headers["X-Signature"] = _signature(self._secret, payload)
        return headers

    async def _attempt(
        self, target: Target, call: _Call, attempt: int, last_status: int | None
    ) -> _Answer:
        # The deadline covers the lookup and the whole exchange, so a server
        # that trickles bytes cannot hold an attempt open past the timeout.
        try:
            async with asyncio.timeout(call.seconds):
                address = await self._checked_address(target, attempt, last_status)
                return await self._exchange(target, address, call)
        except TimeoutError as exc:
            raise _NoAnswerError("timed out") from exc
        except httpx.RequestError as exc:
            raise _NoAnswerError(type(exc).__name__) from exc

    async def _checked_address(
        self, target: Target, attempt: int, last_status: int | None
    ) -> str:
        """The address to connect to; raises OutboundError if the target is refused."""
        shown = redact_url(str(target.url))
        addresses = await self._addresses(target)

        refusal = self._refusal(target, addresses)
        if refusal is not None:
            logger.warning(
                "refused outbound call to %s (%s; addresses %s)",
                shown,
                refusal,
                ", ".join(addresses),
            )
            raise OutboundError(
                f"refused to call {shown}: {refusal}",
                attempts=attempt - 1,
                status=last_status,
            )
        return addresses[0]

    async def _addresses(self, target: Target) -> list[str]:
        if not target.is_name:
            return [target.host]
        try:
            addresses = await self._resolve(target.host.rstrip("."), target.port)
        except OSError as exc:
            raise _NoAnswerError("host name lookup failed") from exc
        if not addresses:
            raise _NoAnswerError("host name has no address")
        return addresses

    def _refusal(self, target: Target, addresses: list[str]) -> str | None:
        """Why the target may not be called, or None when it may."""
        parsed = [parse_address(text) for text in addresses]
        if any(address is None for address in parsed):
            return "the host resolved to something that is not an IP address"
        checked = [address for address in parsed if address is not None]
        if any(getattr(address, "scope_id", None) for address in checked):
            return "scoped IPv6 addresses are not supported"
        if any(is_metadata_address(address) for address in checked):
            return "cloud metadata addresses are never allowed"
        if self._allow_private:
            return None
        if _is_local_name(target.host):
            return "local host names are not allowed"
        if any(is_private_address(address) for address in checked):
            return "private, loopback and reserved addresses are not allowed"
        return None

    async def _exchange(self, target: Target, address: str, call: _Call) -> _Answer:
        # The URL carries the checked address, the Host header and TLS the
        # name: no second lookup happens, and certificates still verify.
        extensions: dict[str, Any] = {}
        if target.url.scheme == "https" and target.is_name:
            extensions["sni_hostname"] = target.host.rstrip(".")
        request = self._client.build_request(
            call.method,
            target.pinned_to(address),
            headers={**call.headers, "Host": target.host_header},
            content=call.payload,
            timeout=call.seconds,
            extensions=extensions,
        )

        response = await self._client.send(request, stream=True)
        try:
            body = await _read_body(response)
        finally:
            await response.aclose()
        return _Answer(response.status_code, body, response.headers.get("Retry-After"))


def _default_transport() -> httpx.AsyncHTTPTransport:
    # No keep-alive: the pool is keyed by address, so a kept connection whose
    # TLS was verified for one host name could be reused for another name
    # on the same address. Workflow calls are too rare to miss the reuse.
    return httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))


def _parse(url: str) -> Target:
    try:
        return parse_target(url)
    except ValueError as exc:
        raise OutboundError(f"refused to call {redact_url(url)}: {exc}") from exc


def _check_limits(timeout: float, max_attempts: int) -> None:
    if not timeout > 0:
        raise ValueError("timeout must be positive")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")


def _is_local_name(host: str) -> bool:
    name = host.rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def _signature(secret: bytes, payload: bytes) -> str:
    timestamp = str(int(time.time()))
    signed = timestamp.encode("ascii") + b"." + payload
    digest = hmac.new(secret, signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


async def _read_body(response: httpx.Response) -> str:
    # Read no more than the result keeps, whatever size the receiver sends.
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= BODY_READ_LIMIT_BYTES:
            break
    text = bytes(data[:BODY_READ_LIMIT_BYTES]).decode(
        response.encoding or "utf-8", errors="replace"
    )
    return text[:BODY_LIMIT_CHARS]


def _log_delivered(method: str, shown: str, status: int, attempts: int) -> None:
    logger.info(
        "%s %s answered HTTP %d after %d attempt(s)", method, shown, status, attempts
    )
