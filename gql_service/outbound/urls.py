"""Checking outbound URLs, showing them safely, and pinning them to an address."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from gql_service.outbound.addresses import parse_address

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
INVALID_URL = "<invalid URL>"

# Letters, digits, '-' and '_' per label; IDN hosts arrive here as punycode.
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$")


@dataclass(frozen=True)
class Target:
    """A checked URL split into what the SSRF rule and the pinning need."""

    url: httpx.URL
    host: str
    port: int

    @property
    def host_header(self) -> str:
        return self.url.netloc.decode("ascii")

    @property
    def is_name(self) -> bool:
        return parse_address(self.host) is None

    def pinned_to(self, address: str) -> httpx.URL:
        """The same URL with its host replaced by an address already checked."""
        return self.url.copy_with(host=address)


def parse_target(url: str) -> Target:
    """Parse ``url``; raise ValueError unless it is http(s) with a valid host."""
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError("not a valid URL") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise ValueError("only http and https URLs are allowed")

    host = parsed.raw_host.decode("ascii").lower()
    if not host:
        raise ValueError("the URL has no host")
    if parse_address(host) is None and not _HOST_NAME.match(host):
        raise ValueError("the URL host is not a valid host name")
    if port is not None and not 0 < port < 65536:
        raise ValueError("the URL port is out of range")
    return Target(url=parsed, host=host, port=port or DEFAULT_PORTS[parsed.scheme])


def check_url(url: str) -> None:
    """Raise ValueError unless ``url`` is http(s) with a host."""
    parse_target(url)


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: no user, path, query or fragment."""
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, TypeError):
        return INVALID_URL
    if not parsed.scheme.isalnum():
        return INVALID_URL
    host = parsed.raw_host.decode("ascii").lower()
    if ":" in host:
        host = f"[{host}]"
    suffix = f":{port}" if port is not None else ""
    return f"{parsed.scheme}://{host}{suffix}"
