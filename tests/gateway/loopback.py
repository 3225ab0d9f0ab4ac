"""A test-only mitmproxy script: every upstream request goes to 127.0.0.1.

The gateway's tests ask for names like allowed.test or www.google.co.uk; this sends each request
to the local origin instead (`loopback_port` for HTTP, `loopback_tls_port` for HTTPS), keeping
its Host header, so the gateway decides on the real names and nothing can reach the internet.
It rewrites the request in the `request` hook, after the gateway has decided at
`requestheaders`, so mitmproxy keeps reusing one upstream connection per client connection as it
would for a real site. Load it after the gateway addon.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import ctx, http


class Loopback:
    def load(self, loader: Any) -> None:
        loader.add_option("loopback_port", int, 0, "Local port for plain HTTP upstreams.")
        loader.add_option("loopback_tls_port", int, 0, "Local port for TLS upstreams.")

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            return  # answered by the proxy (a block page): nothing goes upstream
        tls = flow.request.scheme == "https"
        port = ctx.options.loopback_tls_port if tls else ctx.options.loopback_port
        if not port:
            flow.kill()
            return
        host_header = flow.request.host_header
        flow.request.host = "127.0.0.1"
        flow.request.port = port
        flow.request.host_header = host_header


addons = [Loopback()]
