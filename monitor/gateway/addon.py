"""The gateway addon: decide every request with the policy, block with a page, record events.

Use it as a script (`mitmdump -s monitor/gateway/addon.py --set gateway_policy=...`) or through
`prevent-monitor proxy`, which loads the same `Gateway`. `Gateway` is made of one addon per
concern, in the manner of mitmproxy's own (`mitmproxy/addons/*.py`), which share one small
`GatewayState` (`monitor.gateway.state`) and pass per-flow results in `flow.metadata`:

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

from typing import Any

from mitmproxy import ctx, exceptions

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


class Gateway:
    """The prevent-monitor gateway: its addons (mitmproxy runs each one's hooks) and their state.
    `writer` replaces the store's writer (tests hand in a recorder)."""

    def __init__(self, writer: EventSink | None = None) -> None:
        self.state = GatewayState()
        self.policy_loader = PolicyLoader(self.state)
        self.recording = EventRecording(self.state, writer)
        self.tls = TLSGuard(self.state)
        self.requests = RequestFilter(self.state)
        # The order matters: the policy is loaded before the block page is made from it.
        self.addons = [
            self.policy_loader,
            self.recording,
            Identification(self.state),
            self.tls,
            self.requests,
            ContextRecording(self.state, self.tls),  # last: it logs each flow's final verdict
        ]

    def load(self, loader: Any) -> None:
        options.declare(loader, "gateway_fail_mode")  # every addon's hooks answer by it

    def configure(self, updated: set[str]) -> None:
        if "gateway_fail_mode" in updated and ctx.options.gateway_fail_mode not in FAIL_MODES:
            raise exceptions.OptionsError(
                f"gateway_fail_mode {ctx.options.gateway_fail_mode!r}: use closed or open"
            )

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
