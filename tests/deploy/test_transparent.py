"""Transparent mode for real: the shipped nftables rules in front of two real gateway processes.

A pupil's device, the school's gateway and "the internet" are three network namespaces
(`netlab`); `deploy/prevent-monitor.nft` is loaded, as shipped, in the gateway's, and two
`prevent-monitor proxy` processes run there in transparent mode. The pupil connects straight
to web servers on the internet, knowing nothing of any proxy; the tests check what the rules
promise: HTTP and HTTPS are redirected and decided (HTTPS by its SNI), QUIC and DNS-over-TLS
never leave the school, staff devices in `staff_bypass` pass untouched, new connections alternate
between the two processes (`numgen`), and the pupil cannot reach a gateway port directly.
Everything happens in namespaces the test made and deletes: the host's own links, routes and
nftables are compared before, during and after.

Needs root, iproute2 and nftables; skipped, with the reason, without them.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.gateways import Gateway, Pupil, events, start_gateway, write_config
from tests.deploy.internet import OPEN_PORT, PASSTHROUGH, Internet
from tests.deploy.netlab import (
    GATEWAY_LAN_IP,
    GATEWAY_WAN_IP,
    PUPIL_IP,
    Lab,
    host_network_state,
    ip,
    remove_stale_namespaces,
    why_not_available,
)

pytestmark = pytest.mark.e2e

RULES = Path(__file__).parents[2] / "deploy" / "prevent-monitor.nft"
DECISIONS = "prevent_monitor_decisions_total"


@dataclass
class School:
    lab: Lab
    internet: Internet
    gateways: list[Gateway]
    pupil: Pupil
    database: Path
    host_before: dict[str, str]


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> Iterator[School]:
    reason = why_not_available()
    if reason:
        pytest.skip(reason)
    remove_stale_namespaces()
    host_before = host_network_state()
    folder = tmp_path_factory.mktemp("transparent")
    lab = Lab()
    internet = Internet(lab.net, folder)
    gateways: list[Gateway] = []
    try:
        lab.build()
        lab.nft("-f", str(RULES))
        internet.start()
        config = write_config(folder)
        # As the guide does it: gateway@0 (which makes the CA and the store), then gateway@1.
        for instance in (0, 1):
            gateways.append(start_gateway(lab.gateway, config, instance))
            gateways[-1].wait_ready()
        pupil = Pupil(lab.pupil, ca=folder / "data" / "mitmproxy" / "mitmproxy-ca-cert.pem")
        yield School(lab, internet, gateways, pupil, folder / "events.sqlite", host_before)
    finally:
        for gateway in gateways:
            gateway.stop()
        internet.stop()
        lab.close()
    assert lab.left_behind() == [], "namespaces left behind"
    assert host_network_state() == host_before, "the host's own network changed"


def test_the_rules_reload_in_place(school: School) -> None:
    """Loading the file again (after an edit) replaces the table; it never adds rules twice."""
    once = school.lab.nft("list", "ruleset")
    assert "numgen inc mod 2" in once and 'iifname "eth1"' in once
    school.lab.nft("-f", str(RULES))
    assert school.lab.nft("list", "ruleset") == once


def test_http_is_redirected_and_decided(school: School) -> None:
    internet, pupil = school.internet, school.pupil
    status, body = pupil.get("allowed.test", "/lesson")
    assert (status, body) == (200, "origin says hello: /lesson")
    # The origin was reached by the gateway, not by the pupil: the request went through it.
    assert ("allowed.test", GATEWAY_WAN_IP) in internet.seen
    status, page = pupil.get("www.extremist.test", "/join")
    assert status == 403 and "This page is blocked" in page
    assert "www.extremist.test" not in internet.hosts()
    [event] = events(school.database, "host = 'www.extremist.test'")
    # numgen's redirect keeps the device's own address (HAProxy would hide it).
    assert (event["action"], event["client_ip"], event["group_name"]) == (
        "block",
        PUPIL_IP,
        "pupils",
    )
    assert event["event_id"] in page


def test_https_is_redirected_intercepted_and_decided(school: School) -> None:
    """Every HTTPS site is at the same address here: only the SNI tells them apart."""
    internet, pupil = school.internet, school.pupil
    # Verified against the school's CA: the gateway, not the origin, answered the handshake.
    status, body = pupil.get("allowed.test", "/secure", https=True)
    assert (status, body) == (200, "origin says hello: /secure")
    assert ("allowed.test", GATEWAY_WAN_IP) in internet.seen
    status, page = pupil.get("news.extremist.test", "/", https=True)
    assert status == 403 and "This page is blocked" in page
    assert "news.extremist.test" not in internet.hosts()
    [event] = events(school.database, "host = 'news.extremist.test'")
    assert (event["action"], event["client_ip"]) == ("block", PUPIL_IP)


def test_https_not_decrypted_is_decided_by_its_sni_alone(school: School) -> None:
    """Passthrough hosts: the gateway sees only the ClientHello and the original destination."""
    internet, pupil = school.internet, school.pupil
    # Verified against the origin's own certificate: the TLS went through untouched.
    status, body = pupil.get(PASSTHROUGH, "/account", https=True, trust=internet.certificate)
    assert (status, body) == (200, "origin says hello: /account")
    assert (PASSTHROUGH, GATEWAY_WAN_IP) in internet.seen
    with pytest.raises((ssl.SSLError, ConnectionError)):  # refused before any TLS
        pupil.get("doh-resolver.test", "/dns-query", https=True, trust=internet.certificate)
    assert "doh-resolver.test" not in internet.hosts()
    [event] = events(school.database, "host = 'doh-resolver.test'")
    assert (event["action"], event["kind"], event["client_ip"]) == (
        "block",
        "circumvention",
        PUPIL_IP,
    )


def test_quic_and_dns_over_tls_never_leave_the_school(school: School) -> None:
    internet, pupil = school.internet, school.pupil
    for port in (443, 853):  # QUIC, DNS-over-TLS over UDP: refused at once (ICMP)
        with pupil.datagram(port) as sock, pytest.raises(ConnectionRefusedError):
            sock.recv(100)
    with pytest.raises(ConnectionRefusedError):  # DNS-over-TLS: a TCP reset
        pupil.connect(853)
    # The same path carries anything else, so nothing above was lost on the way.
    pupil.datagram(OPEN_PORT).close()
    pupil.connect(OPEN_PORT).close()
    deadline = time.monotonic() + 5
    while not (internet.udp[OPEN_PORT] and internet.tcp[OPEN_PORT]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (internet.udp[OPEN_PORT], internet.tcp[OPEN_PORT]) == (1, 1)
    assert (internet.udp[443], internet.udp[853], internet.tcp[853]) == (0, 0, 0)


def test_numgen_spreads_new_connections_over_both_gateways(school: School) -> None:
    before = [gateway.metric(DECISIONS) for gateway in school.gateways]
    for n in range(40):
        assert school.pupil.get("allowed.test", f"/spread/{n}")[0] == 200
    after = [gateway.metric(DECISIONS) for gateway in school.gateways]
    shares = [int(b - a) for a, b in zip(before, after, strict=True)]
    assert shares == [20, 20]  # `numgen inc`: each new connection goes to the next process


def test_staff_bypass_devices_are_not_intercepted(school: School) -> None:
    lab, pupil = school.lab, school.pupil
    host = "research.extremist.test"  # blocked for pupils
    lab.nft("add", "element", "inet", "prevent_monitor", "staff_bypass", f"{{ {PUPIL_IP} }}")
    try:
        status, _ = pupil.get(host, "/staff")
        assert status == 200  # routed, not redirected: the origin saw the device itself
        assert (host, PUPIL_IP) in school.internet.seen
    finally:
        lab.nft("delete", "element", "inet", "prevent_monitor", "staff_bypass", f"{{ {PUPIL_IP} }}")
    assert pupil.get(host, "/staff")[0] == 403  # out of the set: filtered again


def test_a_gateway_port_cannot_be_reached_directly(school: School) -> None:
    """In transparent mode a connection made straight to 8080 has itself as its destination:
    mitmproxy would connect to itself again and again. Only redirected connections get in."""
    for gateway in school.gateways:
        with pytest.raises(TimeoutError):
            school.pupil.connect(gateway.port, host=GATEWAY_LAN_IP, timeout=1)
    assert school.pupil.get("allowed.test", "/still-up")[0] == 200


def test_the_host_network_is_untouched(school: School) -> None:
    """While the lab runs: the host's links, routes and rules are as they were, and each lab
    interface's peer is in another lab namespace (no way out to the host or the internet)."""
    assert host_network_state() == school.host_before
    lab = school.lab
    peers = {lab.pupil: {lab.gateway}, lab.gateway: {lab.pupil, lab.net}, lab.net: {lab.gateway}}
    for ns, expected in peers.items():
        links = [
            line for line in ip("-n", ns, "-o", "link", "show").splitlines() if ": lo:" not in line
        ]
        found = {line.partition(" link-netns ")[2].split(" ")[0] for line in links}
        assert found == expected, links
