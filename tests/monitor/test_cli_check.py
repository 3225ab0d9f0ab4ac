"""`check`, `lists validate`, `lists import` and `config show`, run as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "tests" / "data" / "policy" / "policy.yaml"
CLI = [sys.executable, "-m", "monitor.cli"]


def run(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_check_explains_each_url() -> None:
    result = run(
        "check",
        "--policy",
        str(POLICY),
        "--time",
        "2026-11-24T10:00:00+00:00",
        "http://www.extremist.test/a",
        "http://fine.example/",
    )
    assert result.returncode == 0, result.stderr
    blocked, allowed = (json.loads(line) for line in result.stdout.splitlines())
    for key in ("url", "action", "category", "severity", "rule", "source", "reason"):
        assert key in blocked
    assert blocked["action"] == "block" and blocked["severity"] == "high"
    assert blocked["source"].endswith("block.domains:2")
    assert allowed["action"] == "allow"


def test_check_user_group_and_time_options() -> None:
    args = ("check", "--policy", str(POLICY), "http://extremist.test/")
    study = json.loads(run(*args, "--group", "year13", "--time", "2026-11-24T10:00").stdout)
    assert study["action"] == "study" and study["group"] == "year13"
    later = json.loads(run(*args, "--group", "year13", "--time", "2027-01-10T10:00").stdout)
    assert later["action"] == "block"
    staff = json.loads(run(*args, "--user", "teacher1").stdout)
    assert staff["action"] == "flag"


def test_check_stdin_streams_squid_helper_lines() -> None:
    child = subprocess.Popen(
        [*CLI, "check", "--stdin", "--policy", str(POLICY)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdin and child.stdout
    try:
        # One line in, one answer out, before the next line is written: a Squid helper.
        child.stdin.write("http://extremist.test/x 10.13.0.5/- - GET\n")
        child.stdin.flush()
        first = json.loads(child.stdout.readline())
        assert first["action"] in ("block", "study")
        assert first["group"] == "year13"  # the client address picked the group
        child.stdin.write("3 http://fine.example/ 10.0.0.1/pc1.school.test alice GET\n")
        child.stdin.flush()
        second = child.stdout.readline()
        assert second.startswith("3 ") and json.loads(second[2:])["action"] == "allow"
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert child.returncode == 0


def test_check_squid_format() -> None:
    result = run(
        "check",
        "--stdin",
        "--format",
        "squid",
        "--policy",
        str(POLICY),
        stdin="http://extremist.test/ 10.0.0.1/- - GET\nhttp://fine.example/ 10.0.0.1/- - GET\n\n",
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OK status=302 url=http://127.0.0.1:8081/blocked?category=extremism")
    assert lines[1:] == ["ERR", "ERR"]


def test_check_reports_bad_policy_and_bad_time(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("lists:\n  - {file: nowhere.domains, category: extremism}\n")
    result = run("check", "--policy", str(bad), "http://x.test/")
    assert result.returncode == 2 and "nowhere.domains does not exist" in result.stderr
    result = run("check", "--policy", str(POLICY), "--time", "yesterday", "http://x.test/")
    assert result.returncode == 2 and "--time" in result.stderr


def test_lists_validate_good_and_bad(tmp_path: Path) -> None:
    good = run("lists", "validate", "--policy", str(ROOT / "blocklists" / "policy.yaml"))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "valid, policy version" in good.stdout
    copy = tmp_path / "policy"
    shutil.copytree(POLICY.parent, copy)
    (copy / "block.hosts").write_text("0.0.0.0 ok.test\nonly-one-field\n")
    bad = run("lists", "validate", "--policy", str(copy / "policy.yaml"))
    assert bad.returncode == 1
    assert "block.hosts:2: a hosts line needs an address" in bad.stdout


def test_lists_validate_via_config(tmp_path: Path) -> None:
    config = tmp_path / "prevent-monitor.yaml"
    config.write_text(f"policy:\n  file: {POLICY}\n")
    assert run("lists", "validate", "--config", str(config)).returncode == 0
    config.write_text("policy:\n  fiel: x\n")
    result = run("lists", "validate", "--config", str(config))
    assert result.returncode == 2 and "policy.fiel: unknown setting" in result.stderr


def test_lists_import_ut1_archive(tmp_path: Path) -> None:
    source = tmp_path / "src" / "blacklists" / "agressif"
    source.mkdir(parents=True)
    (source / "domains").write_text("one.test\nBAD LINE HERE\ntwo.test\none.test\n")
    (source / "urls").write_text("three.test/path\n")
    archive = tmp_path / "blacklists.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "blacklists", arcname="blacklists")
    into = tmp_path / "imported"
    result = run(
        "lists", "import", "ut1", str(archive), "--category", "agressif", "--into", str(into)
    )
    assert result.returncode == 0, result.stderr
    domains = (into / "agressif" / "domains").read_text()
    assert "# Source:" in domains and "one.test\ntwo.test\n" in domains
    assert "skipped" in result.stdout and ":2:" in result.stdout
    assert (into / "agressif" / "urls").read_text().rstrip().endswith("three.test/path")
    # The imported folder is a list folder the policy can name.
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "categories:\n  extremism: {}\n"
        f"lists:\n  - {{folder: {into / 'agressif'}, category: extremism}}\n"
    )
    answer = json.loads(run("check", "--policy", str(policy), "http://www.two.test/").stdout)
    assert answer["action"] == "block"


def test_lists_import_refuses_missing_source(tmp_path: Path) -> None:
    result = run("lists", "import", "urls", str(tmp_path / "nope.txt"), "--into", str(tmp_path))
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_config_show_lists_defaults_with_help(tmp_path: Path) -> None:
    result = run("config", "show", "--defaults")
    assert result.returncode == 0
    assert "retention_days: 365" in result.stdout
    assert "# Events older than this are purged" in result.stdout
    config = tmp_path / "c.yaml"
    config.write_text("database:\n  retention_days: soon\n")
    result = run("config", "show", "--config", str(config))
    assert result.returncode == 2
    assert "database.retention_days: expected a whole number" in result.stderr


@pytest.mark.parametrize("secret_in_file", ["database:\n  password: hunter2\n"])
def test_secrets_are_refused_in_the_file(tmp_path: Path, secret_in_file: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(secret_in_file)
    result = run("config", "show", "--config", str(config))
    assert result.returncode == 2 and "PREVENT_MONITOR_DATABASE_PASSWORD" in result.stderr


def test_the_squid_helper_loads_only_what_it_runs(tmp_path: Path) -> None:
    """Squid starts several helpers at once, and again on each reconfigure: `check` must not
    load the console's web application, the store or the metrics server to answer a URL."""
    config = tmp_path / "prevent-monitor.yaml"
    config.write_text(f"policy:\n  file: {POLICY}\n")  # the config is read, as Squid's would be
    probe = (
        "import sys\n"
        "from monitor.cli import main\n"
        f"code = main(['check', '--config', {str(config)!r}, 'http://www.extremist.test/a'])\n"
        "heavy = ('sqlalchemy', 'alembic', 'aiohttp', 'jinja2', 'aiohttp_jinja2', 'mitmproxy')\n"
        "print(code, sorted(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "0 []", result.stdout
