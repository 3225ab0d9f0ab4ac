"""What the gateway's unit tests share: a recorder for the store's writer, flows, options."""

from __future__ import annotations

from pathlib import Path

from mitmproxy import http
from mitmproxy.test import taddons, tflow

from monitor.events import FlaggedEvent
from monitor.gateway.addon import Gateway

POLICY_DIR = Path(__file__).parents[1] / "data" / "policy"
POLICY = POLICY_DIR / "policy.yaml"


class Recorder:
    """Stands in for the store's writer in unit tests (the e2e tests use the real one)."""

    def __init__(self) -> None:
        self.events: list[FlaggedEvent] = []

    def submit(self, event: FlaggedEvent) -> None:
        self.events.append(event)


def request_flow(url: str, *, peer: str = "192.168.1.20", method: str = "GET") -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request.method = method
    flow.request.url = url
    flow.client_conn.peername = (peer, 50000)
    return flow


def configured(tctx: taddons.context, gateway: Gateway, **options: object) -> None:
    tctx.configure(gateway, gateway_policy=str(POLICY), **options)
