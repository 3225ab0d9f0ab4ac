"""A bench-only mitmproxy script: every upstream connection goes to the local TLS origin.

Intercepted requests are rewritten in the `request` hook, after the gateway has decided on the
real name, keeping the Host header, so mitmproxy reuses one upstream connection per client
connection as it would for a real site (as tests/gateway/loopback.py does). Tunnels carry no
HTTP request to rewrite, so for them the server connection's address itself is rewritten.
Load it after the gateway addon.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import ctx, http
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

LOCAL = "127.0.0.1"


class HttpsLoopback:
    def load(self, loader: Any) -> None:
        loader.add_option("https_loopback_port", int, 0, "Local port of the TLS origin.")

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            return  # answered by the proxy (a block page): nothing goes upstream
        host_header = flow.request.host_header
        flow.request.host = LOCAL
        flow.request.port = ctx.options.https_loopback_port
        flow.request.host_header = host_header

    def server_connect(self, data: ServerConnectionHookData) -> None:
        if data.server.address and data.server.address[0] != LOCAL:
            data.server.address = (LOCAL, ctx.options.https_loopback_port)


addons = [HttpsLoopback()]
