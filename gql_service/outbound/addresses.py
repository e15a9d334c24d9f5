"""Which addresses an outbound call may reach, and how a host name is resolved."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Refused even when private targets are allowed: no workflow has a reason to
# talk to the instance metadata service, and reaching it leaks credentials.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

# NOTE: Python 3.11 does not count 100.64.0.0/10 as private, only as
# not global, so it is listed here to keep the rule explicit.
CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def parse_address(text: str) -> IPAddress | None:
    """The address written in ``text``, or None when it is a host name."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_metadata_address(address: IPAddress) -> bool:
    return any(item in METADATA_ADDRESSES for item in _with_embedded(address))


def is_private_address(address: IPAddress) -> bool:
    """True for anything that is not a plain public unicast address."""
    return any(_is_private_single(item) for item in _with_embedded(address))


def _with_embedded(address: IPAddress) -> list[IPAddress]:
    # An IPv6 address can carry an IPv4 one that the host routes to (mapped,
    # NAT64, 6to4, Teredo), so both must pass.
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address in NAT64_PREFIX:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
    return found


def _is_private_single(address: IPAddress) -> bool:
    if address.version == 4 and address in CARRIER_GRADE_NAT:
        return True
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        # Newer Pythons move some special ranges out of is_private but keep
        # them out of is_global; refusing both keeps the rule the same.
        or not address.is_global
    )


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, looked up without blocking the loop."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
