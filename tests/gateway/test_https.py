"""The TLS addon's hooks (CONNECT, SNI, raw forwarding, passthrough) and the gateway's own
hosts, with mitmproxy's own test kit (taddons, tflow)."""

from __future__ import annotations

import ssl

import pytest
from mitmproxy import http, tls
from mitmproxy.proxy import commands, context, events, layer, layers
from mitmproxy.proxy.layers.tls import parse_client_hello
from mitmproxy.test import taddons, tflow

from monitor.gateway.addon import Gateway
from monitor.gateway.blockpage import own_hosts
from monitor.gateway.tlsguard import Refusal
from tests.gateway.kit import Recorder, configured, request_flow

NOT_INTERCEPTED = {"ignore_hosts": [".*"]}  # what gateway.intercept_tls: false sets


def connect_flow(host: str) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request.method = "CONNECT"
    flow.request.authority = f"{host}:443"
    flow.request.host = host
    return flow


def test_connect_to_blocked_host_is_accepted_when_intercepted(
    gateway: Gateway, recorder: Recorder
) -> None:
    """The request inside gets the block page (and the event), as over plain HTTP."""
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        for host in ("extremist.test", "allowed.test", "watched.test", "192.0.2.66"):
            flow = connect_flow(host)
            gateway.tls.http_connect(flow)
            assert flow.response is None, host
        assert recorder.events == []  # recorded per request once intercepted, not at CONNECT
        inside = request_flow("https://extremist.test/page")
        gateway.requests.requestheaders(inside)
        assert inside.response is not None and b"This page is blocked" in inside.response.content


@pytest.mark.parametrize(
    "options", [NOT_INTERCEPTED, {"gateway_passthrough": ["extremist.test", "192.0.2.66"]}]
)
def test_connect_to_blocked_host_is_refused_when_not_intercepted(
    gateway: Gateway, recorder: Recorder, options: dict[str, object]
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, **options)
        blocked = connect_flow("extremist.test")
        literal = connect_flow("192.0.2.66")  # a listed IP literal, as over plain HTTP
        allowed = connect_flow("allowed.test")
        for flow in (blocked, literal, allowed):
            gateway.tls.http_connect(flow)
        assert allowed.response is None
        assert [(e.action, e.host, e.category) for e in recorder.events] == [
            ("block", "extremist.test", "extremism"),
            ("block", "192.0.2.66", "extremism"),
        ]
        for flow, event in zip((blocked, literal), recorder.events, strict=True):
            assert flow.response is not None and flow.response.status_code == 403
            assert flow.response.headers["content-type"].startswith("text/plain")
            assert f"Reference {event.id}." in flow.response.text  # type: ignore[operator]


def test_connect_to_recorded_passthrough_host_is_recorded(
    gateway: Gateway, recorder: Recorder
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_passthrough=["watched.test"])
        gateway.tls.http_connect(connect_flow("www.watched.test"))
        assert [(e.action, e.host) for e in recorder.events] == [("study", "www.watched.test")]


def client_hello(sni: str) -> bytes:
    context_ = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    connection = context_.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        connection.do_handshake()
    return outgoing.read()


def next_layer_for(tctx: taddons.context, data: bytes) -> layer.NextLayer:
    client = tflow.tclient_conn()
    client.peername = ("192.168.1.20", 40000)
    ctx = context.Context(client, tctx.options)
    nextlayer = layer.NextLayer(ctx)
    nextlayer.events = [events.DataReceived(client, data)]
    return nextlayer


def test_blocked_sni_is_refused_before_tls_when_not_intercepted(
    gateway: Gateway, recorder: Recorder
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, **NOT_INTERCEPTED)
        blocked = next_layer_for(tctx, client_hello("extremist.test"))
        allowed = next_layer_for(tctx, client_hello("allowed.test"))
        partial = next_layer_for(tctx, client_hello("extremist.test")[:20])
        for nextlayer in (blocked, allowed, partial):
            gateway.tls.next_layer(nextlayer)
        assert isinstance(blocked.layer, Refusal)
        assert allowed.layer is None and partial.layer is None
        [event] = recorder.events
        assert (event.action, event.host) == ("block", "extremist.test")
        commands_ = list(blocked.layer.handle_event(events.Start()))
        assert isinstance(commands_[0], commands.CloseConnection)


def test_blocked_sni_is_intercepted_for_the_block_page(
    gateway: Gateway, recorder: Recorder
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        nextlayer = next_layer_for(tctx, client_hello("extremist.test"))
        gateway.tls.next_layer(nextlayer)
        assert nextlayer.layer is None and recorder.events == []  # mitmproxy's TLS layer next


def test_raw_forwarding_to_a_blocked_host_is_refused(
    gateway: Gateway, recorder: Recorder
) -> None:
    """Not HTTP inside the tunnel: no page can be shown, so it is never forwarded."""
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        for host, refused in (("extremist.test", True), ("allowed.test", False)):
            nextlayer = next_layer_for(tctx, b"\x00\x01binary")
            nextlayer.context.server.address = (host, 443)
            nextlayer.layer = layers.TCPLayer(nextlayer.context)
            gateway.tls.next_layer(nextlayer)
            assert isinstance(nextlayer.layer, Refusal) is refused, host
        assert [(e.action, e.host) for e in recorder.events] == [("block", "extremist.test")]


def test_a_device_without_the_ca_is_recorded_for_a_blocked_host(
    gateway: Gateway, recorder: Recorder
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        for sni in ("extremist.test", "allowed.test"):
            client = tflow.tclient_conn()
            client.sni = sni
            gateway.tls.tls_failed_client(tls.TlsData(None, context.Context(client, tctx.options)))  # type: ignore[arg-type]
        assert [(e.action, e.host) for e in recorder.events] == [("block", "extremist.test")]


def test_passthrough_hosts_are_not_intercepted(gateway: Gateway) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_passthrough=["bank.test"])
        client = tflow.tclient_conn()
        ctx = context.Context(client, tctx.options)
        for sni, ignored in (("online.bank.test", True), ("notbank.test", False)):
            hello = parse_client_hello(client_hello(sni))
            assert hello is not None
            data = tls.ClientHelloData(ctx, hello)
            gateway.tls.tls_clienthello(data)
            assert data.ignore_connection is ignored


def test_a_fault_at_the_client_hello_refuses_the_connection(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never passed through unseen: refused at the next layer, before any request is read."""

    def broken(host: str) -> bool:
        raise RuntimeError("a bug in the passthrough list")

    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_passthrough=["bank.test"])
        monkeypatch.setattr(gateway.tls, "passes_through", broken)
        nextlayer = next_layer_for(tctx, b"GET / HTTP/1.1\r\n")
        hello = parse_client_hello(client_hello("online.bank.test"))
        assert hello is not None
        data = tls.ClientHelloData(nextlayer.context, hello)
        gateway.tls.tls_clienthello(data)
        assert data.ignore_connection is False and gateway.faults == 1
        gateway.tls.next_layer(nextlayer)
        assert isinstance(nextlayer.layer, Refusal)
        assert gateway.tls.refused == set()  # once only


def test_a_fault_at_the_client_hello_decrypts_when_failing_open(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(host: str) -> bool:
        raise RuntimeError("a bug in the passthrough list")

    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_passthrough=["bank.test"], gateway_fail_mode="open")
        monkeypatch.setattr(gateway.tls, "passes_through", broken)
        hello = parse_client_hello(client_hello("online.bank.test"))
        assert hello is not None
        data = tls.ClientHelloData(context.Context(tflow.tclient_conn(), tctx.options), hello)
        gateway.tls.tls_clienthello(data)
        assert data.ignore_connection is False and gateway.faults == 1
        assert gateway.tls.refused == set()


# --- the gateway's own hosts ---------------------------------------------------------------


def test_own_hosts_come_from_the_review_url_and_the_setting() -> None:
    assert own_hosts("https://Console.Example.:8470/request-review") == {"console.example"}
    assert own_hosts("", ["blockpage.example", " "]) == {"blockpage.example"}
    assert own_hosts("not a url") == frozenset()


def test_the_review_link_is_never_filtered_unwrapped_or_recorded(
    gateway: Gateway, recorder: Recorder
) -> None:
    with taddons.context(gateway) as tctx:
        configured(
            tctx,
            gateway,
            gateway_review_url="https://console.example/request-review",
            gateway_own_hosts=["blockpage.example"],
        )
        review = "https://console.example/request-review?url=http%3A%2F%2Fextremist.test%2F&ref=1"
        for url in (review, "http://blockpage.example/?u=http://extremist.test/"):
            flow = request_flow(url)
            gateway.requests.requestheaders(flow)
            assert flow.response is None, url
        connect = connect_flow("console.example")
        gateway.tls.http_connect(connect)
        assert connect.response is None and recorder.events == []
        # An own host named only in the Host header does not let another server through.
        smuggled = request_flow("http://extremist.test/")
        smuggled.request.host_header = "console.example"
        gateway.requests.requestheaders(smuggled)
        assert smuggled.response is not None and smuggled.response.status_code == 403
