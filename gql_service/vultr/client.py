"""An async client for the Vultr API v2 over httpx.

One client per process: it holds the connection pool, the rate limiter and
the request counter, and is closed with ``aclose()``. Every failure leaves it
as a ``VultrApiError`` (code UPSTREAM_UNAVAILABLE) whose message names the
method, path and status but never the API key, which only ever travels in
the Authorization header.

Retries: 429, 5xx and network errors are retried with exponential backoff
and jitter, waiting at least what ``Retry-After`` asks. Requests that must
not run twice (a snapshot, a reboot) are retried only when Vultr cannot have
acted on them: on 429 and when the connection was never made.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from gql_service.config import Settings
from gql_service.errors import UpstreamUnavailableError
from gql_service.vultr.cost import to_decimal
from gql_service.vultr.endpoints import ENDPOINTS, PLAN_ENDPOINTS, VultrKind
from gql_service.vultr.ratelimit import TokenBucket

logger = logging.getLogger(__name__)

# Vultr documents per_page as "Default is 100 and Max is 500".
MAX_PER_PAGE = 500
# A longer Retry-After would hold a GraphQL query far too long; fail instead.
MAX_RETRY_AFTER_SECONDS = 30.0
# A server that keeps sending cursors is broken; 10,000 pages is 5 M items.
MAX_PAGES = 10_000
MAX_ERROR_TEXT = 200
# Requests the connection never carried: safe to repeat even for a POST.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class VultrApiError(UpstreamUnavailableError):
    """Vultr failed, refused the key or answered nonsense.

    ``reason`` is one of key_refused, rate_limited, server_error, network,
    malformed, not_found, rejected; ``status`` is Vultr's HTTP status when
    it answered.
    """

    def __init__(self, message: str, *, reason: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class VultrClient:
    """Bearer-authenticated, paginating, retrying and rate-limited."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | str,
        *,
        timeout_seconds: float = 10.0,
        max_retries: int = 3,
        rate_limit_per_second: float = 20.0,
        per_page: int = MAX_PER_PAGE,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError("per_page must be between 1 and 500")
        self._key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.per_page = per_page
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        # Every HTTP request sent, retries included; tests and benchmarks read it.
        self.calls = 0
        self._bucket = TokenBucket(rate_limit_per_second)
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={
                "Authorization": "Bearer " + self._key.get_secret_value(),
                "Accept": "application/json",
                "User-Agent": "gql-service",
            },
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> VultrClient | None:
        """The configured client, or None when no API key is set."""
        if settings.vultr_api_key is None:
            return None
        return cls(
            settings.vultr_api_url,
            settings.vultr_api_key,
            timeout_seconds=settings.vultr_timeout_seconds,
            max_retries=settings.vultr_max_retries,
            rate_limit_per_second=settings.vultr_rate_limit_per_second,
        )

    def __repr__(self) -> str:
        return f"VultrClient(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def list_all(self, kind: VultrKind) -> list[dict[str, Any]]:
        """Every item of ``kind``, following the cursor through all pages."""
        endpoint = ENDPOINTS[kind]
        return await self._list_pages(endpoint.list_path, endpoint.list_key)

    async def get(self, kind: VultrKind, resource_id: str) -> dict[str, Any] | None:
        """One item, or None when Vultr answers that it does not exist."""
        if resource_id in {"", ".", ".."}:
            return None
        endpoint = ENDPOINTS[kind]
        path = f"{endpoint.get_path}/{quote(resource_id, safe='')}"
        response = await self._send("GET", path)
        if response.status_code == 404 and _is_vultr_error(response):
            return None
        body = self._checked_json("GET", path, response)
        if endpoint.get_key is None:
            return body
        return _enveloped(body, endpoint.get_key, "GET", path)

    async def list_plan_items(self) -> list[dict[str, Any]]:
        """The plan catalogues: compute, bare metal and managed databases."""
        items: list[dict[str, Any]] = []
        for path, key in PLAN_ENDPOINTS:
            items.extend(await self._list_pages(path, key))
        return items

    async def list_plans(self) -> dict[str, Decimal]:
        """Plan id -> monthly cost in USD, for every plan that states one."""
        plans: dict[str, Decimal] = {}
        for item in await self.list_plan_items():
            cost = to_decimal(item.get("monthly_cost"))
            if isinstance(item.get("id"), str) and cost is not None:
                plans[item["id"]] = cost
        return plans

    async def start_instance(self, instance_id: str) -> None:
        await self._instance_action(instance_id, "start", idempotent=True)

    async def halt_instance(self, instance_id: str) -> None:
        await self._instance_action(instance_id, "halt", idempotent=True)

    async def reboot_instance(self, instance_id: str) -> None:
        await self._instance_action(instance_id, "reboot", idempotent=False)

    async def create_snapshot(
        self, instance_id: str, description: str
    ) -> dict[str, Any]:
        """Start a snapshot of an instance; Vultr answers with the new snapshot."""
        payload = {"instance_id": instance_id, "description": description}
        response = await self._send(
            "POST", "/snapshots", json=payload, idempotent=False
        )
        body = self._checked_json("POST", "/snapshots", response)
        return _enveloped(body, "snapshot", "POST", "/snapshots")

    async def _instance_action(
        self, instance_id: str, action: str, *, idempotent: bool
    ) -> None:
        path = f"/instances/{quote(instance_id, safe='')}/{action}"
        response = await self._send("POST", path, idempotent=idempotent)
        self._raise_for_status("POST", path, response)

    async def _list_pages(self, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        cursor = ""
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"per_page": self.per_page}
            if cursor:
                params["cursor"] = cursor
            response = await self._send("GET", path, params=params)
            body = self._checked_json("GET", path, response)
            items.extend(_page_items(body, key, path))
            cursor = _next_cursor(body, path)
            if not cursor:
                return items
            if cursor in seen:
                raise _malformed("GET", path, "the same page cursor came back twice")
            seen.add(cursor)
        raise _malformed("GET", path, f"more than {MAX_PAGES} pages")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        json: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send with retries; the last answer is returned, a network error raised."""
        attempt = 0
        while True:
            await self._bucket.acquire()
            self.calls += 1
            try:
                response = await self._http.request(
                    method, path.lstrip("/"), params=params, json=json
                )
            except httpx.TransportError as exc:
                retry = idempotent or isinstance(exc, NOT_SENT_ERRORS)
                if not retry or attempt >= self.max_retries:
                    raise self._network_error(method, path, exc, attempt) from exc
                delay = self._backoff(attempt)
                outcome = type(exc).__name__
            except httpx.HTTPError as exc:
                raise self._network_error(method, path, exc, attempt) from exc
            else:
                wait = self._retry_delay(response, attempt, idempotent)
                if wait is None:
                    return response
                delay = wait
                outcome = str(response.status_code)
            attempt += 1
            logger.warning(
                "Vultr %s %s failed (%s); retry %d of %d in %.2fs",
                method,
                path,
                outcome,
                attempt,
                self.max_retries,
                delay,
            )
            await asyncio.sleep(delay)

    def _retry_delay(
        self, response: httpx.Response, attempt: int, idempotent: bool
    ) -> float | None:
        """How long to wait before retrying this answer, or None to stop."""
        status = response.status_code
        retryable = status == 429 or (status >= 500 and idempotent)
        if not retryable or attempt >= self.max_retries:
            return None
        delay = self._backoff(attempt)
        asked = _retry_after_seconds(response.headers.get("Retry-After"))
        if asked is None:
            return delay
        if asked > MAX_RETRY_AFTER_SECONDS:
            return None
        # At least what Vultr asked, plus a little jitter so that waiting
        # processes do not all come back in the same instant.
        return asked + random.uniform(0, self.backoff_base_seconds)  # noqa: S311

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2**attempt)
        # Jitter (not security): spread retries over the upper half.
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311

    def _checked_json(
        self, method: str, path: str, response: httpx.Response
    ) -> dict[str, Any]:
        self._raise_for_status(method, path, response)
        try:
            body = response.json()
        except ValueError as exc:
            raise _malformed(method, path, "the body is not JSON") from exc
        if not isinstance(body, dict):
            raise _malformed(method, path, "the body is not a JSON object")
        return body

    def _raise_for_status(
        self, method: str, path: str, response: httpx.Response
    ) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        where = f"{method} {path}"
        said = self._scrub(_error_text(response))
        suffix = f": {said}" if said else ""
        if status in (401, 403):
            raise VultrApiError(
                f"Vultr refused the API key (HTTP {status} on {where})",
                reason="key_refused",
                status=status,
            )
        if status == 429:
            raise VultrApiError(
                f"Vultr is rate limiting this API key (HTTP 429 on {where})",
                reason="rate_limited",
                status=status,
            )
        if status >= 500:
            raise VultrApiError(
                f"Vultr failed (HTTP {status} on {where}){suffix}",
                reason="server_error",
                status=status,
            )
        reason = "not_found" if status == 404 else "rejected"
        raise VultrApiError(
            f"Vultr rejected {where} (HTTP {status}){suffix}",
            reason=reason,
            status=status,
        )

    def _network_error(
        self, method: str, path: str, exc: httpx.HTTPError, attempt: int
    ) -> VultrApiError:
        return VultrApiError(
            f"Vultr could not be reached ({method} {path}: {type(exc).__name__} "
            f"after {attempt + 1} attempt(s))",
            reason="network",
        )

    def _scrub(self, text: str) -> str:
        # Vultr never echoes the key, but a proxy in between might.
        key = self._key.get_secret_value()
        return text.replace(key, "[redacted]") if key else text


def _malformed(method: str, path: str, why: str) -> VultrApiError:
    return VultrApiError(
        f"Vultr answered {method} {path} with a malformed body: {why}",
        reason="malformed",
    )


def _page_items(body: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
    items = body.get(key)
    if not isinstance(items, list):
        raise _malformed("GET", path, f"no {key!r} list")
    if not all(isinstance(item, dict) for item in items):
        raise _malformed("GET", path, f"{key!r} holds something other than objects")
    return items


def _next_cursor(body: dict[str, Any], path: str) -> str:
    """The next page's cursor; "" at the end (also when meta has no links)."""
    meta = body.get("meta")
    links = meta.get("links") if isinstance(meta, dict) else None
    cursor = links.get("next") if isinstance(links, dict) else None
    if cursor is None:
        return ""
    if not isinstance(cursor, str):
        raise _malformed("GET", path, "meta.links.next is not a string")
    return cursor


def _enveloped(
    body: dict[str, Any], key: str, method: str, path: str
) -> dict[str, Any]:
    item = body.get(key)
    if not isinstance(item, dict):
        raise _malformed(method, path, f"no {key!r} object")
    return item


def _is_vultr_error(response: httpx.Response) -> bool:
    """Whether the answer is Vultr's own JSON error (not a proxy's or a wrong URL's)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), str)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return error[:MAX_ERROR_TEXT] if isinstance(error, str) else ""


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
