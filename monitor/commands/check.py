"""`prevent-monitor check`: explain the decision for URLs, one JSON object per line.

With `--stdin` it streams: one answer per input line, flushed at once, so it can serve as a Squid
URL-rewrite helper. Input lines may be plain URLs or squidGuard/Squid helper lines
(`[channel] URL client/fqdn user method ...`). `--format squid` answers in Squid's helper
protocol (`OK status=302 url=...` to redirect a blocked request to the block page, `ERR` to pass).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from datetime import UTC, datetime
from typing import BinaryIO, TextIO

from filters.decision import Action, Decision
from filters.explain import answer
from filters.hostanswers import answerable_host, plain_rest, url_host
from filters.live import LivePolicy
from filters.policy import Policy, PolicyError
from filters.urls import canonical_url_of
from monitor.commands.answerlines import (
    HOST_MARK,
    NO_TEMPLATE,
    Template,
    cut,
    encode,
    filled,
    json_string,
    line_text,
    quote_part,
    unwritable,
    with_host,
)
from monitor.commands.shared import add_policy_options, policy_path
from monitor.logs import setup_logging
from monitor.policyreload import PolicyReloader


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "check",
        help="explain the decision for each URL",
        description="Explain the decision for each URL: one JSON object per line with url, "
        "action, category, severity, rule, source (list file:line) and reason.",
    )
    add_policy_options(parser)
    parser.add_argument("urls", nargs="*", metavar="URL")
    parser.add_argument("--user", help="the user making the request")
    parser.add_argument("--group", help="a policy group, or a directory group the user belongs to")
    parser.add_argument("--client", metavar="IP", help="the client's IP address")
    parser.add_argument("--time", metavar="ISO", help="decide as at this time (ISO 8601)")
    parser.add_argument(
        "--stdin", action="store_true", help="read one URL (or Squid helper line) per line"
    )
    parser.add_argument(
        "--format", choices=("json", "squid"), default="json", help="answer format (default json)"
    )
    parser.add_argument(
        "--reload-every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="with --stdin: look for changed policy files this often and load them, as the "
        "gateway does (0: never; default 2)",
    )
    parser.add_argument(
        "--block-url",
        default="http://127.0.0.1:8081/blocked",
        help="with --format squid: where blocked requests are redirected",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = policy_path(args)
    if path is None:
        return 2
    when = None
    if args.time:
        try:
            when = datetime.fromisoformat(args.time)
        except ValueError:
            print(f"prevent-monitor check: --time {args.time!r} is not ISO 8601", file=sys.stderr)
            return 2
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    try:
        live = LivePolicy.load(path)
    except PolicyError as exc:
        print(f"prevent-monitor check: {exc}", file=sys.stderr)
        return 2
    checker = Checker(live.current, args, when)
    if args.stdin:
        if args.reload_every > 0:
            # A helper runs for weeks: IT staff's list edits take effect as in the gateway.
            setup_logging("info", part="check")
            reloader = PolicyReloader(live)
            threading.Thread(
                target=reloader.reload_every, args=(args.reload_every,), name="reload",
                daemon=True,
            ).start()  # fmt: skip
        checker.stream(sys.stdin.buffer, sys.stdout, live)
    for url in args.urls:
        sys.stdout.write(checker.answer(url) + "\n")
    return 0


class Checker:
    """Turns input lines into answer lines with one policy.

    Most lines name a site whose path cannot matter (`filters.hostanswers`). In
    `--format squid` their answer is the policy's verdict for the host and group
    (`Policy.verdict_by_host`): a plain `ERR` for anything not blocked, else the redirect,
    without normalising the URL or building a `Decision`. As JSON it is the kept answer's line
    with the URL put in: a template per host and group from a host's second line (most listed
    hosts are seen once), and one per group for every host no rule touches, with the host put
    in too. Lines are written by orjson. Every other line gets a full `decide()`.
    tests/monitor/test_check_stream.py holds both ways to the same answers."""

    def __init__(self, policy: Policy, args: argparse.Namespace, when: datetime | None) -> None:
        self.user: str | None = args.user
        self.client: str | None = args.client
        self.when = when
        self.squid = args.format == "squid"
        self.block_url: str = args.block_url
        self._asked_group: str | None = args.group
        self._redirect_heads: dict[str | None, str] = {}
        self._use(policy)

    def _use(self, policy: Policy) -> None:
        """Decide with `policy` from now on, forgetting what the previous one said."""
        self.policy = policy
        group = self._asked_group
        self.group = group if group in policy.groups else None
        self.directory_groups = (group,) if group and not self.group else ()
        # Per (host, group): the kept answer it was made from, and its JSON template once the
        # host is seen a second time (None before; `NO_TEMPLATE` when it cannot be cut).
        self._templates: dict[tuple[str, str], tuple[Decision, Template | None]] = {}
        # Per group: the JSON template of a host no rule touches, with a mark for the host.
        self._allowed: dict[str, Template] = {}
        self._group_for = policy.group_for
        self._by_host = policy.decide_by_host
        self._verdict_by_host = policy.verdict_by_host
        self._silent_on = policy.silent_on
        # A host whose answer no user, address or time can change is answered from the line's
        # text alone from then on: no host check, group or policy lookup (`_ready_answer`). Its
        # answer is `ERR` in `--format squid`, else its JSON template. Such a host is one
        # `answerable_host` accepted and whose answer the policy keeps for the one group every
        # line is in, or, in `--format squid`, that no rule touches (it passes in any group).
        self._fixed_group = self.group or policy.fixed_group(self.directory_groups)
        self._ready: dict[str, str | tuple[str, ...]] = {}
        # `--format squid` answers up to the URL for hosts kept for one group of several.
        self._heads: dict[tuple[str, str], str] = {}

    def stream(self, source: BinaryIO, out: TextIO, live: LivePolicy | None = None) -> None:
        """Answer every complete line as it arrives. Reads whatever the pipe holds and flushes
        once per read: one line at a time from Squid is answered at once, a bulk file in
        large batches (a flush per line would cost more than the decision). With `live`, each
        read is answered by the policy in force when it arrived (a reload swaps it whole)."""
        fd = source.fileno()
        pending = b""
        answer = self.answer_line
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            pending += chunk
            cut = pending.rfind(b"\n")
            if cut == -1:
                continue
            if live is not None and live.current is not self.policy:
                self._use(live.current)
            # One decode per read, not per line: "\n" never falls inside a UTF-8 sequence,
            # so each line decodes as it would alone.
            lines = line_text(pending[:cut]).split("\n")
            pending = pending[cut + 1 :]
            out.write("\n".join([answer(line) for line in lines]) + "\n")
            out.flush()
        if pending.strip():
            out.write(self.answer_line(line_text(pending)) + "\n")
            out.flush()

    def answer_line(self, line: str) -> str:
        # The channel and the URL only: who asks is read only if the answer needs it.
        tokens = line.split(None, 2)
        if len(tokens) > 1 and tokens[0].isdigit():
            channel, url = tokens[0] + " ", tokens[1]
        elif tokens:
            channel, url = "", tokens[0]
        else:
            return "ERR" if self.squid else json.dumps({"url": "", "error": "empty"})
        ready = self._ready_answer(url)
        if ready is not None:  # most lines: who asks cannot matter, so it is not even read
            return channel + ready
        who = line.split()[2 if channel else 1 :]
        client = who[0].partition("/")[0] if who else None
        user = who[1] if len(who) > 1 and who[1] != "-" else None
        return channel + self._fresh(url, user or self.user, client or self.client)

    def answer(self, url: str, *, user: str | None = None, client: str | None = None) -> str:
        """The answer for one URL of the command line, which may carry undecodable bytes as
        lone surrogates: those take the full way, whose encoder escapes them (`encode`)."""
        if not url.isascii() and unwritable(url):
            return self.decided(url, user=user or self.user, client=client or self.client)
        ready = self._ready_answer(url)
        if ready is not None:
            return ready
        return self._fresh(url, user or self.user, client or self.client)

    def _ready_answer(self, url: str) -> str | None:
        """The answer from the line's text alone, for a host kept so (`_keep_ready`)."""
        host = url_host(url) if self._ready else None
        if not host:
            return None
        ready = self._ready.get(host)
        if ready is None or not plain_rest(url):
            return None
        if isinstance(ready, str):
            return ready
        if self.squid:  # a blocked host: its redirect, and this line's URL
            return ready[0] + quote_part(canonical_url_of(url, host))
        head, middle, tail = ready
        return filled(head, middle, tail, url, host)

    def _fresh(self, url: str, user: str | None, client: str | None) -> str:
        """The answer for a line `_ready_answer` cannot give."""
        host = answerable_host(url)
        if host is not None:
            if self.squid:
                line = self._squid_line(url, host, user, client)
                if line is not None:
                    return line
            else:
                group = self.group
                if group is None:
                    group = self._group_for(user, self.directory_groups, client)
                if self._silent_on(host):
                    return self._allowed_json(url, host, group, user, client)
                kept = self._by_host(host, group, user, self.when)
                if kept is not None:
                    return self._kept_json(kept, url, host, group)
        return self.decided(url, user=user, client=client)

    def _squid_line(self, url: str, host: str, user: str | None, client: str | None) -> str | None:
        """The `--format squid` answer for `url` of `host` (answerable), from `_squid_head`."""
        head = self._squid_head(host, user, client)
        if head is None or head == "ERR":
            return head
        return head + quote_part(canonical_url_of(url, host))

    def _squid_head(self, host: str, user: str | None, client: str | None) -> str | None:
        """The `--format squid` answer for any URL of `host` (answerable), up to the URL: `ERR`,
        or a redirect ending in `url=`. None: decide the line in full. From the policy's
        verdict alone (`Policy.verdict_by_host`): no `Decision` is built for it."""
        if self._silent_on(host):
            self._keep_ready(host, "ERR")  # no rule touches the host: allowed in any group
            return "ERR"
        group = self.group
        if group is None:
            group = self._group_for(user, self.directory_groups, client)
        head = self._heads.get((host, group))
        if head is not None:
            return head
        verdict = self._verdict_by_host(host, group, user, self.when)
        if verdict is None:
            return None
        if verdict.action is Action.BLOCK:
            head = self._redirect(verdict.category, verdict.rule)
        else:
            head = "ERR"
        if not verdict.kept:
            return head  # a user or the clock could change it: asked afresh each time
        if group == self._fixed_group:
            self._keep_ready(host, head if head == "ERR" else (head,))
        else:  # kept for this group only: the next line may be in another
            if len(self._heads) >= MAX_TEMPLATES:
                self._heads.clear()
            self._heads[(host, group)] = head
        return head

    def _fixed(self, host: str, group: str, kept: Decision) -> bool:
        """Whether `kept` is every line's answer for `host`: the policy keeps it (no user and
        no time can change it) and every line is in its group."""
        return group == self._fixed_group and self.policy.kept_by_host(host, group) is kept

    def _keep_ready(self, host: str, ready: str | tuple[str, ...]) -> None:
        """Answer `host` from the line alone from now on: `ready` is the answer, or a
        template (JSON: the parts around the two URLs; Squid: the redirect before the URL)."""
        if len(self._ready) >= MAX_TEMPLATES:
            self._ready.clear()
        self._ready[host] = ready

    def decided(self, url: str, *, user: str | None, client: str | None) -> str:
        """The answer from a full `decide()`."""
        decision = self.policy.decide(
            url,
            user=user,
            client_ip=client,
            group=self.group,
            directory_groups=self.directory_groups,
            when=self.when,
        )
        if self.squid:
            return self._squid(decision)
        return self._json(decision, url)

    def _json(self, decision: Decision, url: str) -> str:
        return encode(answer(decision, url))

    def _kept_line(self, kept: Decision, url: str, host: str) -> str:
        """`_json(kept.for_url(canonical URL), url)` for a URL of `host` (answerable), without
        copying `kept` to name the URL."""
        data = answer(kept, url)
        data["normalised"] = canonical_url_of(url, host)
        return encode(data)

    def _kept_json(self, kept: Decision, url: str, host: str, group: str) -> str:
        key = (host, group)
        made = self._templates.get(key)
        if made is None or made[0] is not kept:
            # Most listed hosts are seen once: a template waits until a host's second line.
            if len(self._templates) >= MAX_TEMPLATES:
                self._templates.clear()
            self._templates[key] = (kept, None)
            return self._kept_line(kept, url, host)
        template = made[1]
        if template is None:
            template = cut(kept) or NO_TEMPLATE
            self._templates[key] = (kept, template)
        if template is NO_TEMPLATE:
            return self._kept_line(kept, url, host)
        if self._fixed(host, group, kept):
            self._keep_ready(host, template)
        return filled(*template, url, host)

    def _allowed_json(
        self, url: str, host: str, group: str, user: str | None, client: str | None
    ) -> str:
        """The answer for a host no rule touches (`Policy.silent_on`): allowed whoever asks,
        the same line for every such host of the group but for the URL and the host, so it
        is made once per group, from its first such host, and each host put in."""
        template = self._allowed.get(group)
        if template is None:
            template = self._allowed_template(url, host, group)
            if template is None:
                return self.decided(url, user=user, client=client)
            self._allowed[group] = template
        own = with_host(template, host)
        if group == self._fixed_group:
            self._keep_ready(host, own)
        return filled(*own, url, host)

    def _allowed_template(self, url: str, host: str, group: str) -> Template | None:
        """`_allowed_json`'s template, if the first host's own line is what it makes: no
        field but `host` names the host (None: decide such lines in full)."""
        kept = self._by_host(host, group, None, self.when)
        if kept is None:
            return None
        made = cut(kept._replace(host=HOST_MARK))
        if made is None or made[1].count(json_string(HOST_MARK)) != 1:
            return None
        if filled(*with_host(made, host), url, host) != self._kept_line(kept, url, host):
            return None
        return made

    def _squid(self, decision: Decision) -> str:
        if not decision.blocks:
            return "ERR"
        return self._redirect(decision.category, decision.rule) + quote_part(decision.url)

    def _redirect(self, category: str | None, rule: str | None) -> str:
        """A blocking answer up to its URL, which is the same for every URL of a kept host."""
        head = self._redirect_heads.get(category)
        if head is None:  # one per category: the block page's address and the category
            head = f"OK status=302 url={self.block_url}?category={quote_part(category or '')}"
            self._redirect_heads[category] = head
        return f"{head}&rule={quote_part(rule or '')}&url="


# A bound on the JSON templates (one per (host, group), as the policy keeps its answers) and on
# the hosts answered from the line alone.
MAX_TEMPLATES = 100_000
