"""The Gateway addon's hooks, with mitmproxy's own test kit (taddons, tflow)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons

from monitor.gateway.addon import Gateway
from monitor.gateway.state import METADATA_KEY, SCAN_KEY, Verdict
from tests.gateway.kit import POLICY_DIR, Recorder, configured, request_flow

# --- options -------------------------------------------------------------------------------


def test_no_policy_fails_closed(gateway: Gateway, recorder: Recorder) -> None:
    with taddons.context(gateway) as tctx:
        tctx.configure(gateway, gateway_policy="")
        flow = request_flow("http://allowed.test/")
        gateway.requests.requestheaders(flow)
        assert flow.response is not None and flow.response.status_code == 503


def test_bad_policy_names_file_and_line(gateway: Gateway, tmp_path: Path) -> None:
    shutil.copytree(POLICY_DIR, tmp_path / "policy")
    (tmp_path / "policy" / "block.domains").write_text("ok.test\nnot a domain!!\n")
    with (
        taddons.context(gateway) as tctx,
        pytest.raises(exceptions.OptionsError, match=r"block\.domains:2"),
    ):
        tctx.configure(gateway, gateway_policy=str(tmp_path / "policy" / "policy.yaml"))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("gateway_trusted_proxies", ["10.0.0.1", "nonsense"], "nonsense"),
        ("gateway_page_limit", 0, "positive"),
        ("gateway_reload_interval", -1, "0 or more"),
        ("gateway_fail_mode", "sideways", "sideways"),
        ("gateway_device_map", "/nonexistent/devices.yaml", "cannot read"),
    ],
)
def test_bad_options_are_refused(
    gateway: Gateway, option: str, value: object, message: str
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        with pytest.raises(exceptions.OptionsError, match=message):
            tctx.configure(gateway, **{option: value})


def test_eager_connections_are_turned_lazy(gateway: Gateway) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        tctx.options.add_option("connection_strategy", str, "eager", "mitmproxy's own option")
        tctx.options.update(connection_strategy="eager")
        assert tctx.options.connection_strategy == "lazy"


# --- plain HTTP ----------------------------------------------------------------------------


def test_blocked_request_gets_block_page_and_event(gateway: Gateway, recorder: Recorder) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_review_url="http://console.test/request-review")
        flow = request_flow("http://www.extremist.test/page?x=<b>")
        gateway.requests.requestheaders(flow)
        assert flow.response is not None and flow.response.status_code == 403
        [event] = recorder.events
        assert (event.action, event.kind, event.category) == ("block", "url", "extremism")
        assert event.client_ip == "192.168.1.20" and event.group == "pupils"
        page = flow.response.get_text()
        assert event.id in page
        assert "Fictional Example Academy" in page
        assert "terrorist or extremist material" in page
        assert "&lt;b&gt;" in page and "<b>" not in page  # autoescaped
        assert "http://console.test/request-review?url=http%3A%2F%2Fwww.extremist.test" in page
        assert f"ref={event.id}" in page
        verdict = flow.metadata[METADATA_KEY]
        assert isinstance(verdict, Verdict) and verdict.event_id == event.id


def test_allowed_request_passes_unrecorded(gateway: Gateway, recorder: Recorder) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        flow = request_flow("http://allowed.test/")
        gateway.requests.requestheaders(flow)
        assert flow.response is None
        assert recorder.events == []
        assert flow.metadata[METADATA_KEY].decision.action == "allow"


def test_exempt_site_passes_and_is_recorded_as_study(
    gateway: Gateway, recorder: Recorder
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        flow = request_flow("http://news.watched.test/today")
        gateway.requests.requestheaders(flow)
        assert flow.response is None
        [event] = recorder.events
        assert (event.action, event.category) == ("study", "watchlist")
        assert event.host == "news.watched.test"


def test_year13_network_gets_study_access(gateway: Gateway, recorder: Recorder) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        flow = request_flow("http://extremist.test/", peer="10.13.4.5")
        gateway.requests.requestheaders(flow)
        assert flow.response is None
        [event] = recorder.events
        assert (event.action, event.group) == ("study", "year13")


def test_circumvention_is_its_own_kind(gateway: Gateway, recorder: Recorder) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        doh = request_flow("https://doh-resolver.test/dns-query")
        ip_literal = request_flow("http://203.0.113.9/")
        for flow in (doh, ip_literal):
            gateway.requests.requestheaders(flow)
        assert [(e.kind, e.action) for e in recorder.events] == [
            ("circumvention", "block"),
            ("circumvention", "flag"),
        ]
        assert doh.response is not None and ip_literal.response is None


def test_proxy_authenticated_staff_user_is_recorded(gateway: Gateway, recorder: Recorder) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        flow = request_flow("http://extremist.test/")
        flow.metadata["proxyauth"] = ("teacher1", "secret")
        gateway.requests.requestheaders(flow)
        assert flow.response is None  # staff: extremism is flagged, not blocked
        [event] = recorder.events
        assert (event.user, event.group, event.action) == ("teacher1", "staff", "flag")


def test_device_map_names_device_user_and_group(
    gateway: Gateway, recorder: Recorder, tmp_path: Path
) -> None:
    devices = tmp_path / "devices.csv"
    devices.write_text("address,device,user,group\n192.168.1.20,library-pc-3,pupil7,year13\n")
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_device_map=str(devices))
        gateway.requests.requestheaders(request_flow("http://extremist.test/"))
        [event] = recorder.events
        assert (event.device, event.user, event.group, event.action) == (
            "library-pc-3",
            "pupil7",
            "year13",
            "study",
        )


def test_forwarded_for_only_from_trusted_proxies(gateway: Gateway, recorder: Recorder) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_trusted_proxies=["192.168.1.1"])
        trusted = request_flow("http://watched.test/", peer="192.168.1.1")
        trusted.request.headers["X-Forwarded-For"] = "10.13.9.9"
        untrusted = request_flow("http://watched.test/", peer="192.168.1.50")
        untrusted.request.headers["X-Forwarded-For"] = "10.13.9.9"
        gateway.requests.requestheaders(trusted)
        gateway.requests.requestheaders(untrusted)
        assert [e.client_ip for e in recorder.events] == ["10.13.9.9", "192.168.1.50"]


def test_search_terms_are_recorded_and_safe_search_enforced(
    gateway: Gateway, recorder: Recorder
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        flow = request_flow("https://www.google.co.uk/search?q=zorblax+front+news")
        gateway.requests.requestheaders(flow)
        assert flow.response is None
        assert flow.request.query["safe"] == "active"
        [event] = recorder.events
        assert (event.kind, event.action, event.category) == ("search", "flag", "proscribed")
        assert event.search_terms == "zorblax front news"


# --- pages ---------------------------------------------------------------------------------


def page_flow(gateway: Gateway, body: bytes, content_type: str = "text/html") -> http.HTTPFlow:
    flow = request_flow("http://allowed.test/article")
    gateway.requests.requestheaders(flow)
    flow.response = http.Response.make(200, body, {"Content-Type": content_type})
    return flow


async def test_page_over_block_threshold_is_replaced(gateway: Gateway, recorder: Recorder) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        body = b"<html><body>" + b"<p>the zorblax uprising</p>" * 4 + b"</body></html>"
        flow = page_flow(gateway, body)
        gateway.requests.responseheaders(flow)
        assert flow.metadata[SCAN_KEY] and not flow.response.stream
        await gateway.requests.response(flow)
        assert flow.response.status_code == 403
        [event] = recorder.events
        assert (event.kind, event.action, event.category) == ("page", "block", "extremist-language")
        assert event.id in flow.response.get_text()


async def test_page_over_flag_threshold_passes_and_is_recorded(
    gateway: Gateway, recorder: Recorder
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        body = gzip.compress(b"<p>the zorblax uprising</p>" * 2)
        flow = page_flow(gateway, body)
        flow.response.headers["Content-Encoding"] = "gzip"
        gateway.requests.responseheaders(flow)
        await gateway.requests.response(flow)
        assert flow.response.status_code == 200 and flow.response.raw_content == body
        [event] = recorder.events
        assert (event.kind, event.action) == ("page", "flag")


async def test_binary_and_large_bodies_stream_unscored(
    gateway: Gateway, recorder: Recorder
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_page_limit=1000)
        image = page_flow(gateway, b"zorblax uprising" * 10, "image/png")
        del image.response.headers["Content-Length"]  # unknown size: streams
        large = page_flow(gateway, b"zorblax uprising " * 100)
        large.response.headers["Content-Length"] = "1700"
        small_image = page_flow(gateway, b"zorblax uprising", "image/png")
        for flow in (image, large, small_image):
            gateway.requests.responseheaders(flow)
            assert SCAN_KEY not in flow.metadata
            await gateway.requests.response(flow)
        assert image.response.stream is True and large.response.stream is True
        assert small_image.response.stream is False  # small: cheaper buffered, still unscored
        assert recorder.events == []


async def test_page_scan_can_be_turned_off(gateway: Gateway, recorder: Recorder) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_page_scan=False)
        flow = page_flow(gateway, b"<p>the zorblax uprising</p>" * 4)
        gateway.requests.responseheaders(flow)
        await gateway.requests.response(flow)
        assert flow.response.status_code == 200 and recorder.events == []


# --- faults --------------------------------------------------------------------------------


def broken_decide(*args: object, **kwargs: object) -> None:
    raise RuntimeError("a bug in the policy engine")


def test_fault_fails_closed_by_default(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        assert gateway.live is not None
        monkeypatch.setattr(gateway.live.current, "decide", broken_decide)
        flow = request_flow("http://allowed.test/")
        gateway.requests.requestheaders(flow)
        assert flow.response is not None and flow.response.status_code == 503
        assert "filter error" in flow.response.get_text()
        assert gateway.faults == 1


def test_fault_fails_open_when_configured(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_fail_mode="open")
        assert gateway.live is not None
        monkeypatch.setattr(gateway.live.current, "decide", broken_decide)
        flow = request_flow("http://allowed.test/")
        gateway.requests.requestheaders(flow)
        assert flow.response is None and gateway.faults == 1


async def test_fault_while_scoring_replaces_the_page(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        flow = page_flow(gateway, b"<p>fine</p>")
        gateway.requests.responseheaders(flow)
        assert gateway.live is not None
        monkeypatch.setattr(gateway.live.current, "score_page", broken_decide)
        await gateway.requests.response(flow)
        assert flow.response.status_code == 503 and gateway.faults == 1


# --- reload --------------------------------------------------------------------------------


def test_bad_reload_keeps_policy_and_warns_it_staff(
    gateway: Gateway, recorder: Recorder, tmp_path: Path
) -> None:
    shutil.copytree(POLICY_DIR, tmp_path / "policy")
    with taddons.context(gateway) as tctx:
        tctx.configure(
            gateway,
            gateway_policy=str(tmp_path / "policy" / "policy.yaml"),
            gateway_status_file=str(tmp_path / "status.json"),
        )
        assert gateway.live is not None and gateway.reloader is not None
        before = gateway.live.current
        with (tmp_path / "policy" / "block.domains").open("a") as handle:
            handle.write("bad domain here\n")
        result = gateway.reloader.reload_now()
        assert result.failed and gateway.live.current is before
        # IT staff's warning (status file, /healthz), not an event in the Prevent lead's queue.
        assert recorder.events == []
        assert "block.domains:8" in gateway.reloader.errors[0]
        status = (tmp_path / "status.json").read_text()
        assert "block.domains:8" in status and before.version in status
        # A good change is picked up.
        (tmp_path / "policy" / "block.domains").write_text("extremist.test\nnewly-listed.test\n")
        assert gateway.reloader.reload_now().changed
        gateway.requests.requestheaders(request_flow("http://newly-listed.test/"))
        assert recorder.events[-1].host == "newly-listed.test"


def test_no_page_phrases_means_no_holding_back(
    gateway: Gateway, recorder: Recorder, tmp_path: Path
) -> None:
    # With nothing to score, a page is treated like any unscored body (small ones buffered,
    # big ones streamed) rather than held back for a score that must be 0.
    shutil.copytree(POLICY_DIR, tmp_path / "policy")
    policy = tmp_path / "policy" / "policy.yaml"
    text = policy.read_text()
    policy.write_text(
        text.replace("  - {file: page.weighted, category: extremist-language}\n", "  []\n")
    )
    with taddons.context(gateway) as tctx:
        tctx.configure(gateway, gateway_policy=str(policy))
        assert gateway.live is not None and gateway.live.current.stats.page_phrases == 0
        body = b"<html><body>" + b"<p>the zorblax uprising</p>" * 4 + b"</body></html>"
        flow = page_flow(gateway, body)
        gateway.requests.responseheaders(flow)
        assert SCAN_KEY not in flow.metadata
        big = page_flow(gateway, body * 20_000)
        big.response.headers["content-length"] = str(len(body) * 20_000)  # type: ignore[union-attr]
        gateway.requests.responseheaders(big)
        assert big.response.stream  # type: ignore[union-attr]


def test_an_exemption_naming_a_pupil_lifts_the_block_for_that_pupil_only(
    gateway: Gateway, recorder: Recorder, tmp_path: Path
) -> None:
    """Exemptions scoped to named pupils (or a class list) need the user at the gateway too,
    not only the group: before, only group exemptions lifted anything there."""
    policy_dir = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, policy_dir)
    policy_file = policy_dir / "policy.yaml"
    text = policy_file.read_text().replace(
        "  - file: exemptions.yaml\n",
        "  - file: exemptions.yaml\n"
        "  - id: named-pupil\n    reason: EPQ on radicalisation\n    approved_by: P. Lead (DSL)\n"
        "    pupils: [pupil7]\n    categories: [extremism]\n"
        "    starts: 2020-01-01\n    ends: 2099-12-31\n",
    )
    policy_file.write_text(text)
    with taddons.context(gateway) as tctx:
        tctx.configure(gateway, gateway_policy=str(policy_file))
        named, other = request_flow("http://extremist.test/"), request_flow("http://extremist.test/")
        named.metadata["proxyauth"] = ("pupil7", "secret")
        other.metadata["proxyauth"] = ("pupil9", "secret")
        for flow in (named, other):
            gateway.requests.requestheaders(flow)
        assert named.response is None and other.response is not None
        assert [(e.user, e.action) for e in recorder.events] == [
            ("pupil7", "study"),
            ("pupil9", "block"),
        ]


async def test_a_page_scored_before_is_not_scored_again_but_a_changed_one_is(
    gateway: Gateway, recorder: Recorder
) -> None:
    """The same bytes at the same address keep their score (every visit still recorded); the
    server's ETag is not trusted: new text under the same ETag is scored afresh."""
    harmless = b"<html><body><p>school trip to the museum</p></body></html>"
    extremist = b"<html><body>" + b"<p>the zorblax uprising</p>" * 4 + b"</body></html>"
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway)
        outcomes = []
        for body in (extremist, extremist, harmless, extremist):
            flow = page_flow(gateway, body)
            flow.response.headers["ETag"] = '"same-tag"'
            gateway.requests.responseheaders(flow)
            await gateway.requests.response(flow)
            outcomes.append(flow.response.status_code)
        assert outcomes == [403, 403, 200, 403]
        scored = gateway.requests.scored
        assert (scored.hits, scored.misses) == (2, 2)
        assert [e.action for e in recorder.events] == ["block", "block", "block"]


async def test_a_page_scored_once_is_decided_for_each_reader(
    gateway: Gateway, recorder: Recorder, tmp_path: Path
) -> None:
    """The same bytes under other addresses and for other pupils keep their score (a class
    loading one page is scored once), but what the score means is each reader's own: a pupil
    an exemption names gets study where another pupil is blocked."""
    policy_dir = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, policy_dir)
    policy_file = policy_dir / "policy.yaml"
    policy_file.write_text(
        policy_file.read_text().replace(
            "  - file: exemptions.yaml\n",
            "  - file: exemptions.yaml\n"
            "  - id: named-pupil\n    reason: EPQ on radicalisation\n"
            "    approved_by: P. Lead (DSL)\n    pupils: [pupil7]\n"
            "    categories: [extremist-language]\n    starts: 2020-01-01\n    ends: 2099-12-31\n",
        )
    )
    body = b"<html><body>" + b"<p>the zorblax uprising</p>" * 4 + b"</body></html>"
    with taddons.context(gateway) as tctx:
        tctx.configure(gateway, gateway_policy=str(policy_file))
        outcomes = []
        for user, path in (("pupil9", "a"), ("pupil7", "b"), ("pupil9", "c")):
            flow = request_flow(f"http://allowed.test/{path}")
            flow.metadata["proxyauth"] = (user, "secret")
            gateway.requests.requestheaders(flow)
            flow.response = http.Response.make(200, body, {"Content-Type": "text/html"})
            gateway.requests.responseheaders(flow)
            await gateway.requests.response(flow)
            outcomes.append((user, flow.response.status_code))
        assert outcomes == [("pupil9", 403), ("pupil7", 200), ("pupil9", 403)]
        scored = gateway.requests.scored
        assert (scored.hits, scored.misses) == (2, 1)
        assert [(e.user, e.action, e.url) for e in recorder.events] == [
            ("pupil9", "block", "http://allowed.test/a"),
            ("pupil7", "study", "http://allowed.test/b"),
            ("pupil9", "block", "http://allowed.test/c"),
        ]


def test_the_gateway_hands_every_hook_of_every_part_on() -> None:
    """mitmproxy sees one `Gateway` (no child addons to walk for every event), so each hook a
    part answers must be one the gateway has and hands on: a part's new hook that the gateway
    did not know would silently never run."""
    import inspect

    # Importing these registers every hook mitmproxy has (the registry fills as modules load).
    import mitmproxy.addons.next_layer
    import mitmproxy.proxy.layers  # noqa: F401
    from mitmproxy import hooks

    import monitor.gateway.addon as addon_module

    gateway = Gateway(writer=Recorder())
    assert not hasattr(gateway, "addons")
    handed = set(addon_module.LIFECYCLE_HOOKS) | set(addon_module.FLOW_HOOKS)
    for part in gateway.parts:
        answered = {name for name in hooks.all_hooks if callable(getattr(part, name, None))}
        assert answered <= handed, (type(part).__name__, answered - handed)
    for name in handed:
        assert name in hooks.all_hooks, name
        method = getattr(gateway, name)
        parts = [getattr(p, name) for p in gateway.parts if hasattr(p, name)]
        assert parts, f"{name}: no part answers it"
        if any(inspect.iscoroutinefunction(p) for p in parts):
            assert inspect.iscoroutinefunction(method), name


def test_who_is_asked_afresh_when_the_trusted_proxies_change(gateway: Gateway) -> None:
    """`who()` remembers answers per address; changing the trusted proxies must not leave an
    answer made under the old ones (X-Forwarded-For is believed only from a trusted proxy)."""
    with taddons.context(gateway) as tctx:
        configured(tctx, gateway, gateway_trusted_proxies=["10.9.9.9"])
        policy = gateway.state.policy()

        def asked() -> str | None:
            flow = request_flow("http://allowed.test/", peer="127.0.0.1")
            flow.request.headers["X-Forwarded-For"] = "192.168.5.5"
            return gateway.state.who(policy, flow).client_ip

        assert asked() == "127.0.0.1"  # not a trusted proxy: its header is not believed
        tctx.configure(gateway, gateway_trusted_proxies=["127.0.0.1"])
        assert asked() == "192.168.5.5"
        tctx.configure(gateway, gateway_trusted_proxies=["10.9.9.9"])
        assert asked() == "127.0.0.1"
