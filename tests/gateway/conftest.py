"""Real parts for the gateway's end-to-end tests: a local origin and a `mitmdump` with the addon.

The origin is an aiohttp server on 127.0.0.1 (plain HTTP and HTTPS with a self-signed
certificate) that records every request it gets, so a test can prove a blocked request never
reached it. `mitmdump` runs as a subprocess with the gateway addon and `loopback.py`, which sends
every upstream connection to the origin: nothing can reach the internet.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor.gateway.addon import Gateway
from monitor.store.migrate import upgrade
from tests.gateway.kit import Recorder
from tests.localnet import free_port, self_signed

ROOT = Path(__file__).parents[2]
MITMDUMP = ROOT / ".venv" / "bin" / "mitmdump"
ADDON = ROOT / "monitor" / "gateway" / "addon.py"
LOOPBACK = Path(__file__).with_name("loopback.py")
POLICY_DIR = ROOT / "tests" / "data" / "policy"

PAGE_BLOCK = "<html><body>" + "<p>the zorblax uprising</p>" * 4 + "</body></html>"
PAGE_FLAG = "<html><body>" + "<p>the zorblax uprising</p>" * 2 + "</body></html>"


@dataclass
class Origin:
    """The local web server behind the proxy, and every request it has seen."""

    http_port: int
    https_port: int
    seen: list[tuple[str, str]] = field(default_factory=list)  # (Host header, path with query)

    def hosts(self) -> set[str]:
        return {host.split(":")[0] for host, _ in self.seen}


def _origin_app(origin: Origin) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        origin.seen.append((request.headers.get("Host", ""), request.path_qs))
        if request.path == "/page-block":
            return web.Response(text=PAGE_BLOCK, content_type="text/html")
        if request.path == "/page-flag":
            return web.Response(text=PAGE_FLAG, content_type="text/html")
        return web.Response(text=f"origin says hello: {request.path_qs}", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@pytest.fixture(scope="session")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origin]:
    folder = tmp_path_factory.mktemp("origin")
    cert_file, key_file = self_signed(folder, "origin.test", "origin")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    result = Origin(free_port(), free_port())
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner = web.AppRunner(_origin_app(result), access_log=None)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", result.http_port).start()
        await web.TCPSite(runner, "127.0.0.1", result.https_port, ssl_context=tls).start()
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    assert started.wait(10), "the origin did not start"
    yield result
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@dataclass
class Proxy:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.folder / "events.sqlite"

    @property
    def policy_dir(self) -> Path:
        return self.folder / "policy"

    @property
    def ca(self) -> Path:
        return self.folder / "conf" / "mitmproxy-ca-cert.pem"

    def client_tls(self) -> ssl.SSLContext:
        """What a school device has: the gateway's CA installed, verification on."""
        return ssl.create_default_context(cafile=str(self.ca))

    def events(self, where: str = "1=1", *, at_least: int = 1, timeout: float = 10.0) -> list[Any]:
        """Rows from the real store, waiting for the writer's batch to land."""
        deadline = time.monotonic() + timeout
        rows: list[Any] = []
        while time.monotonic() < deadline:
            if self.database.exists():
                with sqlite3.connect(self.database) as db:
                    db.row_factory = sqlite3.Row
                    try:
                        rows = db.execute(f"SELECT * FROM events WHERE {where}").fetchall()
                    except sqlite3.OperationalError:
                        rows = []
                if len(rows) >= at_least:
                    return rows
            time.sleep(0.1)
        return rows


def start_proxy(
    folder: Path, origin: Origin, *, scripts: Sequence[Path] = (), **options: object
) -> Proxy:
    """A mitmdump with the gateway addon, `loopback.py` and then any other test `scripts`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(POLICY_DIR, folder / "policy", dirs_exist_ok=True)
    port = free_port()
    # The gateway opens a store that is already at the current schema (as `run` or
    # `db upgrade` leave it); it never migrates one itself.
    upgrade(f"sqlite:///{folder / 'events.sqlite'}")
    settings: dict[str, object] = {
        "confdir": folder / "conf",
        "gateway_policy": folder / "policy" / "policy.yaml",
        "gateway_database": f"sqlite:///{folder / 'events.sqlite'}",
        "gateway_review_url": "http://console.test/request-review",
        "gateway_reload_interval": 1,
        "gateway_status_file": folder / "status.json",
        "loopback_port": origin.http_port,
        "loopback_tls_port": origin.https_port,
        "ssl_insecure": "true",  # the origin's certificate is self-signed
        **options,
    }
    argv = [str(MITMDUMP), "--listen-host", "127.0.0.1", "-p", str(port)]
    for script in (ADDON, LOOPBACK, *scripts):
        argv += ["-s", str(script)]
    for name, value in settings.items():
        argv += ["--set", f"{name}={value}"]
    log = folder / "mitmdump.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    proxy = Proxy(port, folder, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mitmdump exited: {log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proxy
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"mitmdump did not listen: {log.read_text()}")


def stop_proxy(proxy: Proxy) -> None:
    proxy.process.terminate()
    try:
        proxy.process.wait(10)
    except subprocess.TimeoutExpired:
        proxy.process.kill()
        proxy.process.wait(5)


@pytest.fixture(scope="session")
def proxy_factory(
    tmp_path_factory: pytest.TempPathFactory, origin: Origin
) -> Iterator[Callable[..., Proxy]]:
    started: list[Proxy] = []

    def make(*, scripts: Sequence[Path] = (), **options: object) -> Proxy:
        proxy = start_proxy(tmp_path_factory.mktemp("gateway"), origin, scripts=scripts, **options)
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        stop_proxy(proxy)


@pytest.fixture(scope="session")
def proxy(proxy_factory: Callable[..., Proxy]) -> Proxy:
    """The shared gateway: X-Forwarded-For trusted from loopback so tests can be 'a pupil in
    Year 13' (10.13.x.x) or 'a pupil' (192.168.x.x) from one machine."""
    return proxy_factory(gateway_trusted_proxies="127.0.0.1")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway(recorder: Recorder) -> Gateway:
    """The addon for unit tests, its events going to `recorder`."""
    return Gateway(writer=recorder)
