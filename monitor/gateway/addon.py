"""The gateway addon: decide every request with the policy, block with a page, record events.

Use it as a script (`mitmdump -s monitor/gateway/addon.py --set gateway_policy=...`) or through
`prevent-monitor proxy`, which loads the same `Gateway`. `Gateway` is made of one part per
concern, each written as a mitmproxy addon is (`mitmproxy/addons/*.py`), which share one small
`GatewayState` (`monitor.gateway.state`) and pass per-flow results in `flow.metadata`; mitmproxy
sees the one `Gateway`, which hands each hook to the parts that have it:

- `PolicyLoader` (`policyload.py`): the policy in force, its reloads and the status file;
- `EventRecording` (`recording.py`): the events store's writer, opened and closed;
- `Identification` (`who.py`): the device map and the trusted proxies;
- `TLSGuard` (`tlsguard.py`): CONNECT and SNI decisions before any TLS, and passthrough;
- `RequestFilter` (`requestfilter.py`): URL decisions, safe search, page scores, the block page.

Decisions are in memory (fine on the event loop); reloads run in a worker thread; events are
handed to the store's writer without waiting. A fault in any hook is logged, counted and
answered with `gateway_fail_mode` (closed by default: a "filter error" page); it never reaches
mitmproxy, so it never takes the proxy down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mitmproxy import connection, ctx, exceptions, http, tls
from mitmproxy.proxy import layer

from filters.live import LivePolicy
from monitor.events import EventSink
from monitor.gateway import options
from monitor.gateway.policyload import PolicyLoader
from monitor.gateway.recording import ContextRecording, EventRecording
from monitor.gateway.requestfilter import RequestFilter
from monitor.gateway.state import FAIL_MODES, GatewayState
from monitor.gateway.tlsguard import TLSGuard
from monitor.gateway.who import Identification
from monitor.policyreload import PolicyReloader

# Every hook a part answers. The gateway is one addon to mitmproxy (it has no `addons`
# attribute): mitmproxy walks every addon object, its children included, for every event of
# every request, and each object it visits costs it time whether or not it has the hook
# (profiled: seven objects cost ~100 µs a request, docs/benchmarks.md). So `Gateway` hands each
# hook to the parts that have it, from a table built once, in the parts' order.
LIFECYCLE_HOOKS = ("load", "configure", "running", "done")
FLOW_HOOKS = (
    "requestheaders", "responseheaders", "response", "error", "http_connect", "next_layer",
    "tls_clienthello", "tls_failed_client", "client_disconnected",
)  # fmt: skip


class Gateway:
    """The prevent-monitor gateway: its parts (one mitmproxy-style addon per concern, each
    hook handed to the parts that have it) and their state. `writer` replaces the store's
    writer (tests hand in a recorder)."""

    def __init__(self, writer: EventSink | None = None) -> None:
        self.state = GatewayState()
        self.policy_loader = PolicyLoader(self.state)
        self.recording = EventRecording(self.state, writer)
        self.tls = TLSGuard(self.state)
        self.requests = RequestFilter(self.state)
        # The order matters: the policy is loaded before the block page is made from it.
        self.parts: list[Any] = [
            self.policy_loader,
            self.recording,
            Identification(self.state),
            self.tls,
            self.requests,
            ContextRecording(self.state, self.tls),  # last: it logs each flow's final verdict
        ]
        self._on: dict[str, tuple[Callable[..., Any], ...]] = {
            name: tuple(getattr(p, name) for p in self.parts if hasattr(p, name))
            for name in (*LIFECYCLE_HOOKS, *FLOW_HOOKS)
        }

    def load(self, loader: Any) -> None:
        options.declare(loader, "gateway_fail_mode")  # every part's hooks answer by it
        for hook in self._on["load"]:
            hook(loader)

    def configure(self, updated: set[str]) -> None:
        if "gateway_fail_mode" in updated and ctx.options.gateway_fail_mode not in FAIL_MODES:
            raise exceptions.OptionsError(
                f"gateway_fail_mode {ctx.options.gateway_fail_mode!r}: use closed or open"
            )
        for hook in self._on["configure"]:
            hook(updated)

    def running(self) -> None:
        for hook in self._on["running"]:
            hook()

    def done(self) -> None:
        for hook in self._on["done"]:
            hook()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        for hook in self._on["requestheaders"]:
            hook(flow)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        for hook in self._on["responseheaders"]:
            hook(flow)

    async def response(self, flow: http.HTTPFlow) -> None:
        for hook in self._on["response"]:
            result = hook(flow)
            if result is not None:  # the page scan is a coroutine; the context log is not
                await result

    def error(self, flow: http.HTTPFlow) -> None:
        for hook in self._on["error"]:
            hook(flow)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        for hook in self._on["http_connect"]:
            hook(flow)

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        for hook in self._on["next_layer"]:
            hook(nextlayer)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        for hook in self._on["tls_clienthello"]:
            hook(data)

    def tls_failed_client(self, data: tls.TlsData) -> None:
        for hook in self._on["tls_failed_client"]:
            hook(data)

    def client_disconnected(self, client: connection.Client) -> None:
        for hook in self._on["client_disconnected"]:
            hook(client)

    # What health checks and tests look at.

    @property
    def live(self) -> LivePolicy | None:
        return self.state.live

    @property
    def reloader(self) -> PolicyReloader | None:
        return self.policy_loader.reloader

    @property
    def faults(self) -> int:
        return self.state.faults

    @property
    def writer(self) -> Any:
        """The store's writer the gateway opened (None when handed one, or when not storing)."""
        return self.recording.writer


addons = [Gateway()]
