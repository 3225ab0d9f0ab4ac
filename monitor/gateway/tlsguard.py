"""The TLS addon: decide a connection by its host name, before any TLS where it cannot be seen.

- `http_connect` (regular proxy mode): a CONNECT to a blocked host that will be intercepted is
  accepted: TLS is terminated with the school's CA and the request inside gets the block page
  (`RequestFilter`), exactly as over plain HTTP. A blocked host that will not be intercepted (a
  passthrough host, or `ignore_hosts`, as `gateway.intercept_tls: false` sets) is refused with
  a 403 naming the reference, before any TLS, and recorded. A CONNECT to a recorded passthrough
  host is recorded here, as nothing inside it will be seen.
- `next_layer`: a TLS ClientHello whose SNI is blocked and will not be intercepted
  (transparent mode, or a tunnel whose SNI differs from its CONNECT) is refused before any TLS;
  and raw TCP/UDP forwarding to a blocked host (not HTTP, so no block page can be shown inside)
  is refused, never opened.
- `tls_failed_client`: a device that does not trust the school's CA fails the handshake with a
  blocked host; the attempt is recorded by the host name all the same.
- `tls_clienthello`: hosts that must not be intercepted (`gateway_passthrough`: banking,
  health) pass through as they are. A fault here never passes a connection through: in closed
  mode it is refused right after the handshake (`next_layer`), before any request is read.

The school's own prevent-monitor hosts (`GatewayState.own_hosts`) are never decided here.
mitmproxy's `connection_strategy` is kept at `lazy`: eager connections would reach a blocked
upstream before its name is decided, and with it a blocked host's upstream is never contacted.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from mitmproxy import connection, ctx, http, tls
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import commands, events, layer, layers
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers.tls import parse_client_hello

from filters.decision import Decision
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
        # mitmproxy's own ignore_hosts / allow_hosts: what it will not decrypt
        self.ignore: list[re.Pattern[str]] = []
        self.allow: list[re.Pattern[str]] = []
        # client connections whose ClientHello faulted: refused at their next layer
        self.refused: set[str] = set()

    def load(self, loader: Any) -> None:
        options.declare(loader, "gateway_passthrough")

    def configure(self, updated: set[str]) -> None:
        if "gateway_passthrough" in updated:
            self.passthrough = tuple(
                h.strip().lower().strip(".") for h in ctx.options.gateway_passthrough if h.strip()
            )
        if updated & {"ignore_hosts", "allow_hosts"}:
            self.ignore = [re.compile(x, re.IGNORECASE) for x in ctx.options.ignore_hosts]
            self.allow = [re.compile(x, re.IGNORECASE) for x in ctx.options.allow_hosts]
        if "connection_strategy" in updated and ctx.options.connection_strategy != "lazy":
            log.info("gateway: using connection_strategy=lazy so blocked hosts are never contacted")
            ctx.options.connection_strategy = "lazy"

    def passes_through(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == p or host.endswith("." + p) for p in self.passthrough)

    def intercepts(self, host: str, port: int) -> bool:
        """Whether mitmproxy will decrypt TLS to this host (as its next_layer decides), so a
        blocked one can be shown the block page inside rather than refused."""
        if self.passes_through(host):
            return False
        target = f"{host}:{port}"
        if self.allow and not any(rex.search(target) for rex in self.allow):
            return False
        return not any(rex.search(target) for rex in self.ignore)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return  # proxyauth may already have answered 407
        state = self.state
        host, port = flow.request.host, flow.request.port
        if state.is_own(host):
            return
        with state.guard(flow, "http_connect"):
            policy = state.policy()
            person = state.who(policy, flow)
            decision = policy.decide_host(host, user=person.user, group=person.group)
            state.count(decision)
            if not decision.recorded or self.intercepts(host, port):
                # Intercepted: each request inside is decided and recorded by its URL, and a
                # blocked one gets the block page; the upstream is never contacted for it.
                return
            event_id = state.record(decision, person)
            flow.metadata[METADATA_KEY] = Verdict(decision, person, event_id)
            if decision.blocks:
                flow.response = refusal(decision, event_id)

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        if self.refused and nextlayer.context.client.id in self.refused:
            self.refused.discard(nextlayer.context.client.id)  # a fault at tls_clienthello
            nextlayer.layer = Refusal(nextlayer.context)
            return
        if self.state.live is None:
            return
        try:
            self._decide_sni(nextlayer)
            if isinstance(nextlayer.layer, layers.TCPLayer | layers.UDPLayer):
                self._decide_raw(nextlayer)
        except Exception:
            self.state.fault("next_layer")
            if ctx.options.gateway_fail_mode == "closed":
                nextlayer.layer = Refusal(nextlayer.context)

    def _decide_sni(self, nextlayer: layer.NextLayer) -> None:
        data = nextlayer.data_client()
        if not starts_like_tls_record(data):
            return
        try:
            hello = parse_client_hello(data)
        except ValueError:
            return  # not TLS after all: mitmproxy's own next_layer decides
        if hello is None or not hello.sni:
            return  # more data to come (this hook is called again), or no name to decide
        server = nextlayer.context.server.address
        if self.state.is_own(hello.sni) or self.intercepts(hello.sni, server[1] if server else 443):
            return  # decrypted: the requests inside are decided, a blocked one gets the page
        if self._record_if_blocked(nextlayer.context, hello.sni):
            nextlayer.layer = Refusal(nextlayer.context)

    def _decide_raw(self, nextlayer: layer.NextLayer) -> None:
        """Raw forwarding (not HTTP, or not decrypted) shows no page: a blocked host is refused."""
        context = nextlayer.context
        server = context.server.address
        for name in (context.client.sni, server[0] if server else None):
            if name and self._record_if_blocked(context, name):
                nextlayer.layer = Refusal(context)
                return

    def _record_if_blocked(self, context: Context, host: str) -> bool:
        """Decide a host name where only the name is known; record it if it is blocked."""
        state = self.state
        if state.is_own(host):
            return False
        policy = state.policy()
        client = context.client
        # No headers and no proxy authentication before TLS: the address and the device map.
        person = identify(policy, state.devices, client.peername[0] if client.peername else None)
        decision = policy.decide_host(host, user=person.user, group=person.group)
        if not decision.blocks:
            return False
        state.count(decision)
        state.record(decision, person)
        log.info("gateway: refused a connection to %s (%s)", decision.host, decision.rule)
        return True

    def tls_failed_client(self, data: tls.TlsData) -> None:
        """A device without the school's CA fails the handshake with an intercepted host; a
        blocked one is recorded by its name all the same (no request inside will be)."""
        context = data.context
        server = context.server.address
        host = context.client.sni or (server[0] if server else None)
        if self.state.live is None or not host:
            return
        try:
            self._record_if_blocked(context, host)
        except Exception:
            self.state.fault("tls_failed_client")

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        sni = data.client_hello.sni
        if not sni or not self.passthrough:
            return
        try:
            if self.passes_through(sni):
                data.ignore_connection = True
        except Exception:
            # Never passed through unseen. This hook cannot replace the layer, so in closed
            # mode the connection is refused at the next one, right after the handshake,
            # before any request inside is read (open: it is decrypted and decided by URL).
            self.state.fault("tls_clienthello")
            data.ignore_connection = False
            if ctx.options.gateway_fail_mode == "closed":
                self.refused.add(data.context.client.id)

    def client_disconnected(self, client: connection.Client) -> None:
        self.refused.discard(client.id)


def refusal(decision: Decision, event_id: str) -> http.Response:
    """The answer to a CONNECT refused before TLS: a short text naming the reference. (Browsers
    show their own error for it; command-line clients and logs show this.)"""
    return http.Response.make(
        403,
        f"Blocked by the school's web filter: {decision.reason}. Reference {event_id}.\n".encode(),
        {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"},
    )
