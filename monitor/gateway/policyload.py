"""The policy addon: load the policy (`gateway_policy`) and keep it current.

A policy that does not load stops start-up with its file:line (`OptionsError`); a gateway with
no policy at all refuses to serve (`running` shuts the proxy down), as it would otherwise let
everything through. Once running, `monitor.policyreload.PolicyReloader` reloads it in a worker
thread on a timer (`gateway_reload_interval`) and on SIGHUP, and writes the status file
(`gateway_status_file`) the console's health page reads, every few seconds and once more when
it stops. A refused reload is IT's business: it shows there and on `/healthz` with each
problem's file:line, never as a safeguarding event.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions

from filters.live import LivePolicy
from filters.policy import PolicyError
from monitor import metrics
from monitor.gateway import options
from monitor.gateway.state import GatewayState
from monitor.policyreload import PolicyReloader, log_held

log = logging.getLogger("prevent_monitor.gateway")


class PolicyLoader:
    """Puts the policy in force into the shared state, and runs its reloader."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self.reloader: PolicyReloader | None = None

    def load(self, loader: Any) -> None:
        options.declare(
            loader, "gateway_policy", "gateway_reload_interval", "gateway_status_file"
        )

    def configure(self, updated: set[str]) -> None:
        if "gateway_policy" in updated:
            self._load_policy(ctx.options.gateway_policy)
        if "gateway_reload_interval" in updated and ctx.options.gateway_reload_interval < 0:
            raise exceptions.OptionsError("gateway_reload_interval must be 0 or more seconds")

    def _load_policy(self, path: str) -> None:
        state = self.state
        if not path:
            state.live = None  # refused at `running`: a gateway without a policy must not serve
            return
        if state.live is not None and state.live.path == Path(path):
            return
        try:
            state.live = LivePolicy.load(path)
            metrics.set_policy(state.live.current.version, state.live.loaded_at)
        except (PolicyError, OSError) as exc:
            raise exceptions.OptionsError(f"gateway_policy {path}: {exc}") from None
        policy = state.live.current
        log.info(
            "gateway: policy %s loaded from %s (%d domains, %.2f s)",
            policy.version,
            path,
            policy.stats.domains,
            policy.stats.load_seconds,
        )
        log_held(policy)
        if self.reloader is not None:
            self.reloader.stop()
        self.reloader = PolicyReloader(
            state.live,
            status_file=ctx.options.gateway_status_file,
            status_extra=state.status,
        )

    def running(self) -> None:
        if self.state.live is None or self.reloader is None:
            # As a `mitmdump -s` script a refused option is only logged by mitmproxy; a
            # gateway without a policy must not serve (it would let everything through).
            log.error(
                "gateway: no policy is loaded; set gateway_policy to the policy file (e.g. "
                "--set gateway_policy=/etc/prevent-monitor/policy.yaml) and see any error "
                "above. Stopping the proxy."
            )
            ctx.master.shutdown()
            return
        self.reloader.start(ctx.options.gateway_reload_interval)

    def done(self) -> None:
        if self.reloader is not None:
            self.reloader.stop()
            self.reloader.stopped()
