"""The review console's aiohttp application: `create_app()` and `start_console()`.

Pages live in their own modules (`signin`, `queue`, `eventpage`, `unblock`, `mentions`,
`dashboard`, `annual`, `listedit`, `versionpages`), each with a `routes` table, and share
`monitor.console.web`; this module only puts them together.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp_jinja2
import jinja2
from aiohttp import web

from monitor.console.annual import routes as annual_routes
from monitor.console.contextpage import routes as context_routes
from monitor.console.dashboard import routes as dashboard_routes
from monitor.console.eventpage import routes as event_routes
from monitor.console.formatting import install as install_formatting
from monitor.console.health import routes as health_routes
from monitor.console.impact import routes as impact_routes
from monitor.console.keys import derive, load_session_key
from monitor.console.listedit import routes as listedit_routes
from monitor.console.mentions import routes as mention_routes
from monitor.console.queue import routes as queue_routes
from monitor.console.roles import Pseudonyms
from monitor.console.sessions import FormTokens, SessionStore, Throttle
from monitor.console.settings import ConsoleSettings
from monitor.console.signin import routes as signin_routes
from monitor.console.throttle import Backoff
from monitor.console.trustpage import routes as trust_routes
from monitor.console.unblock import routes as unblock_routes
from monitor.console.urltest import routes as url_test_routes
from monitor.console.versionpages import routes as version_routes
from monitor.console.web import CONSOLE, Console, base_context, require_signin, security_headers
from monitor.schools import DEFAULT_SCHOOL_ID, Schools
from monitor.store.database import is_sqlite, make_engine
from monitor.store.runner import Store

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
READERS = 8  # reader threads, one per pooled connection
PAGES = (
    signin_routes, queue_routes, event_routes, unblock_routes, mention_routes, dashboard_routes,
    annual_routes, context_routes, trust_routes, url_test_routes, health_routes,
    listedit_routes, version_routes, impact_routes,
)  # fmt: skip


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def open_store(database_url: str) -> Store:
    """The console's door to the database: eight readers; on SQLite reads use deferred
    transactions and writes BEGIN IMMEDIATE on their own engine (monitor.store.database)."""
    engine = make_engine(database_url, pool_size=READERS)
    read_engine = engine
    if is_sqlite(database_url):
        read_engine = make_engine(database_url, readonly=True, pool_size=READERS)
    return Store(engine, read_engine=read_engine, readers=READERS)


def make_console(
    settings: ConsoleSettings,
    store: Store,
    policy_path: str | Path,
    data_dir: str | Path,
    schools: Schools | None = None,
) -> Console:
    key = load_session_key(settings.session_key, data_dir)
    schools = schools or Schools({DEFAULT_SCHOOL_ID: "Our School"})
    try:
        zone = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("console.timezone %r is unknown: showing times in UTC", settings.timezone)
        zone = ZoneInfo("UTC")
    return Console(
        settings=settings,
        store=store,
        key=key,
        policy_path=Path(policy_path),
        data_dir=Path(data_dir),
        sessions=SessionStore(
            derive(key, "session"),
            lifetime_s=settings.session_hours * 3600,
            idle_s=settings.idle_minutes * 60,
        ),
        form_tokens=FormTokens(derive(key, "form")),
        pseudonyms=Pseudonyms(derive(key, "pseudonym"), per_school=schools.many),
        login_throttle=Backoff(settings.login_attempts, settings.login_window_minutes * 60),
        review_throttle=Throttle(settings.review_requests_per_hour, 3600),
        zone=zone,
        schools=schools,
    )


def create_app(
    settings: ConsoleSettings,
    database_url: str,
    policy_path: str | Path,
    data_dir: str | Path,
    *,
    store: Store | None = None,
    schools: Schools | None = None,
) -> web.Application:
    """The console as an aiohttp application (not started). A `store` given stays open; one
    the console opens itself is closed on cleanup."""
    owned = store is None
    store = store or open_store(database_url)
    console = make_console(settings, store, policy_path, data_dir, schools)
    app = web.Application(
        middlewares=[security_headers, require_signin], client_max_size=256 * 1024
    )
    app[CONSOLE] = console
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("monitor.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        context_processors=[base_context],
    )
    install_formatting(env, console.zone)
    env.globals["school_name"] = console.schools.name_of
    env.globals["many_schools"] = console.schools.many
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static/", HERE / "static", append_version=True)
    for routes in PAGES:
        app.router.add_routes(routes)
    if owned:
        app.on_cleanup.append(lambda _app: _close(console.store))
    return app


async def _close(store: Store) -> None:
    await asyncio.to_thread(store.close)
    await asyncio.to_thread(store.engine.dispose)
    if store.read_engine is not store.engine:
        await asyncio.to_thread(store.read_engine.dispose)


async def start_console(
    settings: ConsoleSettings,
    database_url: str,
    policy_path: str | Path,
    data_dir: str | Path,
    schools: Schools | None = None,
) -> web.AppRunner:
    """Create, start and return the console's runner; the daemon calls `await runner.cleanup()`
    on shutdown."""
    app = create_app(settings, database_url, policy_path, data_dir, schools=schools)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.listen_host, settings.port)
    await site.start()
    log.info("review console on http://%s:%d/", settings.listen_host, settings.port)
    return runner
