"""`/metrics` for Prometheus and `/healthz`, served by each long-running process on its own port.

Apart from `monitor.metrics` (the registry) so that a short-lived command that only counts, such
as the Squid helper, does not load aiohttp's server to do so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

HealthCheck = Callable[[], dict[str, Any]]


def metrics_app(
    health: HealthCheck, before_scrape: Callable[[], None] | None = None
) -> web.Application:
    """`/metrics` for Prometheus and `/healthz` (200 when healthy, 503 when not) as JSON."""

    async def metrics(_: web.Request) -> web.Response:
        if before_scrape is not None:
            before_scrape()
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        try:
            report = health()
        except Exception as exc:  # a broken check is itself unhealthy, never a crash
            report = {"ok": False, "error": type(exc).__name__}
        status = 200 if report.get("ok", True) else 503
        return web.Response(
            status=status, text=json.dumps(report, default=str), content_type="application/json"
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def start_metrics_server(
    host: str, port: int, health: HealthCheck, before_scrape: Callable[[], None] | None = None
) -> web.AppRunner:
    """Serve `/metrics` and `/healthz` on the running event loop; port 0 disables it."""
    runner = web.AppRunner(metrics_app(health, before_scrape), access_log=None)
    await runner.setup()
    if port:
        await web.TCPSite(runner, host, port).start()
    return runner
