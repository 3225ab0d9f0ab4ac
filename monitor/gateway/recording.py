"""The recording addon: open the events store's writer on `configure`, flush and close it on `done`.

Like mitmproxy's own `save` addon with its file: `gateway_database` names the store, and the
`EventWriter` it opens is where every event the gateway makes goes (through the shared state),
without the event loop ever waiting on the database. The store must already be at the current
schema: migrations are run by `prevent-monitor db upgrade` and by first run, never here, and a
store that is missing or behind stops start-up saying so. While the database is unreachable,
events wait in `gateway_spool_dir`.

`ContextRecording` keeps the optional host-only context log (`gateway_context_log_days`, 0: off):
at the end of each flow, the host and what the gateway did, for the person behind it, handed to
the same writer (which folds them per minute, and drops them rather than spool them while the
database is away). It runs after the other addons, so it sees each flow's final verdict.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http

from monitor.events import EventSink
from monitor.gateway import options
from monitor.gateway.state import METADATA_KEY, GatewayState, Verdict
from monitor.gateway.tlsguard import TLSGuard
from monitor.schools import DEFAULT_SCHOOL_ID, Schools, id_problem

log = logging.getLogger("prevent_monitor.gateway")


class EventRecording:
    """Owns the store's writer (unless one is handed in, as tests do)."""

    def __init__(self, state: GatewayState, sink: EventSink | None = None) -> None:
        self.state = state
        self.writer: Any = None  # the EventWriter this addon opened
        self._owns_writer = sink is None
        state.sink = sink

    def load(self, loader: Any) -> None:
        options.declare(
            loader, "gateway_database", "gateway_spool_dir", "gateway_context_log_days",
            "gateway_school_id", "gateway_schools",
        )  # fmt: skip

    def configure(self, updated: set[str]) -> None:
        writer_options = {"gateway_database", "gateway_spool_dir", "gateway_school_id"}
        if updated & (writer_options | {"gateway_schools"}) and self._owns_writer:
            self._close_writer()
            self._open_writer(ctx.options.gateway_database, ctx.options.gateway_spool_dir)
        if ctx.options.gateway_context_log_days < 0:
            raise exceptions.OptionsError(
                "gateway_context_log_days must be 0 (off) or a number of days to keep it"
            )
        sink = self.writer if self._owns_writer else self.state.sink
        on = ctx.options.gateway_context_log_days > 0
        self.state.context = getattr(sink, "note_request", None) if on else None

    def done(self) -> None:
        self._close_writer()

    def _open_writer(self, database: str, spool_dir: str) -> None:
        if not database:
            log.warning("gateway: gateway_database is not set; events are only logged")
            return
        from monitor.store.database import normalise_url
        from monitor.store.writer import EventWriter

        try:
            url = normalise_url(database)
        except ValueError as exc:
            raise exceptions.OptionsError(f"gateway_database: {exc}") from None
        sqlite_file = url.database if url.get_backend_name() == "sqlite" else None
        if sqlite_file and not spool_dir:
            spool_dir = str(Path(sqlite_file).parent / "spool")
        if not spool_dir:
            raise exceptions.OptionsError(
                "gateway_spool_dir is not set: events need somewhere to wait while the "
                "database is unreachable"
            )
        rendered = url.render_as_string(hide_password=False)
        if sqlite_file:
            check_embedded_store(rendered, sqlite_file)
        self.writer = EventWriter(rendered, spool_dir=spool_dir, schools=_schools())
        self.writer.start()
        self.state.sink = self.writer

    def _close_writer(self) -> None:
        if self._owns_writer and self.writer is not None:
            self.writer.close(timeout=10)
            self.writer = None
            self.state.sink = None
            self.state.context = None


class ContextRecording:
    """The host-only context log: each flow's host and action, once, at its end. Last of the
    gateway's addons, so the verdict it reads is the final one (a page score included)."""

    def __init__(self, state: GatewayState, tls: TLSGuard) -> None:
        self.state = state
        self.tls = tls  # knows what mitmproxy will not decrypt (passthrough, ignore_hosts)

    def response(self, flow: http.HTTPFlow) -> None:
        self._note(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._note(flow)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        state = self.state
        if state.context is None or flow.error:
            return
        if METADATA_KEY in flow.metadata:  # refused, or a recorded passthrough host
            self._note(flow)
        elif (
            flow.response is None
            and state.live is not None
            and not self.tls.intercepts(flow.request.host, flow.request.port)
        ):
            # Nothing inside the tunnel will be seen: its host is the visit.
            with state.guard(flow, "http_connect (context log)", respond_now=False):
                policy = state.policy()
                person = state.who(policy, flow)
                decision = policy.decide_host(
                    flow.request.host, user=person.user, group=person.group
                )
                state.note_visit(flow, decision, person)

    def _note(self, flow: http.HTTPFlow) -> None:
        verdict: Verdict | None = flow.metadata.get(METADATA_KEY)
        if verdict is not None and self.state.context is not None:
            self.state.note_visit(flow, verdict.decision, verdict.person)


def check_embedded_store(url: str, sqlite_file: str) -> None:
    """Refuse an SQLite store that is missing or not at the current schema, saying what to run.
    (A PostgreSQL store may be unreachable at start: the writer spools until it is back.)"""
    from monitor.store.migrate import StoreNotReady, check_ready

    try:
        check_ready(url)
    except StoreNotReady as exc:
        raise exceptions.OptionsError(
            f"gateway_database {sqlite_file}: {exc}; run `prevent-monitor db upgrade "
            f"--database-url {url}` (or start the daemon with `prevent-monitor run`, which "
            "prepares the store) and start the gateway again"
        ) from None


def _schools() -> Schools:
    """The schools this gateway knows: its own (every event's) and the trust's."""
    own = ctx.options.gateway_school_id or DEFAULT_SCHOOL_ID
    problem = id_problem(own)
    if problem:
        raise exceptions.OptionsError(f"gateway_school_id: {problem}")
    return Schools({own: own, **{school: school for school in ctx.options.gateway_schools}}, own)
