"""The gateway: prevent-monitor's mitmproxy addon and what it is made of.

- `monitor.gateway.addon`: the `Gateway` addon (also a `mitmdump -s` script).
- `monitor.gateway.identity`: who is behind a request (proxy auth, device map, address).
- `monitor.gateway.blockpage`: the block page and the filter-error page.
- `monitor.gateway.safesearch`: safe search per group.
- `monitor.gateway.pagescan`: which responses are scored, and their bounded, decoded text.
- `monitor.gateway.reload`: policy reloads off the event loop, and the status file.
- `monitor.gateway.settings`: the `gateway:` section of the configuration file.
- `monitor.gateway.proxy`: start mitmproxy in-process with the addon (the daemon's entry point).
"""
