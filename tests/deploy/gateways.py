"""Gateway processes in the lab's gateway namespace, started as systemd starts them, and a pupil.

Each `Gateway` is `prevent-monitor proxy --config FILE --instance N` run with
`ip netns exec` (so it is the process itself, in the namespace): `gateway.mode: transparent`,
listening on 8080 + N as the shipped rules' numgen map expects, metrics on 9461 + N. Nothing
reaches them but what the rules redirect; the test reads their metrics from inside the
namespace. `Pupil` speaks HTTP and HTTPS from the pupil's namespace to the lab's internet, as a
device that knows nothing of the proxy.
"""

from __future__ import annotations

import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.internet import PASSTHROUGH
from tests.deploy.netlab import ORIGIN_IP, inside

ENTRY = Path(sys.executable).parent / "prevent-monitor"
POLICY_DIR = Path(__file__).parents[1] / "data" / "policy"
LISTEN_PORT, METRICS_PORT = 8080, 9461


def write_config(folder: Path) -> Path:
    """A production-like configuration for the lab's gateways (the test policy, one store)."""
    config = {
        "data_dir": str(folder / "data"),
        "policy": {"file": str(POLICY_DIR / "policy.yaml"), "reload_interval": 0},
        "database": {"url": f"sqlite:///{folder / 'events.sqlite'}"},
        "gateway": {
            "mode": "transparent",
            "listen_port": LISTEN_PORT,
            "passthrough": [PASSTHROUGH, "doh-resolver.test"],  # never decrypted
            "mitmproxy": {"ssl_insecure": True},  # the lab's origin is self-signed
        },
        "metrics": {"host": "127.0.0.1", "gateway_port": METRICS_PORT},
    }
    path = folder / "prevent-monitor.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def http_get(sock: socket.socket, host: str, path: str = "/") -> tuple[int, str]:
    """One request on `sock` (closed after): the status and the body."""
    with sock:
        sock.settimeout(15)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("utf-8", "replace")


@dataclass
class Gateway:
    instance: int
    ns: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def port(self) -> int:
        return LISTEN_PORT + self.instance

    def metric(self, name: str) -> float:
        """The sum of a metric's samples (every label) at this gateway's /metrics."""
        with inside(self.ns):
            sock = socket.create_connection(("127.0.0.1", METRICS_PORT + self.instance), 5)
        _, text = http_get(sock, "127.0.0.1", "/metrics")
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith((name + "{", name + " "))
        )

    def listening(self) -> bool:
        # Its own /proc view of the namespace's sockets: no connection to it is needed
        # (one made straight to a transparent proxy's port would send it to itself).
        table = Path(f"/proc/{self.process.pid}/net/tcp").read_text().splitlines()[1:]
        return any(
            row.split()[3] == "0A" and int(row.split()[1].rsplit(":", 1)[1], 16) == self.port
            for row in table
        )

    def wait_ready(self, timeout: float = 45) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gateway@{self.instance} exited: {self.log.read_text()}")
            if self.listening():
                try:
                    self.metric("prevent_monitor_decisions_total")
                    return
                except OSError:
                    pass
            time.sleep(0.2)
        raise AssertionError(f"gateway@{self.instance} did not start: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_gateway(ns: str, config: Path, instance: int) -> Gateway:
    log = config.with_name(f"gateway-{instance}.log")
    argv = ["ip", "netns", "exec", ns, str(ENTRY), "proxy", "--config", str(config)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--instance", str(instance)], stdout=out, stderr=subprocess.STDOUT
        )
    return Gateway(instance, ns, process, log)


@dataclass
class Pupil:
    ns: str
    ca: Path  # the gateway's CA, as the school rolls it out to devices

    def connect(self, port: int, *, host: str = ORIGIN_IP, timeout: float = 10) -> socket.socket:
        with inside(self.ns):
            return socket.create_connection((host, port), timeout)

    def get(
        self, host: str, path: str = "/", *, https: bool = False, trust: Path | None = None
    ) -> tuple[int, str]:
        """GET over HTTP, or HTTPS with `host` as the SNI, verified against the school's CA
        (or `trust`)."""
        sock = self.connect(443 if https else 80)
        if https:
            tls = ssl.create_default_context(cafile=str(trust or self.ca))
            sock = tls.wrap_socket(sock, server_hostname=host)  # the SNI is all the proxy sees
        return http_get(sock, host, path)

    def datagram(self, port: int) -> socket.socket:
        """A UDP socket connected to the internet's `port`, one datagram sent."""
        with inside(self.ns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(3)
        sock.connect((ORIGIN_IP, port))
        sock.send(b"\xc0 an Initial packet, as a browser opens QUIC")
        return sock


def events(database: Path, where: str, *, at_least: int = 1, timeout: float = 10) -> list[Any]:
    """Rows of the gateways' store, waiting for a writer's batch to land."""
    deadline = time.monotonic() + timeout
    rows: list[Any] = []
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(f"SELECT * FROM events WHERE {where}").fetchall()
        if len(rows) >= at_least:
            break
        time.sleep(0.1)
    return rows
