"""HTTPS benchmark: CONNECT tunnels and intercepted TLS, bare mitmdump against the gateway addon.

Most school traffic is HTTPS, so this measures both ways the gateway meets it:

- **tunnels** (no interception: passthrough hosts, or `gateway.intercept_tls: false`): each
  request is a new CONNECT, a TLS handshake with the origin straight through the proxy, one
  GET of a small page, and close. That gives handshakes/s. A second run fetches one 4 MB body
  per tunnel, for throughput in MB/s.
- **intercepted** (the school CA deployed): the proxy terminates TLS with a certificate it
  makes from the school CA, decides on the full URL, and talks TLS to the origin. This runs
  with keep-alive (many requests on one tunnel) and without (one request per tunnel).

The origin is a local aiohttp server with a self-signed certificate. A bench-only mitmproxy
script (`bench/https_loopback.py`) sends every upstream connection to it, so names are decided
as real names and nothing reaches the internet. The load generator is asyncio Python in this
process, so it shares the two cores with the proxy. Its CPU is reported, and both runs of a
pair use the same generator, so their ratio is the figure to read.

    .venv/bin/python bench/https_bench.py [--domains 200000] [--seconds 10] [--connections 20]
        [--pages distinct|same]

`--pages distinct` (the default, as `bench/gateway_bench.py`): every request asks for its own
address and the origin puts the address in the page, so the gateway scores each page afresh,
the worst case. `--pages same`: one page for every request, which the gateway scores once (a
class loading its teacher's page; the figures before 2026-12-03 were measured so).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import resource
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_bench import (  # noqa: E402
    ADDON,
    MITMDUMP,
    PYTHON,
    cpu_seconds,
    free_port,
    wait_for,
    write_policy,
)
from bench.policy_bench import make_domains  # noqa: E402

LOOPBACK = ROOT / "bench" / "https_loopback.py"
BIG = 4 * 1024 * 1024
DISTINCT = True  # --pages
READ_TIMEOUT = 10.0

ORIGIN = textwrap.dedent(
    """
    import ssl, sys
    from aiohttp import web
    small = "<html><body>" + "<p>the school library opens at nine</p>" * 200 + "</body></html>"
    big = b"x" * int(sys.argv[4])
    distinct = sys.argv[5] == "distinct"
    async def page(request):
        if request.path == "/big":
            return web.Response(body=big, content_type="application/octet-stream")
        text = small.replace("</body>", f"<p>{request.path_qs}</p></body>") if distinct else small
        return web.Response(text=text, content_type="text/html")
    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), ssl_context=context,
                access_log=None, print=None)
    """
)


@dataclass
class Result:
    requests: int = 0
    failures: int = 0
    handshakes: int = 0
    bytes: int = 0
    seconds: float = 0.0
    proxy_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def hps(self) -> float:
        return self.handshakes / self.seconds if self.seconds else 0.0

    @property
    def mbps(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        return self.proxy_cpu * 1000 / self.requests if self.requests else 0.0


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "origin.pem", folder / "origin.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=origin.example", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    """The body after `head`: by Content-Length, or chunked."""
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if b"content-length" in headers:
        return await reader.readexactly(int(headers[b"content-length"]))
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return b""


async def one_tunnel(
    proxy_port: int, host: str, paths: list[str], context: ssl.SSLContext, result: Result
) -> None:
    """CONNECT host:443, TLS, then GET each path on the one connection (keep-alive)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    try:
        writer.write(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        if b" 200 " not in status.split(b"\r\n", 1)[0]:
            result.failures += 1
            return
        await asyncio.wait_for(writer.start_tls(context, server_hostname=host), READ_TIMEOUT)
        result.handshakes += 1
        for index, path in enumerate(paths):
            last = index == len(paths) - 1
            connection = "close" if last else "keep-alive"
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: {connection}\r\n\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            body = await asyncio.wait_for(read_body(reader, head), READ_TIMEOUT)
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                result.failures += 1
                continue
            result.requests += 1
            result.bytes += len(body)
    except (OSError, asyncio.IncompleteReadError, ssl.SSLError, ValueError, TimeoutError):
        result.failures += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def drive(
    proxy_port: int, hosts: list[str], seconds: float, connections: int, per_tunnel: int,
    path: str, context: ssl.SSLContext,
) -> Result:
    result = Result()
    deadline = time.monotonic() + seconds
    rng = random.Random(7)
    numbers = itertools.count()

    async def worker() -> None:
        while time.monotonic() < deadline:
            host = rng.choice(hosts)
            # "/" asks for distinct pages when the origin serves them; "/big" stays one body.
            paths = [f"/?n={next(numbers)}" if path == "/" and DISTINCT else path
                     for _ in range(per_tunnel)]  # fmt: skip
            await one_tunnel(proxy_port, host, paths, context, result)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.seconds = time.monotonic() - started
    return result


def client_context(ca: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca is None:  # a tunnel: the origin's self-signed certificate, as a pinned app would
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(str(ca))
    return context


def measure(
    folder: Path, origin_port: int, extra: list[str], hosts: list[str], args: argparse.Namespace,
    *, per_tunnel: int, path: str, intercept: bool, label: str,
) -> Result:
    port = free_port()
    conf = folder / "conf"
    argv = [str(MITMDUMP), "-q", "--listen-host", "127.0.0.1", "-p", str(port),
            "--set", f"confdir={conf}", "--set", "connection_strategy=lazy",
            "--set", "ssl_insecure=true"]  # fmt: skip
    if not intercept:
        argv += ["--ignore-hosts", ".*"]  # every CONNECT is a tunnel, decided by name only
    argv += [*extra, "-s", str(LOOPBACK), "--set", f"https_loopback_port={origin_port}"]
    log = (folder / f"mitmdump-{port}.log").open("wb")
    proxy = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_for(port, proxy, "mitmdump", 300)
        ca = conf / "mitmproxy-ca-cert.pem" if intercept else None
        context = client_context(ca)
        # Wait for the addons (a policy takes seconds to load): a request must get through.
        deadline = time.monotonic() + 300
        while True:
            probe = asyncio.run(drive(port, hosts[:1], 0.5, 1, 1, "/", context))
            if probe.requests:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{label}: no request got through the proxy")
            time.sleep(0.5)
        asyncio.run(drive(port, hosts, 2, args.connections, per_tunnel, path, context))  # warm
        cpu0 = cpu_seconds(proxy.pid)
        own0 = resource.getrusage(resource.RUSAGE_SELF)
        result = asyncio.run(
            drive(port, hosts, args.seconds, args.connections, per_tunnel, path, context)
        )
        own1 = resource.getrusage(resource.RUSAGE_SELF)
        result.proxy_cpu = cpu_seconds(proxy.pid) - cpu0
        result.client_cpu = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
        return result
    finally:
        proxy.terminate()
        proxy.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument(
        "--pages", choices=("distinct", "same"), default="distinct",
        help="distinct: every request its own page (each scored); same: one page for all",
    )  # fmt: skip
    args = parser.parse_args()
    global DISTINCT
    DISTINCT = args.pages == "distinct"
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="https-bench-") as tmp:
        folder = Path(tmp)
        domains = make_domains(args.domains, rng)
        policy = write_policy(folder, domains, [f"watched{i}.example.net" for i in range(200)])
        hosts = [f"www.site{i}.example.org" for i in range(500)]
        cert, key = self_signed(folder)
        origin_port = free_port()
        origin_argv = [str(PYTHON), "-c", ORIGIN, str(origin_port), str(cert), str(key)]
        origin = subprocess.Popen([*origin_argv, str(BIG), args.pages])
        addon = ["-s", str(ADDON), "--set", f"gateway_policy={policy}",
                 "--set", f"gateway_database=sqlite:///{folder / 'events.sqlite'}",
                 "--set", "gateway_page_scan=true"]  # fmt: skip
        from monitor.store.migrate import upgrade

        upgrade(f"sqlite:///{folder / 'events.sqlite'}")
        cases = [
            ("tunnel, handshakes (1 GET per CONNECT)", dict(per_tunnel=1, path="/",
                                                            intercept=False)),
            ("tunnel, throughput (4 MB per CONNECT)", dict(per_tunnel=1, path="/big",
                                                           intercept=False)),
            ("intercepted, keep-alive (20 GETs/tunnel)", dict(per_tunnel=20, path="/",
                                                              intercept=True)),
            ("intercepted, no keep-alive", dict(per_tunnel=1, path="/", intercept=True)),
        ]  # fmt: skip
        rows = []
        try:
            wait_for(origin_port, origin, "origin", 30)
            for label, case in cases:
                print(f"{label}: bare ...", flush=True)
                bare = measure(folder, origin_port, [], hosts, args, label=label, **case)  # type: ignore[arg-type]
                print(f"{label}: addon ...", flush=True)
                gw = measure(folder, origin_port, addon, hosts, args, label=label, **case)  # type: ignore[arg-type]
                rows.append((label, bare, gw))
        finally:
            origin.terminate()
            origin.wait(10)
    print()
    print(f"{'':42}{'':8}{'req/s':>9}{'TLS/s':>9}{'MB/s':>9}{'fail':>6}"
          f"{'proxy CPU ms/req':>18}{'client CPU s':>14}")  # fmt: skip
    for label, bare, gw in rows:
        for name, r in (("bare", bare), ("addon", gw)):
            first = label if name == "bare" else ""
            print(f"{first:42}{name:8}{r.rps:>9.0f}{r.hps:>9.0f}{r.mbps:>9.1f}{r.failures:>6}"
                  f"{r.cpu_ms:>18.3f}{r.client_cpu:>14.1f}")  # fmt: skip
        key = "mbps" if "throughput" in label else "rps"
        ratio = getattr(gw, key) / getattr(bare, key) if getattr(bare, key) else 0.0
        cpu = gw.cpu_ms / bare.cpu_ms if bare.cpu_ms else 0.0
        print(f"{'':42}addon / bare: {ratio:.1%} of {key}, CPU per request {cpu:.0%}")
    cores = os.cpu_count()
    print(f"\n({cores} cores shared by the proxy and this load generator; {args.pages} pages)")


if __name__ == "__main__":
    main()
