"""Benchmark: the brand-alert watcher polling 1,000 feeds of 20 entries each (issue 5).

A feed server runs in its own process on ten loopback addresses (so the per-host limit applies
as it would across providers); every entry names the school, so every entry goes through link
unwrapping, brand matching, classification and the SQLite store. The watcher uses its default
concurrency limits (20 overall, 2 per host).

    .venv/bin/python bench/watcher_bench.py [--feeds 1000] [--entries 20]

Prints the first cycle's time (everything new), the second cycle's (every feed answers 304) and
the process's peak memory. Targets on the project's 2-core machine: <= 15 s, <= 5 s, <= 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from alerts.settings import WatcherSettings  # noqa: E402
from alerts.watcher import Watcher  # noqa: E402
from filters.policy import Policy  # noqa: E402
from monitor.store.database import make_engine  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402
from monitor.store.runner import Store  # noqa: E402

HOSTS = [f"127.0.1.{n}" for n in range(1, 11)]
SCHOOL = "St Aidan's Academy"
POLICY = ROOT / "tests" / "data" / "alerts" / "policy" / "policy.yaml"


def feed(number: int, entries: int) -> bytes:
    items = []
    for n in range(entries):
        wrapped = (
            "https://www.google.com/url?rct=j&amp;sa=t&amp;url=https://news"
            f"{number % 50}.example/{number}/story-{n}?utm_source=alert&amp;ct=ga&amp;cd=x"
        )
        items.append(
            f"<entry><id>tag:google.com,2013:googlealerts/feed:{number}-{n}</id>"
            f'<title type="html">&lt;b&gt;{SCHOOL}&lt;/b&gt; story {n} from feed {number}</title>'
            f'<link href="{wrapped}"></link><published>2025-03-0{1 + n % 9}T10:00:00Z</published>'
            f'<updated>2025-03-01T10:00:00Z</updated><content type="html">Pupils at '
            f"&lt;b&gt;{SCHOOL}&lt;/b&gt; in Exampleton did something newsworthy, number {n}"
            "&amp;nbsp;...</content><author><name></name></author></entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>tag:bench:{number}</id><title>Google Alert - {SCHOOL}</title>"
        '<updated>2025-03-01T10:00:00Z</updated>' + "".join(items) + "</feed>"
    ).encode()


def serve(port: int, entries: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    bodies: dict[int, bytes] = {}

    async def handler(request: web.Request) -> web.Response:
        number = int(request.match_info["n"])
        etag = f'"feed-{number}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        body = bodies.get(number)
        if body is None:
            body = bodies[number] = feed(number, entries)
        return web.Response(body=body, content_type="application/atom+xml", headers={"ETag": etag})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in HOSTS:
            await web.TCPSite(runner, host, port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


async def bench(feeds: int, port: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="watcher-bench-"))
    url = f"sqlite:///{folder / 'store.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    store = Store(engine)
    policy = Policy.load(POLICY)
    sources = [
        {"url": f"http://{HOSTS[n % len(HOSTS)]}:{port}/feed/{n}", "label": f"Alert {n}",
         "kind": "google-alerts"}
        for n in range(feeds)
    ]
    settings = WatcherSettings(
        sources=sources, brand_terms=[SCHOOL], allow_private_addresses=True,
        connect_timeout=10.0, read_timeout=20.0, total_timeout=60.0,
    )
    watcher = Watcher(settings, lambda: policy, store, school=SCHOOL)
    for label in ("first cycle (all new)", "second cycle (304s)"):
        started = time.perf_counter()
        reports = await watcher.poll_once()
        seconds = time.perf_counter() - started
        statuses: dict[str, int] = {}
        for report in reports:
            statuses[report.status] = statuses.get(report.status, 0) + 1
        new = sum(r.new_mentions for r in reports)
        print(f"{label:24} {seconds:6.2f} s   {len(reports)} feeds {statuses}, {new} new mentions")
        errors = [r.error for r in reports if r.error][:3]
        if errors:
            print("   errors:", errors)
    store.close()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--port", type=int, default=18_734)
    args = parser.parse_args()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(
        target=serve, args=(args.port, args.entries, ready), daemon=True
    )
    server.start()
    try:
        if not ready.wait(10):
            raise SystemExit("the feed server did not start")
        print(f"{args.feeds} feeds x {args.entries} entries, {len(HOSTS)} hosts")
        asyncio.run(bench(args.feeds, args.port))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{'peak memory (watcher)':24} {peak:6.0f} MB (its feed-parser process is apart)")
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
