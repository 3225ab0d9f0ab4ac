"""What the gateway's addons share: one small `GatewayState` object, and the per-flow `Verdict`.

The addons (`monitor.gateway.addon` lists them) each own a concern and its options; this is
where what they all need meets: the policy in force (set by the policy addon), who is who (the
device map and trusted proxies, set by the identity addon), where events and the host-only
context log go (set by the recording addon), the block page (set by the request addon), and
the fault and decision counts.
A flow's own results travel in `flow.metadata` under the keys below.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from mitmproxy import ctx, http

from filters.decision import Action, Decision
from filters.live import LivePolicy
from filters.policy import Policy
from monitor import metrics
from monitor.events import EventSink, FlaggedEvent, identity_of, new_event_id, utcnow
from monitor.gateway.blockpage import BlockPage
from monitor.gateway.identity import DeviceMap, Network, Person, identify

log = logging.getLogger("prevent_monitor.gateway")

METADATA_KEY = "prevent_monitor"  # the flow's Verdict
SCAN_KEY = "prevent_monitor_scan"  # (media type, charset) of a response held back to be scored
FAULT_KEY = "prevent_monitor_fault"  # a fault at response headers: the error page comes later
CONTEXT_KEY = "prevent_monitor_context"  # the flow is already in the context log
FAIL_MODES = ("closed", "open")
MAX_PEOPLE = 16_384  # who() answers kept: a school's devices, with room for a trust's


class Verdict(NamedTuple):
    """The gateway's answer for one flow, kept in `flow.metadata` for the later hooks."""

    decision: Decision
    person: Person
    event_id: str | None  # the recorded event (and the block page's reference), if any


class GatewayState:
    """The policy, people, event sink, block page and counters the gateway's addons share."""

    def __init__(self) -> None:
        self.live: LivePolicy | None = None
        self.sink: EventSink | None = None
        # the context log's `note_request(started, identity, host, action)` (the
        # EventWriter's), None while the log is off
        self.context: Callable[[float, str, str, str], None] | None = None
        self.devices = DeviceMap()
        self.trusted: list[Network] = []
        # who() answers for the policy, device map and trusted proxies in force (each is
        # replaced whole when it changes)
        self._people: dict[tuple[str | None, str | None, str | None], Person] = {}
        self._people_of: tuple[Policy, DeviceMap, list[Network]] | None = None
        self.block_page = BlockPage("Our school")
        # the console's and the block page's hosts: never filtered, unwrapped or recorded
        self.own_hosts: frozenset[str] = frozenset()
        self.faults = 0
        self.decisions: dict[str, int] = dict.fromkeys((a.value for a in Action), 0)
        self.events_submitted = 0
        self._writer_report = metrics.WriterReport()
        # the labelled Prometheus counters, looked up once per (action, category)
        self._counters: dict[tuple[str, str | None], Any] = {}

    # --- who and what ----------------------------------------------------------------------

    def policy(self) -> Policy:
        if self.live is None:
            raise RuntimeError("no policy is loaded (gateway_policy)")  # answered by fail mode
        return self.live.current

    def who(self, policy: Policy, flow: http.HTTPFlow) -> Person:
        """Who is behind an HTTP request (or a CONNECT). Remembered per (address, user,
        X-Forwarded-For) for the policy and device map in force: a school's few thousand
        devices ask again and again, and the answer only changes when one of those does."""
        auth = flow.metadata.get("proxyauth")
        user = auth[0] if auth else None
        peername = flow.client_conn.peername
        peer = peername[0] if peername else None
        # The header is only believed from a trusted proxy, so it is only read when there is one.
        forwarded = flow.request.headers.get("x-forwarded-for") if self.trusted else None
        of = self._people_of
        if of is None or of[0] is not policy or of[1] is not self.devices or of[2] is not (
            self.trusted
        ):
            # A reload, a new device map or new trusted proxies: every answer may change. The
            # objects are held, not their id(), so an id reused later never brings one back.
            self._people.clear()
            self._people_of = (policy, self.devices, self.trusted)
        key = (peer, user, forwarded)
        person = self._people.get(key)
        if person is None:
            person = identify(
                policy, self.devices, peer, user=user, forwarded_for=forwarded,
                trusted=self.trusted,
            )  # fmt: skip
            if len(self._people) >= MAX_PEOPLE:
                self._people.clear()  # a reload or a flood of addresses: start afresh
            self._people[key] = person
        return person

    def is_own(self, *hosts: str) -> bool:
        """Whether every one of these names is one of the school's own prevent-monitor hosts."""
        own = self.own_hosts
        return bool(own) and all(h.lower().rstrip(".") in own for h in hosts)

    def record(self, decision: Decision, person: Person) -> str:
        """Hand the decision over as an event; its id is the block page's reference."""
        event = FlaggedEvent.from_decision(
            decision, user=person.user, device=person.device, client_ip=person.client_ip
        )
        self.submit(event)
        return event.id

    def submit(self, event: FlaggedEvent) -> None:
        self.events_submitted += 1
        if self.sink is None:
            log.info("event (not stored): %s %s %s", event.action, event.kind, event.rule)
            return
        self.sink.submit(event)

    def note_visit(self, flow: http.HTTPFlow, decision: Decision, person: Person) -> None:
        """Put the flow's host and action in the context log (once), if the log is on."""
        submit = self.context
        if submit is None or flow.metadata.get(CONTEXT_KEY):
            return
        flow.metadata[CONTEXT_KEY] = True
        who = identity_of(person.user, person.device, person.client_ip)
        submit(flow.request.timestamp_start, who, decision.host, decision.action._value_)

    def count(self, decision: Decision) -> None:
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

    def status(self) -> dict[str, Any]:
        """What the status file adds to the policy's state: counts, and the event writer's
        queue, spool and write rate (None: no writer, events are only logged)."""
        stats = getattr(self.sink, "stats", None)
        return {
            "faults": self.faults,
            "decisions": dict(self.decisions),
            "events_submitted": self.events_submitted,
            "writer": self._writer_report(stats) if stats is not None else None,
        }

    # --- pages -----------------------------------------------------------------------------

    def block_response(self, policy: Policy, decision: Decision, event_id: str) -> http.Response:
        return self.block_page.block(
            decision,
            reference=event_id,
            when=utcnow(),
            category=category_words(policy, decision),
        )

    def error_response(self, flow: http.HTTPFlow) -> http.Response:
        return self.block_page.error(
            flow.request.pretty_url, reference=new_event_id(), when=utcnow()
        )

    # --- faults ----------------------------------------------------------------------------

    def guard(self, flow: http.HTTPFlow, hook: str, *, respond_now: bool = True) -> Guard:
        """Whatever goes wrong in a hook stays here: logged, counted, answered by fail mode.
        At response headers the body is still to come (and would overwrite a page set now),
        so the error page is put in place by the `response` hook instead."""
        return Guard(self, flow, hook, respond_now)

    def failed(self, flow: http.HTTPFlow, hook: str, respond_now: bool) -> None:
        """A hook raised: count and log it, then answer by the fail mode."""
        self.fault(hook)
        if ctx.options.gateway_fail_mode == "open" or not flow.live:
            return
        flow.metadata.pop(SCAN_KEY, None)
        if respond_now:
            flow.response = self.error_response(flow)
        else:
            flow.metadata[FAULT_KEY] = True
            if flow.response is not None:
                flow.response.stream = False

    def fault(self, hook: str) -> None:
        self.faults += 1
        metrics.FILTER_FAULTS.inc()
        log.exception("gateway: fault in %s (failing %s)", hook, ctx.options.gateway_fail_mode)


class Guard:
    """`GatewayState.guard`'s context manager: a class, not a generator, because it wraps
    every hook of every request and a generator-based one costs several times as much."""

    __slots__ = ("flow", "hook", "respond_now", "state")

    def __init__(self, state: GatewayState, flow: http.HTTPFlow, hook: str, respond_now: bool):
        self.state, self.flow, self.hook, self.respond_now = state, flow, hook, respond_now

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        if kind is None or not issubclass(kind, Exception):
            return False  # nothing went wrong, or a KeyboardInterrupt/SystemExit: let it go
        self.state.failed(self.flow, self.hook, self.respond_now)
        return True


def category_words(policy: Policy, decision: Decision) -> str | None:
    """The category as the block page names it: its description, else its name."""
    if not decision.category:
        return None
    category = policy.categories.get(decision.category)
    return category.description if category and category.description else decision.category
