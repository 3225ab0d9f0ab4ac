"""`ConsoleSettings`: the review console's section of the configuration file."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.setting import setting


@dataclass(slots=True)
class ConsoleSettings:
    enabled: bool = setting(True, "Serve the review console from the daemon.")
    listen_host: str = setting(
        "127.0.0.1",
        "Address the console listens on. Keep 127.0.0.1 behind a TLS reverse proxy; use the "
        "school network's address only if the proxy runs elsewhere.",
    )
    port: int = setting(8470, "TCP port of the console.")
    public_url: str = setting(
        "",
        "The address people use to reach the console (e.g. https://filter.school.example); "
        "the block page links to <public_url>/request-review. Empty: http://<listen_host>:<port>.",
    )
    session_key: str = setting(
        "",
        "Key that signs session cookies, form tokens and pupil pseudonyms. Empty: one is "
        "generated on first start and kept in <data_dir>/console-session.key (mode 0600).",
        secret=True,
    )
    cookie_secure: bool = setting(
        True,
        "Send the session cookie only over HTTPS. Turn off only for a console reached over "
        "plain HTTP on 127.0.0.1.",
    )
    session_hours: float = setting(8.0, "A sign-in lasts at most this many hours.")
    idle_minutes: float = setting(60.0, "A session unused for this many minutes ends.")
    login_attempts: int = setting(
        5,
        "Failed sign-ins per account from one address before each further try waits "
        "(2 s, doubling). A correct password after the wait always works.",
    )
    login_window_minutes: float = setting(
        15.0, "The longest wait between sign-in tries (the doubling stops here)."
    )
    review_requests_per_hour: int = setting(
        10,
        "Unblock requests accepted per requester (browser) per hour from the block page; a "
        "shared address (a school NAT) may send 20 times as many.",
    )
    reason_max_chars: int = setting(1000, "Longest reason an unblock request may give.")
    page_size: int = setting(50, "Events per page in the queue.")
    timezone: str = setting("Europe/London", "Time zone the console shows times in.")
    gateway_status_file: str = setting(
        "",
        "JSON file the gateway writes its health to, for the health page; a scale-out "
        "instance N writes gateway-status-N.json beside it. Empty: "
        "<data_dir>/gateway-status.json.",
    )
