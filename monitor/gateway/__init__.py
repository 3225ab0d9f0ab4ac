"""The gateway: prevent-monitor's mitmproxy addon and what it is made of.

- `monitor.gateway.addon`: the `Gateway` addon (also a `mitmdump -s` script), made of:
  - `monitor.gateway.policyload`: `PolicyLoader`, the policy in force and its reloads;
  - `monitor.gateway.recording`: `EventRecording`, the events store's writer;
  - `monitor.gateway.who`: `Identification`, the device map and trusted proxies;
  - `monitor.gateway.tlsguard`: `TLSGuard`, CONNECT and SNI decisions, passthrough;
  - `monitor.gateway.requestfilter`: `RequestFilter`, URL decisions, page scores, block page.
- `monitor.gateway.state`: what those addons share (`GatewayState`) and the per-flow `Verdict`.
- `monitor.gateway.options`: every `gateway_*` option, declared once (from `GatewaySettings`).
- `monitor.gateway.identity`: who is behind a request (`identify()`, the device map).
- `monitor.gateway.blockpage`: the block page and the filter-error page.
- `monitor.gateway.safesearch`: safe search per group.
- `monitor.gateway.pagescan`: which responses are scored, and their bounded, decoded text.
- `monitor.gateway.requesturl`: the URL a request is decided by.
- `monitor.gateway.settings`: the `gateway:` section of the configuration file.
- `monitor.gateway.proxy`: start mitmproxy in-process with the addon (`prevent-monitor proxy`).

Policy reloads (`monitor.policyreload`) and events (`monitor.events`) are in the base layer,
shared with the watcher; the configuration file is read by `monitor.commands.proxy`.
"""
