"""The request addon: decide every HTTP request by its URL, and score text pages.

- `requestheaders`: the full URL is decided as soon as the headers are in, so an upload is never
  forwarded before a block; a blocked request gets the block page and never reaches the origin;
  flagged and study requests pass and are recorded; safe search is enforced per group.
- `responseheaders` / `response`: HTML and text up to `gateway_page_limit` are held back and
  scored with the weighted phrases (`gateway_page_scan`); over the block threshold the page is
  replaced by the block page. Larger or binary bodies stream through untouched.

The block page names the school (`gateway_school`, else the policy's) and links to the
console's review form (`gateway_review_url`). The school's own prevent-monitor hosts (the review
link's, and `gateway_own_hosts`) are never filtered, unwrapped or recorded.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mitmproxy import ctx, exceptions, http

from filters.decision import Decision, stronger
from filters.weighted import PageScore
from monitor import metrics
from monitor.gateway import options, pagescan, safesearch
from monitor.gateway.blockpage import BlockPage, own_hosts
from monitor.gateway.requesturl import RequestURLs
from monitor.gateway.scoredpages import ScoredPages
from monitor.gateway.state import FAULT_KEY, METADATA_KEY, SCAN_KEY, GatewayState, Verdict

# Pages bigger than this are scored in a worker thread so the loop keeps serving others.
INLINE_SCORE_BYTES = 256 * 1024


class RequestFilter:
    """URL decisions, safe search, page scores and the block page."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self.urls = RequestURLs()
        # read on every response: kept here, as mitmproxy's option lookup is not free
        self.page_scan = True
        self.page_limit = pagescan.DEFAULT_LIMIT
        self.scored = ScoredPages()

    def load(self, loader: Any) -> None:
        options.declare(loader, "gateway_school", "gateway_review_url", "gateway_own_hosts")
        options.declare(loader, "gateway_page_scan", "gateway_page_limit")

    def configure(self, updated: set[str]) -> None:
        opts = ctx.options
        if "gateway_page_limit" in updated:
            if opts.gateway_page_limit < 1:
                raise exceptions.OptionsError(
                    "gateway_page_limit must be a positive number of bytes"
                )
            self.page_limit = opts.gateway_page_limit
        if "gateway_page_scan" in updated:
            self.page_scan = opts.gateway_page_scan
        if updated & {"gateway_review_url", "gateway_own_hosts"}:
            self.state.own_hosts = own_hosts(opts.gateway_review_url, opts.gateway_own_hosts)
        live = self.state.live
        if updated & {"gateway_school", "gateway_review_url", "gateway_policy"} and live:
            policy = live.current
            self.state.block_page = BlockPage(
                opts.gateway_school or policy.school, opts.gateway_review_url, policy.spec.timezone
            )

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        state = self.state
        with state.guard(flow, "requestheaders"):
            policy = state.policy()
            person = state.who(policy, flow)
            url, pretty_host = self.urls.of(flow.request)
            if state.is_own(flow.request.host, pretty_host):
                return  # the console or the block page: "Ask for a review" must work
            started = time.perf_counter()
            decision = policy.decide(url, user=person.user, group=person.group)
            request = flow.request
            if request.host != pretty_host and flow.client_conn.proxy_mode.type_name == "regular":
                # A proxy request names the server mitmproxy connects to in its request line
                # (or CONNECT); a Host header naming another site must not let it through.
                target = policy.decide(request.url, user=person.user, group=person.group)
                decision = stronger(decision, target)
            metrics.DECISION_SECONDS.observe(time.perf_counter() - started)
            state.count(decision)
            event_id = state.record(decision, person) if decision.recorded else None
            flow.metadata[METADATA_KEY] = Verdict(decision, person, event_id)
            if event_id is not None and decision.blocks:
                flow.response = state.block_response(policy, decision, event_id)
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
        with self.state.guard(flow, "responseheaders", respond_now=False):
            kind = self._scan_type(flow)
            if kind is not None:
                flow.metadata[SCAN_KEY] = kind  # (media type, charset), for `response`
            elif pagescan.worth_streaming(flow.response, self.page_limit):
                flow.response.stream = True

    def _scan_type(self, flow: http.HTTPFlow) -> tuple[str, str | None] | None:
        live = self.state.live
        if not self.page_scan or live is None:
            return None
        if not live.current.stats.page_phrases:
            return None  # nothing could match: the body streams or passes as if unscanned
        return pagescan.scan_type(flow, self.page_limit)

    async def response(self, flow: http.HTTPFlow) -> None:
        state = self.state
        if flow.error or not flow.live or flow.response is None or state.live is None:
            return
        if flow.metadata.get(FAULT_KEY):
            flow.response = state.error_response(flow)
            return
        kind = flow.metadata.get(SCAN_KEY)
        if not kind:
            return
        verdict: Verdict = flow.metadata[METADATA_KEY]
        with state.guard(flow, "response"):
            body = pagescan.page_bytes(flow.response, self.page_limit)
            if not body:
                return
            policy = state.live.current
            media, charset = kind
            key = self.scored.key(policy.version, media, charset, body)
            page_score = self.scored.get(key)
            if page_score is None:
                decision, page_score = await self._score(policy, body, media, charset, verdict)
                self.scored.put(key, page_score)
            else:
                person = verdict.person
                decision = policy.page_decision(
                    page_score, url=verdict.decision.url or "", group=person.group,
                    user=person.user,
                )  # fmt: skip
            if not decision.recorded:
                return
            state.count(decision)
            event_id = state.record(decision, verdict.person)
            flow.metadata[METADATA_KEY] = Verdict(decision, verdict.person, event_id)
            if decision.blocks:
                flow.response = state.block_response(policy, decision, event_id)

    async def _score(
        self, policy: Any, body: bytes, media: str, charset: str | None, verdict: Verdict
    ) -> tuple[Decision, PageScore]:
        kwargs = {
            "url": verdict.decision.url,
            "charset": charset,
            "group": verdict.person.group,
            "user": verdict.person.user,  # an exemption may name the pupil
            "limit": self.page_limit,
        }
        if len(body) > INLINE_SCORE_BYTES:
            return await asyncio.to_thread(policy.score_page, body, media, **kwargs)
        return policy.score_page(body, media, **kwargs)
