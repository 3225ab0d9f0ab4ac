"""Who is behind a request: the proxy-authenticated user, else the device map, else the address.

`identify()` holds that order, for the HTTP hooks and the TLS (SNI) hook alike.

The device map is IT staff's list of known machines: an address or a network (CIDR) to a device
name and, optionally, the user and the policy group (a library PC, a Year 13 laptop trolley).
It is a YAML file (`devices:` list of mappings) or a CSV file with the header
`address,device,user,group`. Bad lines are reported with file:line and stop start-up; a device
map is small and read once, so nothing here runs on the request path except `DeviceMap.lookup`,
which is cached per address.

X-Forwarded-For is believed only from the addresses listed as trusted proxies (a school's own
upstream cache or load balancer); from anyone else it is a pupil's header and is ignored.
"""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml

if TYPE_CHECKING:
    from filters.policy import Policy

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_CACHED_ADDRESSES = 65_536
MAX_FORWARDED_HOPS = 16  # a longer X-Forwarded-For chain is a forgery or a loop


class DeviceMapError(Exception):
    """The device map has problems; each names file:line and what to do."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("the device map has problems:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True, slots=True)
class Device:
    network: Network
    device: str
    user: str | None = None
    group: str | None = None


class Person(NamedTuple):
    """Who made a request, as far as the gateway can tell. `group` is set only when the device
    map names one; otherwise the policy works it out from the user and the address."""

    user: str | None
    device: str | None
    client_ip: str | None
    group: str | None = None


def parse_address(value: str | None) -> Address | None:
    """An address as a socket or a header gives it; IPv4-mapped IPv6 becomes IPv4."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def parse_networks(values: Iterable[str]) -> tuple[list[Network], list[str]]:
    """Addresses or CIDR networks (the trusted-proxies option), with a problem per bad one."""
    networks: list[Network] = []
    problems: list[str] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            problems.append(f"{value!r} is not an address or a network like 10.0.0.0/8")
    return networks, problems


class DeviceMap:
    """Addresses and networks to devices; the most specific entry wins."""

    def __init__(self, devices: Iterable[Device] = ()) -> None:
        self._exact: dict[Address, Device] = {}
        self._networks: list[Device] = []
        for device in devices:
            if device.network.num_addresses == 1:
                self._exact[device.network.network_address] = device
            else:
                self._networks.append(device)
        self._networks.sort(key=lambda d: d.network.prefixlen, reverse=True)
        self._cache: dict[str, Device | None] = {}

    def __len__(self) -> int:
        return len(self._exact) + len(self._networks)

    @classmethod
    def load(cls, path: str | Path) -> DeviceMap:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise DeviceMapError([f"{file}: cannot read it: {exc.strerror or exc}"]) from None
        if file.suffix.lower() == ".csv":
            devices, problems = _read_csv(file, text)
        else:
            devices, problems = _read_yaml(file, text)
        if problems:
            raise DeviceMapError(problems)
        return cls(devices)

    def lookup(self, client_ip: str | None) -> Device | None:
        if not client_ip or not len(self):
            return None
        try:
            return self._cache[client_ip]
        except KeyError:
            pass
        found = self._find(parse_address(client_ip))
        if len(self._cache) >= MAX_CACHED_ADDRESSES:
            self._cache.clear()
        self._cache[client_ip] = found
        return found

    def _find(self, address: Address | None) -> Device | None:
        if address is None:
            return None
        exact = self._exact.get(address)
        if exact is not None:
            return exact
        for device in self._networks:
            if address.version == device.network.version and address in device.network:
                return device
        return None


def _device(raw: dict[str, Any], where: str, problems: list[str]) -> Device | None:
    where_ip = raw.get("address") or raw.get("network")
    if not where_ip:
        problems.append(f"{where}: give the device's address or network (e.g. 10.0.5.23)")
        return None
    try:
        network = ipaddress.ip_network(str(where_ip).strip(), strict=False)
    except ValueError:
        problems.append(f"{where}: {where_ip!r} is not an address or a network like 10.13.0.0/16")
        return None
    unknown = set(raw) - {"address", "network", "device", "user", "group"}
    if unknown:
        problems.append(
            f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
            "use address/network, device, user, group"
        )
        return None
    device = str(raw.get("device") or "").strip() or str(network)
    user = str(raw.get("user") or "").strip() or None
    group = str(raw.get("group") or "").strip() or None
    return Device(network, device, user, group)


def _read_csv(file: Path, text: str) -> tuple[list[Device], list[str]]:
    problems: list[str] = []
    devices: list[Device] = []
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    lines = [(n, line) for n, line in lines if not line.lstrip().startswith("#")]
    if not lines:
        return [], []
    header = [h.strip().lower() for h in next(csv.reader([lines[0][1]]))]
    if "address" not in header and "network" not in header:
        problems.append(f"{file}:{lines[0][0]}: the first line must be a header like "
                        "address,device,user,group")
        return [], problems
    for number, line in lines[1:]:
        values = next(csv.reader([line]))
        if len(values) > len(header):
            problems.append(f"{file}:{number}: {len(values)} fields, the header has {len(header)}")
            continue
        raw = {key: value.strip() for key, value in zip(header, values, strict=False) if key}
        device = _device(raw, f"{file}:{number}", problems)
        if device is not None:
            devices.append(device)
    return devices, problems


def _read_yaml(file: Path, text: str) -> tuple[list[Device], list[str]]:
    try:
        loaded = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        return [], [f"{file}{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]
    if loaded is None:
        return [], []
    data = yaml.safe_load(text)
    entries = data.get("devices") if isinstance(data, dict) else None
    node = _devices_node(loaded)
    if not isinstance(entries, list) or node is None:
        return [], [f"{file}:1: expected `devices:` followed by a list of devices"]
    problems: list[str] = []
    devices: list[Device] = []
    for raw, item in zip(entries, node.value, strict=False):
        where = f"{file}:{item.start_mark.line + 1}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected a mapping like {{address: 10.0.5.23, device: pc1}}")
            continue
        device = _device(raw, where, problems)
        if device is not None:
            devices.append(device)
    return devices, problems


def _devices_node(root: yaml.Node) -> yaml.SequenceNode | None:
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "devices":
            return value if isinstance(value, yaml.SequenceNode) else None
    return None


def forwarded_client(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str | None:
    """The client address: the peer's, or (only when the peer is a trusted proxy) the nearest
    untrusted address in X-Forwarded-For, read right to left as each proxy appended it."""
    if not forwarded_for or not trusted:
        return peer
    address = parse_address(peer)
    if address is None or not _trusted(address, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")][-MAX_FORWARDED_HOPS:]
    for hop in reversed(hops):
        hop_address = parse_address(hop)
        if hop_address is None:
            return peer  # a garbled chain: believe only what we saw ourselves
        if not _trusted(hop_address, trusted):
            return str(hop_address)
    return peer


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in trusted)


def identify(
    policy: Policy,
    devices: DeviceMap,
    peer: str | None,
    *,
    user: str | None = None,
    forwarded_for: str | None = None,
    trusted: Sequence[Network] = (),
) -> Person:
    """Who is behind a request, and so which policy group decides it. In this order:

    1. `user`, the proxy-authenticated user name: it chooses the group;
    2. the client address: the peer's, or the X-Forwarded-For one when the peer is `trusted`;
    3. the device map's entry for that address: its device and user, and its group if the
       policy has it (else the policy's group for the device's user and the address);
    4. else the policy's group for the address alone.
    """
    if peer and peer.startswith("::ffff:"):
        peer = peer[7:]  # an IPv4 client of a dual-stack socket, recorded as IPv4
    client_ip = forwarded_client(peer, forwarded_for, trusted)
    device = devices.lookup(client_ip)
    if user:
        group = policy.group_for(user, (), client_ip)
    elif device is not None and device.group in policy.groups:
        group = device.group
    else:
        group = policy.group_for(device.user if device else None, (), client_ip)
    if device is None:
        return Person(user, None, client_ip, group)
    return Person(user or device.user, device.device, client_ip, group)
