"""Start mitmproxy in-process with the gateway addon: `prevent-monitor proxy` and the daemon.

    options = proxy_options(config, instance=0)   # mitmproxy option name -> value
    exit_code = run_proxy(options)                # blocks until SIGTERM / SIGINT

`proxy_options()` turns the configuration file into mitmproxy options (the gateway's own
`gateway_*` options and mitmproxy's: mode, listen address, confdir, proxyauth); `run_proxy()` runs
a `DumpMaster` with the `Gateway` addon, exactly as `mitmdump -s monitor/gateway/addon.py --set
...` would, and stops cleanly on SIGTERM (pending events are flushed by the addon's `done`).
A bad option stops start-up with its name and the reason (exit status 2).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from mitmproxy import exceptions
from mitmproxy import options as mitm_options
from mitmproxy.tools.dump import DumpMaster

from monitor.gateway.addon import Gateway

if TYPE_CHECKING:
    from monitor.config import Config

log = logging.getLogger("prevent_monitor.gateway")

DEFAULT_SCHOOL = "Our School"


def proxy_options(config: Config, *, instance: int = 0) -> dict[str, Any]:
    """mitmproxy options for gateway process `instance` (listening on listen_port + instance)."""
    from monitor.gateway.settings import GatewaySettings

    gateway: GatewaySettings = getattr(config, "gateway", None) or GatewaySettings()
    console = getattr(config, "console", None)
    confdir = config.path(gateway.confdir) if gateway.confdir else config.data_path("mitmproxy")
    status_file = gateway.status_file or getattr(console, "gateway_status_file", "")
    status = config.path(status_file) if status_file else config.data_path("gateway-status.json")
    if instance:
        status = status.with_name(f"{status.stem}-{instance}{status.suffix}")
    options: dict[str, Any] = {
        "mode": [gateway.mode],
        "listen_host": gateway.listen_host,
        "listen_port": gateway.listen_port + instance,
        "confdir": str(confdir),
        "connection_strategy": "lazy",
        "gateway_policy": str(config.policy_path()),
        "gateway_database": config.database_url(),
        "gateway_spool_dir": str(config.path(config.database.spool_dir)),
        "gateway_school": "" if config.school == DEFAULT_SCHOOL else config.school,
        "gateway_review_url": gateway.review_url or _review_url(console),
        "gateway_device_map": str(config.path(gateway.device_map)) if gateway.device_map else "",
        "gateway_trusted_proxies": list(gateway.trusted_proxies),
        "gateway_passthrough": list(gateway.passthrough),
        "gateway_fail_mode": gateway.fail_mode,
        "gateway_page_scan": gateway.page_scan,
        "gateway_page_limit": gateway.page_limit,
        "gateway_reload_interval": max(0, round(config.policy.reload_interval)),
        "gateway_status_file": str(status),
    }
    if gateway.ldap:
        options["proxyauth"] = gateway.ldap
    elif gateway.htpasswd:
        options["proxyauth"] = "@" + str(config.path(gateway.htpasswd))
    if not gateway.intercept_tls:
        options["ignore_hosts"] = [".*"]  # decided by CONNECT host and SNI only
    options.update(gateway.mitmproxy)
    return options


def _review_url(console: Any) -> str:
    if console is None:
        return ""
    base = console.public_url or f"http://{console.listen_host}:{console.port}"
    return base.rstrip("/") + "/request-review"


async def serve(
    options: dict[str, Any],
    gateway: Gateway | None = None,
    *,
    metrics_at: tuple[str, int] | None = None,
) -> int:
    """Run the proxy on the running loop until shut down; 2 if an option is refused.
    With `metrics_at` (host, port) it also serves `/metrics` and `/healthz`."""
    opts = mitm_options.Options()
    master = DumpMaster(opts, with_termlog=False, with_dumper=False)
    gateway = gateway or Gateway()
    master.addons.add(gateway)
    try:
        opts.update(**options)
    except (exceptions.OptionsError, KeyError) as exc:
        print(f"prevent-monitor proxy: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, master.shutdown)
        except (NotImplementedError, RuntimeError):  # not the main thread
            break
    server = await _serve_metrics(gateway, metrics_at) if metrics_at else None
    try:
        await master.run()
    finally:
        if server is not None:
            await server.cleanup()
    return 0


async def _serve_metrics(gateway: Gateway, at: tuple[str, int]) -> Any:
    from monitor import metrics

    def health() -> dict[str, Any]:
        live = gateway.live
        writer = gateway.writer
        stats = writer.stats if writer is not None else None
        return {
            "ok": live is not None,
            "policy_version": live.current.version if live else None,
            "faults": gateway.faults,
            "event_queue": stats.queue_depth if stats else None,
            "database_up": stats.database_up if stats else None,
        }

    def before_scrape() -> None:
        if gateway.writer is not None:
            metrics.observe_writer(gateway.writer.stats)

    try:
        return await metrics.start_metrics_server(at[0], at[1], health, before_scrape)
    except OSError as exc:
        log.error("cannot serve /metrics on port %s: %s", at[1], exc)
        return None


def run_proxy(
    options: dict[str, Any],
    gateway: Gateway | None = None,
    *,
    metrics_at: tuple[str, int] | None = None,
) -> int:
    """Blocking: the gateway process's main function."""
    return asyncio.run(serve(options, gateway, metrics_at=metrics_at))
