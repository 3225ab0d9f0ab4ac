"""A test-only mitmproxy script: every upstream connection goes to 127.0.0.1.

The gateway's tests ask for names like allowed.test or www.google.co.uk; this sends the
connection to the local origin instead (`loopback_port` for HTTP, `loopback_tls_port` for
HTTPS) without touching the request, so the gateway decides on the real names and nothing can
reach the internet. Load it after the gateway addon.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import ctx
from mitmproxy.proxy.server_hooks import ServerConnectionHookData


class Loopback:
    def load(self, loader: Any) -> None:
        loader.add_option("loopback_port", int, 0, "Local port for plain HTTP upstreams.")
        loader.add_option("loopback_tls_port", int, 0, "Local port for TLS upstreams.")

    def server_connect(self, data: ServerConnectionHookData) -> None:
        port = ctx.options.loopback_tls_port if data.server.tls else ctx.options.loopback_port
        if not port:
            data.server.error = "loopback: no local port for this upstream"
            return
        data.server.address = ("127.0.0.1", port)


addons = [Loopback()]
