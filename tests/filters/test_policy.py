"""The policy engine end to end: lists, groups, precedence, exemptions, schedules, hostile input."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.decision import Action, Kind, Severity
from filters.policy import Policy, PolicyError

DATA = Path(__file__).parent.parent / "data" / "policy"
TERM_TIME = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday in term, mid-morning


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load(DATA / "policy.yaml")


def decide(policy: Policy, url: str, **kwargs: object) -> tuple[str, str | None, str | None]:
    kwargs.setdefault("when", TERM_TIME)
    d = policy.decide(url, **kwargs)  # type: ignore[arg-type]
    return d.action.value, d.category, d.rule


class TestLists:
    def test_domain_blocks_itself_and_subdomains_label_aligned(self, policy: Policy) -> None:
        assert decide(policy, "http://extremist.test/")[0] == "block"
        assert decide(policy, "https://www.deep.extremist.test/a")[0] == "block"
        assert decide(policy, "http://notextremist.test/")[0] == "allow"
        assert decide(policy, "http://extremist.test.evil.example/")[0] == "allow"

    def test_wildcard_and_leading_dot_entries(self, policy: Policy) -> None:
        assert decide(policy, "http://a.wildcard.test/")[0] == "block"
        assert decide(policy, "http://wildcard.test/")[0] == "block"
        assert decide(policy, "http://x.dotted.test/")[0] == "block"

    def test_decision_names_rule_and_file_line(self, policy: Policy) -> None:
        d = policy.decide("http://www.extremist.test/", when=TERM_TIME)
        assert d.rule == "domain:extremist.test"
        assert d.source is not None and d.source.endswith("block.domains:2")
        assert d.category == "extremism"
        assert d.severity is Severity.HIGH
        assert "extremist.test is listed as terrorist or extremist material" in d.reason

    def test_hosts_file(self, policy: Policy) -> None:
        assert decide(policy, "http://also-hosts.test/")[0] == "block"
        assert decide(policy, "http://localhost/")[0] == "allow"

    def test_url_prefix_on_segment_boundary(self, policy: Policy) -> None:
        assert decide(policy, "http://forum.test/threads/12")[0] == "block"
        assert decide(policy, "http://forum.test/threads/12/page2?x=1")[0] == "block"
        assert decide(policy, "http://www.forum.test/threads/12?x")[0] == "block"
        assert decide(policy, "http://forum.test/threads/123")[0] == "allow"
        assert decide(policy, "http://forum.test/threads/")[0] == "allow"
        assert decide(policy, "https://pages.test/manifesto")[0] == "block"

    def test_expressions_run_by_re2(self, policy: Policy) -> None:
        action, category, rule = decide(policy, "http://any.example/docs/zorblax-pamphlet.pdf")
        assert (action, category) == ("block", "extremism")
        assert rule is not None and rule.startswith("regex:")

    def test_yaml_entries_with_their_own_category(self, policy: Policy) -> None:
        assert decide(policy, "http://yaml-listed.test/")[:2] == ("block", "extremism")
        d = policy.decide("http://vpn-like.test/", when=TERM_TIME)
        assert (d.action, d.category, d.kind) == (Action.BLOCK, "circumvention", Kind.CIRCUMVENTION)
        assert d.source is not None and d.source.endswith("local.yaml:4")

    def test_ut1_folder(self, policy: Policy) -> None:
        assert decide(policy, "http://www.ut1-listed.test/")[0] == "block"
        assert decide(policy, "http://ut1-urls.test/path/more")[0] == "block"

    def test_ip_entry_matches_exactly(self, policy: Policy) -> None:
        d = policy.decide("http://192.0.2.66/x", when=TERM_TIME)
        assert (d.action, d.category) == (Action.BLOCK, "extremism")
        assert policy.decide("http://192.0.2.67/", when=TERM_TIME).category == "ip-literal"

    @pytest.mark.parametrize("host", ["192.0.2.66", "192.0.2.66:443"])
    def test_ip_entry_blocks_a_connect_or_sni(self, policy: Policy, host: str) -> None:
        """A CONNECT or SNI to a listed IP literal is decided as plain HTTP to it is."""
        d = policy.decide_host(host, when=TERM_TIME)
        assert (d.action, d.category) == (Action.BLOCK, "extremism")
        assert policy.decide_host("192.0.2.67:443", when=TERM_TIME).category == "ip-literal"


class TestEvasion:
    @pytest.mark.parametrize(
        "url",
        [
            "HTTP://EXTREMIST.TEST/",
            "http://extremist.test./",
            "http://extremist.test:8080/",
            "http://good.example@extremist.test/",
            "http://%65xtremist.test/",
            "http://%2565xtremist.test/",
            "http://ｅｘｔｒｅｍｉｓｔ．ｔｅｓｔ/",
            "http://extremist。test/",
            "http://www.extremist.test#frag",
            "extremist.test:443",
            "//extremist.test/x",
            "http://google.example/url?q=http://extremist.test/",
        ],
    )
    def test_disguised_forms_still_block(self, policy: Policy, url: str) -> None:
        assert decide(policy, url)[0] == "block", url

    def test_idn_unicode_and_punycode_meet(self, policy: Policy) -> None:
        assert decide(policy, "http://bücher.test/")[0] == "block"
        assert decide(policy, "http://xn--bcher-kva.test/")[0] == "block"

    def test_obfuscated_ip_is_circumvention(self, policy: Policy) -> None:
        d = policy.decide("http://3221226050/", when=TERM_TIME)  # 192.0.2.66 as a number
        assert d.action is Action.BLOCK
        # Both the listed address and the disguise are reasons: the stronger (list) wins.
        assert d.category in ("extremism", "obfuscated-ip")
        d = policy.decide("http://0x7f.1/", when=TERM_TIME)
        assert (d.action, d.category, d.kind) == (Action.BLOCK, "obfuscated-ip", Kind.CIRCUMVENTION)

    def test_malformed_host_blocks_and_is_recorded(self, policy: Policy) -> None:
        d = policy.decide("http://bad_host..test!/", when=TERM_TIME)
        assert (d.action, d.category, d.kind) == (
            Action.BLOCK,
            "malformed-host",
            Kind.CIRCUMVENTION,
        )
        assert d.recorded

    def test_plain_ip_literal_flags(self, policy: Policy) -> None:
        d = policy.decide("http://198.51.100.7/", when=TERM_TIME)
        assert (d.action, d.category) == (Action.FLAG, "ip-literal")

    def test_translate_proxy_and_archive_are_decided_on_target(self, policy: Policy) -> None:
        d = policy.decide("https://www-extremist-test.translate.goog/page", when=TERM_TIME)
        assert d.action is Action.BLOCK and d.via is not None
        assert "extremist.test" in d.via
        d = policy.decide("https://web.archive.org/web/2020/http://extremist.test/", when=TERM_TIME)
        assert d.action is Action.BLOCK

    @pytest.mark.parametrize(
        "url",
        [
            "https://good.example/go?u=//extremist.test/",
            "https://good.example/go?u=%2F%2Fextremist.test%2F",
            "https://good.example/go?u=%252F%252Fwww.extremist.test%252Fx",
            "https://www.google.com/url?q=//extremist.test/&sa=U",
        ],
    )
    def test_scheme_relative_targets_are_decided(self, policy: Policy, url: str) -> None:
        d = policy.decide(url, when=TERM_TIME)
        assert d.action is Action.BLOCK and d.via is not None
        assert d.via.startswith("https://") and "extremist.test" in d.via

    def test_doh_resolver_is_circumvention(self, policy: Policy) -> None:
        d = policy.decide("https://doh-resolver.test/dns-query?dns=AAAB", when=TERM_TIME)
        assert (d.action, d.kind) == (Action.BLOCK, Kind.CIRCUMVENTION)


class TestPrecedence:
    def test_allowlist_lifts_block_to_study(self, policy: Policy) -> None:
        assert decide(policy, "http://mixed.test/bad")[0] == "block"
        d = policy.decide("http://mixed.test/lesson", when=TERM_TIME)
        assert d.action is Action.ALLOW  # allowlisted and nothing to lift: plain allow

    def test_allowlisted_site_that_is_also_listed_is_study(self, tmp_path: Path) -> None:
        copy = tmp_path / "policy"
        shutil.copytree(DATA, copy)
        (copy / "allow.yaml").write_text("entries:\n  - extremist.test\n  - illegal.test\n")
        policy = Policy.load(copy / "policy.yaml")
        d = policy.decide("http://extremist.test/", when=TERM_TIME)
        assert d.action is Action.STUDY and d.recorded
        assert "allowed for study" in d.reason and "allow.yaml:2" in d.reason

    def test_illegal_content_is_never_lifted(self, policy: Policy) -> None:
        # illegal.test is on the allowlist too: the allowlist must not lift it.
        d = policy.decide("http://illegal.test/content/1", when=TERM_TIME, group="year13")
        assert (d.action, d.illegal) == (Action.BLOCK, True)
        assert "unlawful content is blocked for everyone" in d.reason

    def test_study_exemption_for_group_in_window(self, policy: Policy) -> None:
        d = policy.decide("http://extremist.test/", directory_groups=["Year13"], when=TERM_TIME)
        assert d.action is Action.STUDY and d.group == "year13"
        assert "y13-politics" in d.reason and "P. Lead (DSL)" in d.reason
        # The same pupil's group, after the exemption ends: blocked again.
        later = datetime(2026, 12, 19, 10, 0, tzinfo=UTC)
        assert policy.decide("http://extremist.test/", group="year13", when=later).blocks
        # Exemption is for extremism only: circumvention is still blocked.
        assert policy.decide("http://doh-resolver.test/", group="year13", when=TERM_TIME).blocks

    def test_exemption_ends_inclusive_on_its_last_day(self, policy: Policy) -> None:
        last_day = datetime(2026, 12, 18, 22, 0, tzinfo=UTC)
        assert policy.decide("http://extremist.test/", group="year13", when=last_day).action is (
            Action.STUDY
        )

    def test_expired_site_exemption_stops_working(self, policy: Policy) -> None:
        d = policy.decide("http://archive-study.test/", when=TERM_TIME)
        assert d.action is Action.BLOCK

    def test_exemption_from_file(self, policy: Policy) -> None:
        d = policy.decide("http://watched.test/", when=TERM_TIME)
        assert d.action is Action.STUDY and "file-exemption" in d.reason

    def test_group_action_override(self, policy: Policy) -> None:
        d = policy.decide("http://extremist.test/", user="Teacher1", when=TERM_TIME)
        assert (d.action, d.group) == (Action.FLAG, "staff")

    def test_group_by_network(self, policy: Policy) -> None:
        assert policy.decide("http://x.example/", client_ip="10.13.4.5").group == "year13"
        assert policy.decide("http://x.example/", client_ip="::ffff:10.13.4.5").group == "year13"
        assert policy.decide("http://x.example/", client_ip="10.14.4.5").group == "pupils"
        assert policy.decide("http://x.example/", client_ip="not an ip").group == "pupils"

    def test_block_beats_flag(self, policy: Policy) -> None:
        # watched.test flags; a redirect through it to a blocked site blocks.
        d = policy.decide(
            "http://sub.watched.test/go?url=http://extremist.test/",
            when=datetime(2027, 3, 1, tzinfo=UTC),
        )
        assert d.action is Action.BLOCK

    def test_schedule_changes_action_by_time_of_day(self, policy: Policy) -> None:
        # 16:30 London time on a Tuesday in November (UTC+0): the after-school rule applies.
        after_school = datetime(2026, 11, 24, 16, 30, tzinfo=UTC)
        assert policy.decide("http://chatter.test/", when=TERM_TIME).action is Action.ALLOW
        assert policy.decide("http://chatter.test/", when=after_school).action is Action.BLOCK
        saturday = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
        assert policy.decide("http://chatter.test/", when=saturday).action is Action.ALLOW
        assert policy.decide("http://chatter.test/", group="staff", when=after_school).action is (
            Action.ALLOW
        )


class TestSearchAndPages:
    def test_search_term_flags_and_is_recorded(self, policy: Policy) -> None:
        d = policy.decide("https://www.google.co.uk/search?q=Front+ZORBLAX+news", when=TERM_TIME)
        assert (d.action, d.kind, d.category) == (Action.FLAG, Kind.SEARCH, "proscribed")
        assert d.search_terms == "Front ZORBLAX news"
        assert d.source is not None and d.source.endswith("search.phrases:2")

    def test_search_terms_recorded_even_when_allowed(self, policy: Policy) -> None:
        d = policy.decide("https://www.bing.com/search?q=weather+tomorrow", when=TERM_TIME)
        assert d.action is Action.ALLOW and d.search_terms == "weather tomorrow"

    def test_page_scoring_thresholds_per_group(self, policy: Policy) -> None:
        page = "<html><body>" + "zorblax uprising " * 2 + "</body></html>"
        decision, score = policy.score_page(page, "text/html", url="http://blog.example/")
        assert score.score == 60 and decision.action is Action.FLAG
        page = "<p>" + "zorblax uprising " * 4 + "</p>"
        decision, _ = policy.score_page(page, "text/html", url="http://blog.example/")
        assert decision.action is Action.BLOCK and decision.kind is Kind.PAGE
        decision, _ = policy.score_page(
            page, "text/html", url="http://blog.example/", group="staff"
        )
        assert decision.action is Action.FLAG

    def test_educational_context_lowers_score(self, policy: Policy) -> None:
        page = "<p>zorblax uprising zorblax uprising. A history lesson.</p>"
        decision, score = policy.score_page(page, "text/html", url="http://school.example/")
        assert score.score == 30 and decision.action is Action.ALLOW


class TestLoading:
    def test_bad_lines_are_reported_with_file_and_line(self, tmp_path: Path) -> None:
        copy = tmp_path / "policy"
        shutil.copytree(DATA, copy)
        (copy / "block.domains").write_text("good.test\nnot a domain/with path\nbad..test\n")
        (copy / "block.expressions").write_text("ok-(a|b)\n(back)\\1ref\n")
        problems = Policy.validate(copy / "policy.yaml")
        text = [str(p) for p in problems]
        assert any("block.domains:2:" in t and "urls list" in t for t in text), text
        assert any("block.domains:3:" in t for t in text), text
        assert any("block.expressions:2:" in t and "RE2" in t for t in text), text
        with pytest.raises(PolicyError) as err:
            Policy.load(copy / "policy.yaml")
        assert "block.domains:2" in str(err.value)

    def test_policy_mistakes_name_key_path_and_line(self, tmp_path: Path) -> None:
        copy = tmp_path / "policy"
        shutil.copytree(DATA, copy)
        text = (copy / "policy.yaml").read_text()
        text = text.replace("actions: {extremism: flag}", "actions: {extremism: blok}")
        text = text.replace("ends: 2026-12-18", "ends: someday")
        (copy / "policy.yaml").write_text(text + "colour: blue\n")
        problems = [str(p) for p in Policy.validate(copy / "policy.yaml")]
        assert any("groups.staff.actions.extremism: unknown action 'blok'" in p for p in problems)
        assert any("exemptions[0].ends: use a date" in p for p in problems)
        assert any("colour: unknown key" in p for p in problems)
        assert all("policy.yaml:" in p for p in problems)

    def test_the_configuration_given_as_the_policy_says_so(self, tmp_path: Path) -> None:
        config = tmp_path / "prevent-monitor.yaml"
        config.write_text(
            "school: Fictional Example Academy\ndata_dir: var\n"
            "policy:\n  file: policy/policy.yaml\ndatabase:\n  url: sqlite:///x.sqlite\n"
        )
        problems = [str(p) for p in Policy.validate(config)]
        assert problems == [
            f"{config}:4: policy: this is prevent-monitor's configuration, not a policy: pass "
            f"it as --config {config} (its policy file is policy/policy.yaml)"
        ], problems

    def test_missing_list_file(self, tmp_path: Path) -> None:
        copy = tmp_path / "policy"
        shutil.copytree(DATA, copy)
        (copy / "watch.domains").unlink()
        problems = [str(p) for p in Policy.validate(copy / "policy.yaml")]
        assert any("lists[6].file" in p and "does not exist" in p for p in problems), problems

    def test_version_changes_with_content(self, tmp_path: Path) -> None:
        copy = tmp_path / "policy"
        shutil.copytree(DATA, copy)
        first = Policy.load(copy / "policy.yaml").version
        assert Policy.load(copy / "policy.yaml").version == first
        (copy / "watch.domains").write_text("watched.test\nother.test\n")
        assert Policy.load(copy / "policy.yaml").version != first

    def test_shipped_policy_validates(self) -> None:
        shipped = Path(__file__).parents[2] / "blocklists" / "policy.yaml"
        assert Policy.validate(shipped) == []
        policy = Policy.load(shipped)
        assert policy.stats.search_phrases > 50
        d = policy.decide("https://dns.google/dns-query", when=TERM_TIME)
        assert (d.action, d.kind) == (Action.BLOCK, Kind.CIRCUMVENTION)
        d = policy.decide("https://www.google.com/search?q=boko+haram+history", when=TERM_TIME)
        assert (d.action, d.category) == (Action.FLAG, "proscribed-organisations")
        d = policy.decide("https://educateagainsthate.com/resources/", when=TERM_TIME)
        assert d.action is Action.ALLOW


@settings(max_examples=300, deadline=None)
@given(
    url=st.text(max_size=300),
    user=st.none() | st.text(max_size=20),
    ip=st.none() | st.text(max_size=40),
)
def test_any_input_gets_a_decision(url: str, user: str | None, ip: str | None) -> None:
    policy = _shared_policy()
    d = policy.decide(url, user=user, client_ip=ip)
    assert d.action in tuple(Action)
    assert isinstance(d.as_json(), dict)
    policy.decide_host(url)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(["http://", "https://", "", "//", "http://u:p@"]),
    host=st.text(alphabet="extremist.EXTREMIST%25xn-ｅ。0123456789[]:", max_size=40),
    tail=st.text(max_size=40),
)
def test_url_like_noise_never_raises(prefix: str, host: str, tail: str) -> None:
    _shared_policy().decide(prefix + host + "/" + tail)


_POLICY: list[Policy] = []


def _shared_policy() -> Policy:
    if not _POLICY:
        _POLICY.append(Policy.load(DATA / "policy.yaml"))
    return _POLICY[0]
