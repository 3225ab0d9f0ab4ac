"""Every TCP port the daemon's parts listen on, and the check that no two share one.

Gateway process N (`proxy --instance N`) adds N to its proxy and metrics ports, so the defaults
are spaced to stay apart for every allowed instance (tests/monitor/test_setup_paper_cuts.py
walks them all). `config show` lists the ports; a configuration with a clash is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.config import Config

# How many gateway processes (`proxy --instance 0 .. N-1`) one machine may run; each adds N to
# its proxy and metrics ports, so the defaults are spaced to stay apart for all of them.
MAX_GATEWAY_INSTANCES = 32


def ports(config: Config, instance: int = 0) -> dict[str, int]:
    """Every TCP port the daemon's parts listen on (gateway process `instance`), by key path.
    Ports set to 0 (off) are left out."""
    every = {
        "gateway.listen_port": config.gateway.listen_port + instance,
        "metrics.gateway_port": config.metrics.gateway_port + instance
        if config.metrics.gateway_port
        else 0,
        "console.port": config.console.port,
        "metrics.daemon_port": config.metrics.daemon_port,
        "metrics.watcher_port": config.metrics.watcher_port,
        "demo.feed_port": config.demo.feed_port if config.demo.feed_folder else 0,
    }
    return {key: port for key, port in every.items() if port}


def port_clashes(config: Config, instance: int = 0) -> list[str]:
    """Problems for two parts (or gateway process `instance` and another part) on one port."""
    seen: dict[int, str] = {}
    problems = []
    for key, port in ports(config, instance).items():
        if port in seen:
            where = f" for gateway process {instance}" if instance else ""
            problems.append(
                f"{key}: port {port} is already {seen[port]}'s{where}; give each part its own"
            )
            continue
        seen[port] = key
    return problems
