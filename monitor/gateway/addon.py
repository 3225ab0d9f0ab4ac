"""The gateway addon: decide every request with the policy, block with a page, record events.

Use it as a script (`mitmdump -s monitor/gateway/addon.py --set gateway_policy=...`) or through
`prevent-monitor proxy`, which loads the same `Gateway` class. What happens to a request:

- `http_connect` (regular proxy mode): a CONNECT to a blocked host is refused before any TLS.
- `next_layer`: a TLS ClientHello whose SNI is blocked (transparent mode, or a tunnel whose SNI
  differs from its CONNECT) is refused before any TLS; the upstream is never contacted.
- `tls_clienthello`: hosts that must not be intercepted (banking, health) pass through as-is.
- `requestheaders`: the full URL is decided as soon as the headers are in; a blocked request gets
  the block page and never reaches the origin; safe search is enforced per group.
- `responseheaders` / `response`: HTML and text up to `gateway_page_limit` are held back and
  scored; the rest streams through untouched.

Per-flow results live in `flow.metadata["prevent_monitor"]` (a `Verdict`), so nothing is worked
out twice. Decisions are in memory (fine on the event loop); reloads run in a worker thread;
events are handed to the store's writer without waiting. A fault in any hook is logged, counted
and answered with `gateway_fail_mode` (closed by default: a "filter error" page); it never
reaches mitmproxy, so it never takes the proxy down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from mitmproxy import ctx, exceptions, http, tls
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.layers.tls import parse_client_hello

from filters.decision import Action, Decision, stronger
from filters.live import LivePolicy
from filters.policy import Policy, PolicyError
from monitor import metrics
from monitor.events import FlaggedEvent, new_event_id
from monitor.gateway import pagescan, safesearch
from monitor.gateway.blockpage import BlockPage
from monitor.gateway.identity import (
    DeviceMap,
    DeviceMapError,
    Network,
    Person,
    forwarded_client,
    parse_networks,
)
from monitor.policyreload import PolicyReloader
from monitor.gateway.requesturl import RequestURLs

log = logging.getLogger("prevent_monitor.gateway")

METADATA_KEY = "prevent_monitor"
SCAN_KEY = "prevent_monitor_scan"
FAULT_KEY = "prevent_monitor_fault"
FAIL_MODES = ("closed", "open")
# Pages bigger than this are scored in a worker thread so the loop keeps serving others.
INLINE_SCORE_BYTES = 256 * 1024


class EventSink(Protocol):
    """What the gateway needs of the store's `EventWriter`."""

    def submit(self, event: FlaggedEvent) -> None: ...


class Verdict(NamedTuple):
    """The gateway's answer for one flow, kept in `flow.metadata` for the later hooks."""

    decision: Decision
    person: Person
    event_id: str | None  # the recorded event (and the block page's reference), if any


class Refusal(layer.Layer):
    """Closes the client connection at once: a blocked TLS connection, before any handshake.
    The ClientHello that was read is dropped, and no server connection is ever opened."""

    closed = False

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        if not self.closed:
            self.closed = True
            yield commands.CloseConnection(self.context.client)


class Gateway:
    """The prevent-monitor gateway (see the module docstring)."""

    def __init__(self, writer: EventSink | None = None) -> None:
        self.live: LivePolicy | None = None
        self.reloader: PolicyReloader | None = None
        self.writer: Any = writer
        self._owns_writer = writer is None
        self.devices = DeviceMap()
        self.trusted: list[Network] = []
        self.passthrough: tuple[str, ...] = ()
        self.block_page = BlockPage("Our school")
        self.faults = 0
        self.decisions: dict[str, int] = dict.fromkeys((a.value for a in Action), 0)
        self.events_submitted = 0
        self.urls = RequestURLs()
        # read on every response: kept here, as mitmproxy's option lookup is not free
        self.page_scan = True
        self.page_limit = pagescan.DEFAULT_LIMIT
        # the labelled Prometheus counters, looked up once per (action, category)
        self._counters: dict[tuple[str, str | None], Any] = {}

    # --- options ---------------------------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option(
            "gateway_policy",
            str,
            "",
            "The prevent-monitor policy file (categories, lists, groups). Required.",
        )
        loader.add_option(
            "gateway_database",
            str,
            "",
            "SQLAlchemy URL of the events store, e.g. sqlite:////var/lib/prevent-monitor/"
            "events.sqlite. An SQLite store is created and migrated on start. "
            "Empty: events are only logged.",
        )
        loader.add_option(
            "gateway_spool_dir",
            str,
            "",
            "Where events wait while the database is unreachable. "
            "Empty: a 'spool' folder next to an SQLite store.",
        )
        loader.add_option(
            "gateway_school",
            str,
            "",
            "The school's name on the block page. Empty: the policy's `school`.",
        )
        loader.add_option(
            "gateway_review_url",
            str,
            "",
            "The console's unblock-request form, e.g. https://filter.school.example/"
            "request-review; the block page links to it with the URL and the reference.",
        )
        loader.add_option(
            "gateway_device_map",
            str,
            "",
            "YAML or CSV file mapping addresses or networks to device, user and group.",
        )
        loader.add_option(
            "gateway_trusted_proxies",
            Sequence[str],
            [],
            "Addresses or networks whose X-Forwarded-For header is believed.",
        )
        loader.add_option(
            "gateway_passthrough",
            Sequence[str],
            [],
            "Hosts never intercepted (banking, health); each covers its subdomains. "
            "They are still decided by host name.",
        )
        loader.add_option(
            "gateway_fail_mode",
            str,
            "closed",
            "What a request gets when the filter itself fails: 'closed' (a filter-error "
            "page) or 'open' (the request goes through).",
            choices=FAIL_MODES,
        )
        loader.add_option(
            "gateway_page_scan",
            bool,
            True,
            "Score the text of HTML and other text responses with the weighted phrases.",
        )
        loader.add_option(
            "gateway_page_limit",
            int,
            pagescan.DEFAULT_LIMIT,
            "Largest page, in bytes after decompression, that is scored; bigger ones stream "
            "through unscored.",
        )
        loader.add_option(
            "gateway_reload_interval",
            int,
            5,
            "Seconds between checks of the policy and list files for changes (0: only on "
            "SIGHUP).",
        )
        loader.add_option(
            "gateway_status_file",
            str,
            "",
            "JSON file the gateway writes its health to for the console's dashboard.",
        )

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        if "gateway_policy" in updated:
            self._load_policy(options.gateway_policy)
        if "gateway_fail_mode" in updated and options.gateway_fail_mode not in FAIL_MODES:
            raise exceptions.OptionsError(
                f"gateway_fail_mode {options.gateway_fail_mode!r}: use closed or open"
            )
        if "gateway_page_limit" in updated:
            if options.gateway_page_limit < 1:
                raise exceptions.OptionsError(
                    "gateway_page_limit must be a positive number of bytes"
                )
            self.page_limit = options.gateway_page_limit
        if "gateway_page_scan" in updated:
            self.page_scan = options.gateway_page_scan
        if "gateway_reload_interval" in updated and options.gateway_reload_interval < 0:
            raise exceptions.OptionsError("gateway_reload_interval must be 0 or more seconds")
        if "gateway_device_map" in updated:
            self._load_devices(options.gateway_device_map)
        if "gateway_trusted_proxies" in updated:
            networks, problems = parse_networks(options.gateway_trusted_proxies)
            if problems:
                raise exceptions.OptionsError("gateway_trusted_proxies: " + "; ".join(problems))
            self.trusted = networks
        if "gateway_passthrough" in updated:
            self.passthrough = tuple(
                h.strip().lower().strip(".") for h in options.gateway_passthrough if h.strip()
            )
        if updated & {"gateway_school", "gateway_review_url", "gateway_policy"} and self.live:
            policy = self.live.current
            self.block_page = BlockPage(
                options.gateway_school or policy.school,
                options.gateway_review_url,
                policy.spec.timezone,
            )
        if updated & {"gateway_database", "gateway_spool_dir"}:
            self._open_writer(options.gateway_database, options.gateway_spool_dir)
        if "connection_strategy" in updated and options.connection_strategy != "lazy":
            # Eager connections reach the upstream before the SNI or the request is decided;
            # a blocked upstream must never be contacted.
            log.info("gateway: using connection_strategy=lazy so blocked hosts are never contacted")
            options.connection_strategy = "lazy"

    def _load_policy(self, path: str) -> None:
        if not path:
            self.live = None  # refused at `running`: a gateway without a policy must not serve
            return
        if self.live is not None and self.live.path == Path(path):
            return
        try:
            self.live = LivePolicy.load(path)
            metrics.set_policy(self.live.current.version, self.live.loaded_at)
        except PolicyError as exc:
            raise exceptions.OptionsError(f"gateway_policy {path}: {exc}") from None
        except OSError as exc:
            raise exceptions.OptionsError(f"gateway_policy {path}: {exc}") from None
        policy = self.live.current
        log.info(
            "gateway: policy %s loaded from %s (%d domains, %.2f s)",
            policy.version,
            path,
            policy.stats.domains,
            policy.stats.load_seconds,
        )
        if self.reloader is not None:
            self.reloader.stop()
        self.reloader = PolicyReloader(
            self.live,
            self._submit,
            status_file=ctx.options.gateway_status_file,
            status_extra=self._status,
        )

    def _load_devices(self, path: str) -> None:
        if not path:
            self.devices = DeviceMap()
            return
        try:
            self.devices = DeviceMap.load(path)
        except DeviceMapError as exc:
            raise exceptions.OptionsError(f"gateway_device_map: {exc}") from None

    def _open_writer(self, database: str, spool_dir: str) -> None:
        if not self._owns_writer:
            return
        self._close_writer()
        if not database:
            log.warning("gateway: gateway_database is not set; events are only logged")
            return
        from monitor.store.database import normalise_url
        from monitor.store.migrate import upgrade
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
            # The embedded store is the gateway's own: create and migrate it on start.
            try:
                Path(sqlite_file).parent.mkdir(parents=True, exist_ok=True)
                upgrade(rendered)
            except Exception as exc:
                raise exceptions.OptionsError(
                    f"gateway_database {sqlite_file}: cannot prepare the store: {exc}"
                ) from None
        self.writer = EventWriter(rendered, spool_dir=spool_dir)
        self.writer.start()

    def _close_writer(self) -> None:
        if self._owns_writer and self.writer is not None:
            self.writer.close(timeout=10)
            self.writer = None

    # --- lifecycle -------------------------------------------------------------------------

    def running(self) -> None:
        if self.live is None or self.reloader is None:
            # As a `mitmdump -s` script a refused option is only logged by mitmproxy; a
            # gateway without a policy must not serve (it would let everything through).
            log.error(
                "gateway: no policy is loaded; set gateway_policy to the policy file (e.g. "
                "--set gateway_policy=/etc/prevent-monitor/policy.yaml) and see any error "
                "above. Stopping the proxy."
            )
            ctx.master.shutdown()
            return
        self.reloader.start(ctx.options.gateway_reload_interval)

    def done(self) -> None:
        if self.reloader is not None:
            self.reloader.stop()
        self._close_writer()

    # --- who and what ----------------------------------------------------------------------

    def _policy(self) -> Policy:
        if self.live is None:
            raise RuntimeError("no policy is loaded (gateway_policy)")  # answered by fail mode
        return self.live.current

    def _who(self, flow: http.HTTPFlow, policy: Policy) -> Person:
        peer: str | None = flow.client_conn.peername[0] if flow.client_conn.peername else None
        if peer and peer.startswith("::ffff:"):
            peer = peer[7:]
        client_ip = peer
        if self.trusted:
            client_ip = forwarded_client(
                peer, flow.request.headers.get("x-forwarded-for"), self.trusted
            )
        auth = flow.metadata.get("proxyauth")
        user = auth[0] if auth else None
        device = self.devices.lookup(client_ip)
        if user:
            group = policy.group_for(user, (), client_ip)
        elif device is not None and device.group in policy.groups:
            group = device.group
        else:
            group = policy.group_for(device.user if device else None, (), client_ip)
        if device is None:
            return Person(user, None, client_ip, group)
        return Person(user or device.user, device.device, client_ip, group)

    def _record(self, decision: Decision, person: Person) -> str:
        event = FlaggedEvent.from_decision(
            decision, user=person.user, device=person.device, client_ip=person.client_ip
        )
        self._submit(event)
        return event.id

    def _submit(self, event: FlaggedEvent) -> None:
        self.events_submitted += 1
        if self.writer is None:
            log.info("event (not stored): %s %s %s", event.action, event.kind, event.rule)
            return
        self.writer.submit(event)

    def _category_words(self, policy: Policy, decision: Decision) -> str | None:
        if not decision.category:
            return None
        category = policy.categories.get(decision.category)
        return category.description if category and category.description else decision.category

    def _block_response(self, policy: Policy, decision: Decision, event_id: str) -> http.Response:
        return self.block_page.block(
            decision,
            reference=event_id,
            when=datetime.now(UTC),
            category=self._category_words(policy, decision),
        )

    def _passes_through(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == p or host.endswith("." + p) for p in self.passthrough)

    # --- hooks -----------------------------------------------------------------------------

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return  # proxyauth may already have answered 407
        with self._guard(flow, "http_connect"):
            policy = self._policy()
            person = self._who(flow, policy)
            decision = policy.decide_host(flow.request.host, group=person.group)
            self._count(decision)
            if not decision.recorded:
                return
            passthrough = self._passes_through(flow.request.host)
            if not decision.blocks and not passthrough:
                return  # intercepted: each request inside is decided and recorded by URL
            event_id = self._record(decision, person)
            flow.metadata[METADATA_KEY] = Verdict(decision, person, event_id)
            if decision.blocks:
                flow.response = http.Response.make(
                    403,
                    f"Blocked by the school's web filter: {decision.reason}. "
                    f"Reference {event_id}.\n".encode(),
                    {"Content-Type": "text/plain; charset=utf-8"},
                )

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        if self.live is None:
            return
        data = nextlayer.data_client()
        if not starts_like_tls_record(data):
            return
        try:
            hello = parse_client_hello(data)
        except ValueError:
            return  # not TLS after all: mitmproxy's own next_layer decides
        if hello is None or not hello.sni:
            return  # more data to come (this hook is called again), or no name to decide
        try:
            self._decide_sni(nextlayer, hello.sni)
        except Exception:
            self._fault("next_layer")
            if ctx.options.gateway_fail_mode == "closed":
                nextlayer.layer = Refusal(nextlayer.context)

    def _decide_sni(self, nextlayer: layer.NextLayer, sni: str) -> None:
        assert self.live is not None
        policy = self.live.current
        client = nextlayer.context.client
        peer = client.peername[0] if client.peername else None
        group = policy.group_for(None, (), peer)
        device = self.devices.lookup(peer)
        if device is not None and device.group in policy.groups:
            group = device.group
        decision = policy.decide_host(sni, group=group)
        if not decision.blocks:
            return
        self._count(decision)
        person = Person(device.user if device else None, device.device if device else None, peer)
        self._record(decision, person)
        log.info("gateway: refused TLS to %s (%s)", decision.host, decision.rule)
        nextlayer.layer = Refusal(nextlayer.context)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        sni = data.client_hello.sni
        if sni and self.passthrough and self._passes_through(sni):
            data.ignore_connection = True

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        with self._guard(flow, "requestheaders"):
            policy = self._policy()
            person = self._who(flow, policy)
            url, pretty_host = self.urls.of(flow.request)
            started = time.perf_counter()
            decision = policy.decide(url, group=person.group)
            request = flow.request
            if request.host != pretty_host and flow.client_conn.proxy_mode.type_name == "regular":
                # A proxy request names the server mitmproxy connects to in its request line
                # (or CONNECT); a Host header naming another site must not let it through.
                target = policy.decide(request.url, group=person.group)
                decision = stronger(decision, target)
            metrics.DECISION_SECONDS.observe(time.perf_counter() - started)
            self._count(decision)
            event_id = self._record(decision, person) if decision.recorded else None
            flow.metadata[METADATA_KEY] = Verdict(decision, person, event_id)
            if event_id is not None and decision.blocks:
                flow.response = self._block_response(policy, decision, event_id)
                return
            group = policy.groups.get(person.group or "")
            if group is not None and group.safe_search:
                safesearch.enforce(flow.request, pretty_host)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.error or not flow.live or flow.response is None:
            return
        verdict = flow.metadata.get(METADATA_KEY)
        if verdict is None or verdict.decision.blocks:
            return  # our own block page, or a flow we did not decide (e.g. a 407)
        with self._guard(flow, "responseheaders", respond_now=False):
            limit = self.page_limit
            kind = self._scan_type(flow)
            if kind is not None:
                flow.metadata[SCAN_KEY] = kind  # (media type, charset), for `response`
            elif pagescan.worth_streaming(flow.response, limit):
                flow.response.stream = True

    def _scan_type(self, flow: http.HTTPFlow) -> tuple[str, str | None] | None:
        if not self.page_scan or self.live is None:
            return None
        if not self.live.current.stats.page_phrases:
            return None  # nothing could match: the body streams or passes as if unscanned
        return pagescan.scan_type(flow, self.page_limit)

    async def response(self, flow: http.HTTPFlow) -> None:
        if flow.error or not flow.live or flow.response is None or self.live is None:
            return
        if flow.metadata.get(FAULT_KEY):
            flow.response = self._error_response(flow)
            return
        kind = flow.metadata.get(SCAN_KEY)
        if not kind:
            return
        verdict: Verdict = flow.metadata[METADATA_KEY]
        with self._guard(flow, "response"):
            limit = self.page_limit
            body = pagescan.page_bytes(flow.response, limit)
            if not body:
                return
            policy = self.live.current
            media, charset = kind
            score = policy.score_page
            args = (body, media)
            kwargs = {
                "url": verdict.decision.url,
                "charset": charset,
                "group": verdict.person.group,
                "limit": limit,
            }
            if len(body) > INLINE_SCORE_BYTES:
                decision, _ = await asyncio.to_thread(score, *args, **kwargs)
            else:
                decision, _ = score(*args, **kwargs)
            if not decision.recorded:
                return
            self._count(decision)
            event_id = self._record(decision, verdict.person)
            flow.metadata[METADATA_KEY] = Verdict(decision, verdict.person, event_id)
            if decision.blocks:
                flow.response = self._block_response(policy, decision, event_id)

    # --- faults ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self, flow: http.HTTPFlow, hook: str, *, respond_now: bool = True) -> Iterator[None]:
        """Whatever goes wrong in a hook stays here: logged, counted, answered by fail mode.
        At response headers the body is still to come (and would overwrite a page set now),
        so the error page is put in place by the `response` hook instead."""
        try:
            yield
        except Exception:
            self._fault(hook)
            if ctx.options.gateway_fail_mode == "open" or not flow.live:
                return
            flow.metadata.pop(SCAN_KEY, None)
            if respond_now:
                flow.response = self._error_response(flow)
            else:
                flow.metadata[FAULT_KEY] = True
                if flow.response is not None:
                    flow.response.stream = False

    def _error_response(self, flow: http.HTTPFlow) -> http.Response:
        return self.block_page.error(
            flow.request.pretty_url, reference=new_event_id(), when=datetime.now(UTC)
        )

    def _fault(self, hook: str) -> None:
        self.faults += 1
        metrics.FILTER_FAULTS.inc()
        log.exception(
            "gateway: fault in %s (failing %s)", hook, ctx.options.gateway_fail_mode
        )

    def _count(self, decision: Decision) -> None:
        action = decision.action.value
        self.decisions[action] += 1
        key = (action, decision.category)
        counter = self._counters.get(key)
        if counter is None:
            if len(self._counters) > 1024:  # categories come from the policy: few, but bounded
                self._counters.clear()
            counter = metrics.DECISIONS.labels(action, decision.category or "none")
            self._counters[key] = counter
        counter.inc()

    def _status(self) -> dict[str, Any]:
        return {"faults": self.faults, "decisions": dict(self.decisions)}


addons = [Gateway()]
