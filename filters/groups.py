"""Which policy group a request belongs to: by user name, then directory group, then the
client's network, else the default group.

The answer is cached, keyed only by what the policy's groups look at. A policy with no group
of named users cannot change its answer with the user, and one with no networks cannot change
it with the client address. A gateway or Squid helper sees thousands of client addresses, so
keying by an address no group looks at would parse each one (about 10 µs) for nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from functools import lru_cache

from filters.policyspec import Group

MAX_CACHED = 65536


class GroupFinder:
    """Finds the group for (user, directory groups, client address), cached."""

    __slots__ = ("_by_directory", "_by_network", "_by_user", "_cache", "_default", "_groups")

    def __init__(self, groups: Mapping[str, Group], default: str) -> None:
        self._groups = tuple(groups.values())
        self._default = default
        self._by_user = any(group.users for group in self._groups)
        self._by_directory = any(group.directory_groups for group in self._groups)
        self._by_network = any(group.networks for group in self._groups)
        self._cache: dict[tuple[str | None, tuple[str, ...], str | None], str] = {}

    def find(
        self, user: str | None, directory_groups: Sequence[str], client_ip: str | None
    ) -> str:
        key = (
            user if self._by_user else None,
            tuple(directory_groups) if self._by_directory else (),
            client_ip if self._by_network else None,
        )
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        group = self._find(*key)
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[key] = group
        return group

    def fixed(self, directory_groups: Sequence[str]) -> str | None:
        """The group for these directory groups when no user name or client address can change
        it (no group names users or networks), else None."""
        if self._by_user or self._by_network:
            return None
        return self.find(None, directory_groups, None)

    def _find(
        self, user: str | None, directory_groups: Sequence[str], client_ip: str | None
    ) -> str:
        lowered_user = user.lower() if user else None
        if lowered_user:
            for group in self._groups:
                if lowered_user in group.users:
                    return group.name
        if directory_groups:
            wanted = {g.lower() for g in directory_groups}
            for group in self._groups:
                if wanted & group.directory_groups:
                    return group.name
        address = _address(client_ip)
        if address is not None:
            for group in self._groups:
                if any(address in network for network in group.networks):
                    return group.name
        return self._default


@lru_cache(maxsize=4096)
def _address(client_ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not client_ip:
        return None
    try:
        address = ipaddress.ip_address(client_ip.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address
