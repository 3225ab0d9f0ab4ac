"""The TLS addon: decide a connection by its host name before any TLS, and pass some through.

- `http_connect` (regular proxy mode): a CONNECT to a blocked host is refused (403) before any
  TLS, and recorded; a CONNECT to a recorded passthrough host is recorded here, as nothing
  inside it will be seen.
- `next_layer`: a TLS ClientHello whose SNI is blocked (transparent mode, or a tunnel whose SNI
  differs from its CONNECT) is refused before any TLS; the upstream is never contacted.
- `tls_clienthello`: hosts that must not be intercepted (`gateway_passthrough`: banking,
  health) pass through as they are.

mitmproxy's `connection_strategy` is kept at `lazy`: eager connections would reach a blocked
upstream before its name is decided.
"""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy import ctx, http, tls
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.layers.tls import parse_client_hello

from monitor.gateway import options
from monitor.gateway.identity import identify
from monitor.gateway.state import METADATA_KEY, GatewayState, Verdict

log = logging.getLogger("prevent_monitor.gateway")


class Refusal(layer.Layer):
    """Closes the client connection at once: a blocked TLS connection, before any handshake.
    The ClientHello that was read is dropped, and no server connection is ever opened."""

    closed = False

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        if not self.closed:
            self.closed = True
            yield commands.CloseConnection(self.context.client)


class TLSGuard:
    """Host-name decisions for CONNECT and SNI, and the hosts never intercepted."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self.passthrough: tuple[str, ...] = ()

    def load(self, loader: Any) -> None:
        options.declare(loader, "gateway_passthrough")

    def configure(self, updated: set[str]) -> None:
        if "gateway_passthrough" in updated:
            self.passthrough = tuple(
                h.strip().lower().strip(".") for h in ctx.options.gateway_passthrough if h.strip()
            )
        if "connection_strategy" in updated and ctx.options.connection_strategy != "lazy":
            log.info("gateway: using connection_strategy=lazy so blocked hosts are never contacted")
            ctx.options.connection_strategy = "lazy"

    def passes_through(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == p or host.endswith("." + p) for p in self.passthrough)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return  # proxyauth may already have answered 407
        state = self.state
        with state.guard(flow, "http_connect"):
            policy = state.policy()
            person = state.who(policy, flow)
            decision = policy.decide_host(flow.request.host, group=person.group)
            state.count(decision)
            if not decision.recorded:
                return
            if not decision.blocks and not self.passes_through(flow.request.host):
                return  # intercepted: each request inside is decided and recorded by URL
            event_id = state.record(decision, person)
            flow.metadata[METADATA_KEY] = Verdict(decision, person, event_id)
            if decision.blocks:
                flow.response = http.Response.make(
                    403,
                    f"Blocked by the school's web filter: {decision.reason}. "
                    f"Reference {event_id}.\n".encode(),
                    {"Content-Type": "text/plain; charset=utf-8"},
                )

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        if self.state.live is None:
            return
        data = nextlayer.data_client()
        if not starts_like_tls_record(data):
            return
        try:
            hello = parse_client_hello(data)
        except ValueError:
            return  # not TLS after all: mitmproxy's own next_layer decides
        if hello is None or not hello.sni:
            return  # more data to come (this hook is called again), or no name to decide
        try:
            self._decide_sni(nextlayer, hello.sni)
        except Exception:
            self.state.fault("next_layer")
            if ctx.options.gateway_fail_mode == "closed":
                nextlayer.layer = Refusal(nextlayer.context)

    def _decide_sni(self, nextlayer: layer.NextLayer, sni: str) -> None:
        state = self.state
        policy = state.policy()
        client = nextlayer.context.client
        # No headers and no proxy authentication before TLS: the address and the device map.
        person = identify(policy, state.devices, client.peername[0] if client.peername else None)
        decision = policy.decide_host(sni, group=person.group)
        if not decision.blocks:
            return
        state.count(decision)
        state.record(decision, person)
        log.info("gateway: refused TLS to %s (%s)", decision.host, decision.rule)
        nextlayer.layer = Refusal(nextlayer.context)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        sni = data.client_hello.sni
        if sni and self.passthrough and self.passes_through(sni):
            data.ignore_connection = True
