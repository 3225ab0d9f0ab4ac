"""Which addresses a feed fetch may connect to, checked when connecting (and on every redirect).

A feed URL comes from a config file, and a feed server can redirect anywhere: without a check the
watcher could be made to fetch the gateway's own admin pages, a cloud metadata service
(169.254.169.254) or anything else inside the school. `AddressGuard.refusal(ip)` says why an
address is refused; `GuardedResolver` applies it to every DNS answer aiohttp uses to connect, so
a name that resolves to a private address is refused before any connection is made. aiohttp
does not resolve IP literals, so the fetcher checks those itself with the same guard.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

CGNAT = ipaddress.ip_network("100.64.0.0/10")


class RefusedAddress(OSError):
    """A feed (or a redirect) led to an address the watcher must not connect to."""


@dataclass(frozen=True, slots=True)
class AddressGuard:
    allow_private: bool = False
    allowed: tuple[Network, ...] = field(default_factory=tuple)

    def refusal(self, address: str | Address) -> str | None:
        """Why the watcher may not connect to `address`, or None when it may."""
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return f"{address!r} is not an IP address"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed if network.version == ip.version):
            return None
        if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
            return f"{ip} is not a host address"
        if self.allow_private:
            return None
        if ip.is_loopback:
            return f"{ip} is a loopback address"
        if ip.is_link_local:
            return f"{ip} is a link-local address (cloud metadata services live here)"
        if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
            return f"{ip} is a carrier-grade NAT address"
        if ip.is_private or not ip.is_global:
            return f"{ip} is a private address"
        return None

    def check_all(self, host: str, addresses: Iterable[str]) -> None:
        """Raise RefusedAddress when any answer is refused: one bad answer spoils the name
        (a rebinding trick mixes a public and a private answer)."""
        for address in addresses:
            why = self.refusal(address)
            if why:
                raise RefusedAddress(f"refused to connect to {host}: {why}")


def literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, with every answer checked by an `AddressGuard`."""

    def __init__(self, guard: AddressGuard, inner: AbstractResolver | None = None) -> None:
        self.guard = guard
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        self.guard.check_all(host, (answer["host"] for answer in answers))
        return answers

    async def close(self) -> None:
        await self._inner.close()


def guard_from(allow_private: bool, networks: Sequence[Network]) -> AddressGuard:
    return AddressGuard(allow_private=allow_private, allowed=tuple(networks))


def refusal_in(exc: BaseException | None) -> RefusedAddress | None:
    """The RefusedAddress behind an aiohttp connection error, if that is what it was."""
    seen: set[int] = set()
    current: Any = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RefusedAddress):
            return current
        seen.add(id(current))
        nested = getattr(current, "os_error", None)
        if isinstance(nested, RefusedAddress):
            return nested
        current = current.__cause__ or current.__context__
    return None
