"""A school network in three network namespaces, for testing the shipped nftables rules for real.

    pupil ─ eth0 10.20.0.2 ══ eth1 10.20.0.1 ─ gateway ─ eth2 198.19.1.1 ══ eth0 198.19.1.2 ─ net

`pupil` is a device on the school's LAN; `gateway` is the school's router, where the rules and
the gateway processes run (its LAN interface is called `eth1`, as `deploy/prevent-monitor.nft`
expects, so the file loads unchanged); `net` stands in for the internet (198.18.0.0/15, the
benchmarking range). Both veth pairs are made with each end already inside a namespace of the
lab, so no interface, address, route or rule is ever added to the host's own namespace, and
nothing in the lab has a way out of it. `Lab.close()` deletes every namespace it made.

`inside(ns)` moves the calling thread (only it) into a namespace for a moment: a socket made
there stays there, so the test talks from the pupil's device and listens on the internet's
side from one process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

NETNS_DIR = Path("/run/netns")
PREFIX = "pmtest"

PUPIL_IP, GATEWAY_LAN_IP = "10.20.0.2", "10.20.0.1"
GATEWAY_WAN_IP, ORIGIN_IP = "198.19.1.1", "198.19.1.2"


def ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def in_namespace(ns: str, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a command inside namespace `ns` (ip netns exec), its output captured."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=60
    )


def why_not_available() -> str | None:
    """Why this machine cannot build the lab (None: it can)."""
    if os.geteuid() != 0:
        return "needs root, to create network namespaces and load nftables rules"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install {package})"
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        ip("netns", "add", probe)
    except RuntimeError as exc:
        return f"cannot create a network namespace here: {exc}"
    try:
        listed = in_namespace(probe, ["nft", "list", "ruleset"])
        if listed.returncode != 0:
            return f"nftables does not work in a network namespace here: {listed.stderr.strip()}"
    finally:
        ip("netns", "delete", probe)
    return None


def remove_stale_namespaces() -> None:
    """What an earlier run of these tests left when it was killed (its pid, in the names, is
    gone): its namespaces, and the gateway processes it had started in them."""
    if not NETNS_DIR.is_dir():
        return
    for path in NETNS_DIR.glob(f"{PREFIX}*-*"):
        pid = path.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with suppress(RuntimeError):
                for orphan in ip("netns", "pids", path.name).split():
                    with suppress(ProcessLookupError):
                        os.kill(int(orphan), signal.SIGKILL)
                ip("netns", "delete", path.name)


def host_network_state() -> dict[str, str]:
    """What the host's own namespace has: links, addresses, routes, rules, forwarding."""
    state = {
        "links": ip("-o", "link", "show"),
        "addresses": ip("-o", "address", "show"),
        "routes": ip("route", "show", "table", "all"),
        "routes6": ip("-6", "route", "show", "table", "all"),
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text(),
    }
    state["nftables"] = subprocess.run(
        ["nft", "list", "ruleset"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return state


@contextmanager
def inside(ns: str) -> Iterator[None]:
    """Run the body in namespace `ns`: sockets made here belong to it for good."""
    with open("/proc/thread-self/ns/net") as own, open(NETNS_DIR / ns) as target:
        os.setns(target.fileno(), os.CLONE_NEWNET)
        try:
            yield
        finally:
            os.setns(own.fileno(), os.CLONE_NEWNET)


@dataclass
class Lab:
    """The three namespaces; `close()` deletes them (and so every link and rule in them)."""

    tag: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}")
    made: list[str] = field(default_factory=list)

    @property
    def pupil(self) -> str:
        return f"{self.tag}-pupil"

    @property
    def gateway(self) -> str:
        return f"{self.tag}-gw"

    @property
    def net(self) -> str:
        return f"{self.tag}-net"

    def build(self) -> None:
        for ns in (self.pupil, self.gateway, self.net):
            ip("netns", "add", ns)
            self.made.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        gw = self.gateway
        for dev, peer in (("eth1", self.pupil), ("eth2", self.net)):
            ip("-n", gw, "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", peer)
        for ns, dev, address in (
            (gw, "eth1", f"{GATEWAY_LAN_IP}/24"),
            (gw, "eth2", f"{GATEWAY_WAN_IP}/24"),
            (self.pupil, "eth0", f"{PUPIL_IP}/24"),
            (self.net, "eth0", f"{ORIGIN_IP}/24"),
        ):
            ip("-n", ns, "address", "add", address, "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
        ip("-n", self.pupil, "route", "add", "default", "via", GATEWAY_LAN_IP)
        ip("-n", self.net, "route", "add", "default", "via", GATEWAY_WAN_IP)
        forwarding = in_namespace(gw, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        assert forwarding.returncode == 0, forwarding.stderr

    def nft(self, *args: str) -> str:
        """`nft ARGS` in the gateway's namespace."""
        result = in_namespace(self.gateway, ["nft", *args])
        assert result.returncode == 0, f"nft {' '.join(args)}: {result.stderr}"
        return result.stdout

    def close(self) -> None:
        for ns in reversed(self.made):
            with suppress(RuntimeError):
                ip("netns", "delete", ns)
        self.made.clear()

    def left_behind(self) -> list[str]:
        return [ns for ns in (self.pupil, self.gateway, self.net) if (NETNS_DIR / ns).exists()]
