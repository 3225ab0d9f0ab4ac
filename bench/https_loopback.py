"""A bench-only mitmproxy script: every upstream connection goes to the local TLS origin.

For tunnels (nothing is intercepted) there is no HTTP request to rewrite, so this rewrites the
server connection's address itself, after the gateway has decided on the name. Load it after
the gateway addon.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import ctx
from mitmproxy.proxy.server_hooks import ServerConnectionHookData


class HttpsLoopback:
    def load(self, loader: Any) -> None:
        loader.add_option("https_loopback_port", int, 0, "Local port of the TLS origin.")

    def server_connect(self, data: ServerConnectionHookData) -> None:
        data.server.address = ("127.0.0.1", ctx.options.https_loopback_port)


addons = [HttpsLoopback()]
