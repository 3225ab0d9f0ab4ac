"""The lab's internet: web servers and canaries in the `net` namespace, recording what reaches them.

On 198.19.1.2 (`netlab.ORIGIN_IP`) it serves HTTP on 80 and HTTPS on 443, recording the Host
header and the peer address of every request. Its certificate is its own CA, for `PASSTHROUGH`
(a host the gateway never decrypts, so the pupil checks it against this certificate); the
gateway, which decrypts everything else, is told `ssl_insecure`.

It also listens where the rules must let nothing through, UDP 443 (QUIC), TCP and UDP 853
(DNS-over-TLS), and on an unfiltered port (`OPEN_PORT`, TCP and UDP) that shows the path works,
counting every connection and datagram. It all runs on an event loop in a thread of its own
that has entered the namespace, so every socket it makes is there.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.deploy.netlab import NETNS_DIR, ORIGIN_IP
from tests.localnet import self_signed

PASSTHROUGH = "bank.example"
OPEN_PORT = 8443  # neither redirected nor dropped by the rules
CANARY_TCP = (853, OPEN_PORT)
CANARY_UDP = (443, 853, OPEN_PORT)
Reader, Writer = asyncio.StreamReader, asyncio.StreamWriter


@dataclass
class Internet:
    ns: str
    folder: Path
    seen: list[tuple[str, str]] = field(default_factory=list)  # (Host header, peer address)
    tcp: Counter[int] = field(default_factory=Counter)  # connections accepted, by port
    udp: Counter[int] = field(default_factory=Counter)  # datagrams received, by port
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _closers: list[Callable[[], object]] = field(default_factory=list)

    @property
    def certificate(self) -> Path:
        return self.folder / "origin.pem"

    def hosts(self) -> set[str]:
        return {host for host, _ in self.seen}

    def start(self) -> None:
        ready = threading.Event()
        failed: list[BaseException] = []

        def main() -> None:
            with open(NETNS_DIR / self.ns) as target:
                os.setns(target.fileno(), os.CLONE_NEWNET)  # this thread only, for good
            self._loop = loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to the starting thread
                failed.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=main, name="lab-internet", daemon=True)
        self._thread.start()
        assert ready.wait(15), "the lab's internet did not start"
        if failed:
            raise failed[0]

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self) -> None:
        cert, key = self_signed(self.folder, PASSTHROUGH, "origin")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, ORIGIN_IP, 80).start()
        await web.TCPSite(self._runner, ORIGIN_IP, 443, ssl_context=tls).start()
        loop = asyncio.get_running_loop()
        for port in CANARY_TCP:
            server = await asyncio.start_server(self._counter(port), ORIGIN_IP, port)
            self._closers.append(server.close)
        for port in CANARY_UDP:
            transport, _ = await loop.create_datagram_endpoint(
                lambda port=port: _Datagrams(self.udp, port), local_addr=(ORIGIN_IP, port)
            )
            self._closers.append(transport.close)

    async def _shutdown(self) -> None:
        for close in self._closers:
            close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            self.seen.append((request.headers.get("Host", ""), request.remote or ""))
            return web.Response(text=f"origin says hello: {request.path_qs}")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app

    def _counter(self, port: int) -> Callable[[Reader, Writer], Awaitable[None]]:
        async def accepted(_: Reader, writer: Writer) -> None:
            self.tcp[port] += 1
            writer.close()

        return accepted


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, counts: Counter[int], port: int) -> None:
        self.counts, self.port = counts, port

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self.counts[self.port] += 1
