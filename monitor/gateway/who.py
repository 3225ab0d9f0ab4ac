"""The identity addon: reads the device map and the trusted proxies into the shared state.

What they are for, and the order in which the gateway decides who is behind a request, is in
`monitor.gateway.identity` (`identify()`); this addon only turns the options into them, refusing
a bad file or address with its file:line or value (`OptionsError`).
"""

from __future__ import annotations

from typing import Any

from mitmproxy import ctx, exceptions

from monitor.gateway import options
from monitor.gateway.identity import DeviceMap, DeviceMapError, parse_networks
from monitor.gateway.state import GatewayState


class Identification:
    """`gateway_device_map` and `gateway_trusted_proxies`."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    def load(self, loader: Any) -> None:
        options.declare(loader, "gateway_device_map", "gateway_trusted_proxies")

    def configure(self, updated: set[str]) -> None:
        if "gateway_device_map" in updated:
            self.state.devices = load_devices(ctx.options.gateway_device_map)
        if "gateway_trusted_proxies" in updated:
            networks, problems = parse_networks(ctx.options.gateway_trusted_proxies)
            if problems:
                raise exceptions.OptionsError("gateway_trusted_proxies: " + "; ".join(problems))
            self.state.trusted = networks


def load_devices(path: str) -> DeviceMap:
    if not path:
        return DeviceMap()
    try:
        return DeviceMap.load(path)
    except DeviceMapError as exc:
        raise exceptions.OptionsError(f"gateway_device_map: {exc}") from None
