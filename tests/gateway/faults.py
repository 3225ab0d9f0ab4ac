"""A test-only mitmproxy script: force a fault inside each of the gateway's hooks.

Loaded after the gateway addon (and `loopback.py`), it replaces, at load time, a function each
hook calls with one that raises for that hook's trigger host (`fault-<hook>.test`), and only
when called from that hook: production code has no fault switch. It also serves the gateway
process's own Prometheus registry on `faults_metrics_port` (`/metrics`), as
`prevent-monitor proxy` does, so a test can watch `prevent_monitor_filter_faults_total`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from aiohttp import web
from mitmproxy import ctx, http

from filters.policy import Policy
from monitor import metricsserver
from monitor.gateway import pagescan
from monitor.gateway.tlsguard import TLSGuard

# hook -> the host name that makes a function it calls raise
TRIGGERS = {
    "requestheaders": "fault-requestheaders.test",
    "responseheaders": "fault-responseheaders.test",
    "response": "fault-response.test",
    "http_connect": "fault-connect.test",
    "next_layer": "fault-sni.test",
    "tls_clienthello": "fault-hello.test",
    "tls_failed_client": "fault-tlsfail.test",
}


class ForcedFault(RuntimeError):
    """What the broken functions raise: a bug anywhere under a hook."""


def called_from(hook: str) -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == hook:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def breaks(original: Callable[..., Any], name_of: Callable[..., str]) -> Callable[..., Any]:
    """`original`, raising when the host it is about is a hook's trigger and that hook called."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        name = name_of(*args, **kwargs)
        for hook, trigger in TRIGGERS.items():
            if trigger in name and called_from(hook):
                raise ForcedFault(f"forced fault in {hook} for {trigger}")
        return original(*args, **kwargs)

    return broken


def _url(_policy: Policy, url: str, *args: Any, **kwargs: Any) -> str:
    return url


def _page_url(_policy: Policy, *args: Any, **kwargs: Any) -> str:
    return str(kwargs.get("url", ""))


def _flow_host(flow: http.HTTPFlow, *args: Any) -> str:
    return flow.request.pretty_host


def _host(_guard: TLSGuard, host: str) -> str:
    return host


class Faults:
    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None

    def load(self, loader: Any) -> None:
        loader.add_option("faults_metrics_port", int, 0, "Port for this process's /metrics.")
        Policy.decide = breaks(Policy.decide, _url)  # type: ignore[method-assign]
        Policy.score_page = breaks(Policy.score_page, _page_url)  # type: ignore[method-assign]
        # A page scored before (the same bytes) is decided without scoring it again.
        Policy.page_decision = breaks(Policy.page_decision, _page_url)  # type: ignore[method-assign]
        pagescan.scan_type = breaks(pagescan.scan_type, _flow_host)
        TLSGuard.passes_through = breaks(TLSGuard.passes_through, _host)  # type: ignore[method-assign]

    async def running(self) -> None:
        port = ctx.options.faults_metrics_port
        if port and self.runner is None:
            self.runner = await metricsserver.start_metrics_server("127.0.0.1", port, lambda: {})

    async def done(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


addons = [Faults()]
