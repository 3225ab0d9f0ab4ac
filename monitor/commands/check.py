"""`prevent-monitor check`: explain the decision for URLs, one JSON object per line.

With `--stdin` it streams: one answer per input line, flushed at once, so it can serve as a Squid
URL-rewrite helper. Input lines may be plain URLs or squidGuard/Squid helper lines
(`[channel] URL client/fqdn user method ...`). `--format squid` answers in Squid's helper
protocol (`OK status=302 url=...` to redirect a blocked request to the block page, `ERR` to pass).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from datetime import UTC, datetime
from typing import BinaryIO, TextIO
from urllib.parse import quote

from filters.decision import Decision
from filters.policy import Policy, PolicyError
from monitor.commands.shared import add_policy_options, policy_path


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
        policy = Policy.load(path)
    except PolicyError as exc:
        print(f"prevent-monitor check: {exc}", file=sys.stderr)
        return 2
    # The policy is built once and lives as long as the process: keep the collector from
    # walking its million entries again and again (a pause in the middle of a stream).
    gc.freeze()
    checker = Checker(policy, args, when)
    if args.stdin:
        checker.stream(sys.stdin.buffer, sys.stdout)
    for url in args.urls:
        sys.stdout.write(checker.answer(url) + "\n")
    return 0


class Checker:
    """Turns input lines into answer lines with one policy."""

    def __init__(self, policy: Policy, args: argparse.Namespace, when: datetime | None) -> None:
        self.policy = policy
        self.user: str | None = args.user
        self.client: str | None = args.client
        self.when = when
        self.squid = args.format == "squid"
        self.block_url: str = args.block_url
        # One encoder for the whole stream: json.dumps() with options builds a new one per call.
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        group: str | None = args.group
        self.group = group if group in policy.groups else None
        self.directory_groups = (group,) if group and not self.group else ()

    def stream(self, source: BinaryIO, out: TextIO) -> None:
        """Answer every complete line as it arrives. Reads whatever the pipe holds and flushes
        once per read: one line at a time from Squid is answered at once, a bulk file in
        large batches (a flush per line would cost more than the decision)."""
        fd = source.fileno()
        pending = b""
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if complete:
                out.write("".join(self.answer_line(_text(line)) + "\n" for line in complete))
                out.flush()
        if pending.strip():
            out.write(self.answer_line(_text(pending)) + "\n")
            out.flush()

    def answer_line(self, line: str) -> str:
        tokens = line.split()
        channel = ""
        if len(tokens) > 1 and tokens[0].isdigit():
            channel, tokens = tokens[0] + " ", tokens[1:]
        if not tokens:
            return channel + ("ERR" if self.squid else json.dumps({"url": "", "error": "empty"}))
        client = tokens[1].split("/", 1)[0] if len(tokens) > 1 else self.client
        user = tokens[2] if len(tokens) > 2 and tokens[2] != "-" else self.user
        return channel + self.answer(tokens[0], user=user, client=client)

    def answer(self, url: str, *, user: str | None = None, client: str | None = None) -> str:
        decision = self.policy.decide(
            url,
            user=user or self.user,
            client_ip=client or self.client,
            group=self.group,
            directory_groups=self.directory_groups,
            when=self.when,
        )
        if self.squid:
            return self._squid(decision)
        data = decision.as_json()
        data["url"] = url
        data["normalised"] = decision.url
        return self._encode(data)

    def _squid(self, decision: Decision) -> str:
        if not decision.blocks:
            return "ERR"
        target = (
            f"{self.block_url}?category={quote(decision.category or '')}"
            f"&rule={quote(decision.rule or '')}&url={quote(decision.url)}"
        )
        return f"OK status=302 url={target}"


def _text(line: bytes) -> str:
    # Squid passes URLs as bytes; a stray invalid byte must not stop the helper.
    return line.decode("utf-8", errors="replace").rstrip("\r")
