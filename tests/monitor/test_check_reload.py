"""`check --stdin` as a long-running Squid helper: IT staff's list edits take effect without a
restart, as in the gateway, and a change that does not load is refused on stderr (file:line)
while the policy in force keeps answering. A real helper process over pipes."""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = "OK status=302 url=http://127.0.0.1:8081/blocked?category=extremism"


class Helper:
    """The helper as Squid runs it: a line in, an answer out; stderr read as it comes."""

    def __init__(self, policy: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "check", "--stdin", "--format", "squid",
             "--policy", str(policy), "--reload-every", "0.2"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        self.errors = ""

    def ask(self, url: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{url} 10.0.0.5/- pupil1 GET\n".encode())
        self.process.stdin.flush()
        return self.process.stdout.readline().decode().strip()

    def wait_for(self, url: str, prefix: str, seconds: float = 20.0) -> str:
        """Ask until the answer starts with `prefix` (a reload is a few tenths of a second)."""
        deadline = time.monotonic() + seconds
        answer = ""
        while time.monotonic() < deadline:
            answer = self.ask(url)
            if answer.startswith(prefix):
                return answer
            time.sleep(0.1)
        errors = self.read_errors()
        raise AssertionError(f"{url}: still {answer!r} after {seconds} s; stderr: {errors}")

    def read_errors(self, until: str = "", seconds: float = 0.0) -> str:
        assert self.process.stderr is not None
        stream = self.process.stderr
        os.set_blocking(stream.fileno(), False)
        selector = selectors.DefaultSelector()
        selector.register(stream, selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        while True:
            chunk = stream.read() or b""
            self.errors += chunk.decode()
            if until in self.errors or time.monotonic() >= deadline:
                return self.errors
            selector.select(timeout=0.1)


@pytest.fixture
def helper(tmp_path: Path) -> Iterator[tuple[Helper, Path]]:
    shutil.copytree(ROOT / "blocklists", tmp_path / "blocklists")
    running = Helper(tmp_path / "blocklists" / "policy.yaml")
    yield running, tmp_path / "blocklists" / "local" / "block.yaml"
    running.process.kill()
    running.process.wait()


def test_a_list_edit_takes_effect_without_a_restart(helper: tuple[Helper, Path]) -> None:
    running, block = helper
    assert running.ask("https://games.example/play") == "ERR"
    block.write_text("category: extremism\nentries:\n  - games.example\n", encoding="utf-8")
    answer = running.wait_for("https://games.example/play", "OK ")
    assert answer.startswith(BLOCKED) and "rule=domain%3Agames.example" in answer
    assert "url=https%3A//games.example/play" in answer
    assert "in force" in running.read_errors("in force", seconds=5)
    block.write_text("category: extremism\nentries: []\n", encoding="utf-8")
    assert running.wait_for("https://games.example/play", "ERR") == "ERR"


def test_a_change_that_does_not_load_is_refused_and_the_last_good_policy_answers(
    helper: tuple[Helper, Path],
) -> None:
    running, block = helper
    block.write_text("category: extremism\nentries:\n  - games.example\n", encoding="utf-8")
    running.wait_for("https://games.example/", "OK ")
    block.write_text(
        "category: extremism\nentries:\n  - games.example\n  - {domain: 'no such host!'}\n",
        encoding="utf-8",
    )
    errors = running.read_errors("local/block.yaml:4", seconds=10)
    assert "the policy change was refused" in errors and "local/block.yaml:4:" in errors, errors
    assert running.ask("https://games.example/").startswith(BLOCKED)  # the last good policy
    assert running.process.poll() is None  # still running: Squid would restart a dead helper
