"""`GatewaySettings`: the `gateway:` section of the configuration file.

Each field is a mitmproxy option of the `Gateway` addon, `gateway_<field>` with this type, default
and help (`monitor.gateway.options` builds them from these fields), or one of mitmproxy's own
(`options.MITMPROXY_SETTINGS`); `monitor.commands.proxy.proxy_options()` sets them from the file.
The help texts here are what `config show` and `mitmdump --options` print.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.setting import setting


@dataclass(slots=True)
class GatewaySettings:
    # setting() gives list and dict defaults a default_factory, so RUF009 does not apply.
    listen_host: str = setting(
        "", "Address the proxy listens on (empty: every address of the gateway)."
    )
    listen_port: int = setting(
        8080, "TCP port of the proxy; gateway process N (--instance N) listens on this + N."
    )
    mode: str = setting(
        "regular",
        "regular: devices use the proxy by setting (PAC/WPAD); transparent: the firewall "
        "redirects web traffic to it (see deploy/prevent-monitor.nft).",
        choices=("regular", "transparent"),
    )
    intercept_tls: bool = setting(
        True,
        "Decrypt HTTPS to decide full URLs, scan pages and show the block page over HTTPS "
        "(devices must trust the gateway's CA). Off: HTTPS is decided by host name only.",
    )
    passthrough: list[str] = setting(  # noqa: RUF009
        [],
        "Hosts never decrypted (banking, health, certificate-pinned apps); each covers its "
        "subdomains. They are still blocked or allowed by host name.",
    )
    confdir: str = setting(
        "", "mitmproxy's folder (its CA lives here). Empty: <data_dir>/mitmproxy."
    )
    htpasswd: str = setting(
        "",
        "Ask devices for a user name and password, checked against this Apache htpasswd file; "
        "the user name is recorded in events and chooses the policy group. Empty: off.",
    )
    ldap: str = setting(
        "",
        "Proxy authentication against LDAP, in mitmproxy's proxyauth form "
        "ldap[s]:server[:port]:bind_dn:password:subtree; it holds a password.",
        secret=True,
    )
    device_map: str = setting(
        "",
        "YAML or CSV file naming devices by address or network (address,device,user,group).",
    )
    trusted_proxies: list[str] = setting(  # noqa: RUF009
        [], "Addresses or networks whose X-Forwarded-For header is believed."
    )
    fail_mode: str = setting(
        "closed",
        "When the filter itself fails on a request: closed shows a 'filter error' page, "
        "open lets the request through. Either way the fault is logged and counted.",
        choices=("closed", "open"),
    )
    page_scan: bool = setting(
        True, "Score the text of HTML and other text pages with the weighted phrases."
    )
    page_limit: int = setting(
        2_000_000,
        "Largest page (bytes, after decompression) that is scored; bigger ones stream through.",
    )
    review_url: str = setting(
        "",
        "Where the block page's 'Ask for a review' link goes. "
        "Empty: the console's <public_url>/request-review.",
    )
    own_hosts: list[str] = setting(  # noqa: RUF009
        [],
        "Further hosts of the school's own prevent-monitor pages (the console, a block-page "
        "host), never filtered, unwrapped or recorded. The host of review_url (and of the "
        "console's public_url) always is one, so 'Ask for a review' works through the gateway.",
    )
    status_file: str = setting(
        "",
        "JSON file the gateway writes its health to. Empty: console.gateway_status_file, "
        "else <data_dir>/gateway-status.json.",
    )
    context_log_days: int = setting(
        7,
        "Keep a host-only context log (time, host, action per user, else device, else address; "
        "no path, query or page) for this many days, which the Prevent lead sees an hour either "
        "side of an event. 0: off (and the next purge removes what was kept).",
    )
    mitmproxy: dict[str, object] = setting(  # noqa: RUF009
        {},
        "Further mitmproxy options by name (e.g. {ssl_insecure: false}), for what this "
        "section does not cover.",
    )
