"""The set-up paper cuts a newcomer met: every command finds the same config as `run`, none
creates a second store, no two parts share a port, `config check`, and the list cache of a
Squid helper running as a user whose home cannot be written."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import monitor.config
from filters import listcache
from monitor.cli import main
from monitor.config import MAX_GATEWAY_INSTANCES, Config, load_config, port_clashes, ports

ROOT = Path(__file__).resolve().parents[2]
ENTRY = Path(sys.executable).parent / "prevent-monitor"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("PREVENT_MONITOR_CONFIG", "PREVENT_MONITOR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(monitor.config, "DEFAULT_CONFIG_PATH", str(tmp_path / "etc" / "pm.yaml"))


def school_config(folder: Path) -> Path:
    """A config like the demo's: a relative SQLite path, taken from the config's folder."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "blocklists", folder / "blocklists")
    path = folder / "school.yaml"
    path.write_text(
        "school: Fictional Academy\n"
        "data_dir: state\n"
        "policy: {file: blocklists/policy.yaml}\n"
        "database: {url: 'sqlite:///state/store.sqlite'}\n",
        encoding="utf-8",
    )
    return path


def test_users_add_finds_the_config_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = school_config(tmp_path / "school")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("PREVENT_MONITOR_CONFIG", str(config))

    # Before the store exists: a refusal naming the store and the same config, nothing created.
    assert main(["users", "add", "dsl", "--role", "prevent_lead"]) == 2
    err = capsys.readouterr().err
    assert f"there is no store at {tmp_path}/school/state/store.sqlite" in err
    assert f"prevent-monitor db upgrade --config {config}" in err
    assert "no such table" not in err
    assert not (tmp_path / "school" / "state").exists()
    assert not list(elsewhere.iterdir()), "a stray store was left in the working folder"

    # The advice works, and the account lands in the configured store.
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "school" / "state" / "store.sqlite").is_file()
    capsys.readouterr()
    assert main(["users", "add", "dsl", "--role", "prevent_lead"]) == 0
    assert "one-time password:" in capsys.readouterr().out
    assert main(["users", "list", "--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith("dsl\tprevent_lead\tschool\tactive")
    assert not list(elsewhere.iterdir())


@pytest.mark.parametrize(
    "argv",
    [
        ["users", "list"],
        ["db", "upgrade"],
        ["db", "purge", "--dry-run"],
        ["digest", "--preview", "x.html"],
        ["config", "show"],
        ["config", "check"],
        ["lists", "validate"],
    ],
)
def test_with_no_config_every_command_names_the_file_it_looked_for(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"looked for {tmp_path}/etc/pm.yaml (the default)" in err
    assert "PREVENT_MONITOR_CONFIG" in err
    assert not list(tmp_path.glob("**/*.sqlite")), "a store was created"


def test_the_default_path_is_used_when_it_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = school_config(tmp_path / "etc")
    config.rename(tmp_path / "etc" / "pm.yaml")
    assert main(["config", "show"]) == 0
    assert f"(from {tmp_path}/etc/pm.yaml)" in capsys.readouterr().out


def test_digest_preview_reads_the_daemons_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`digest --preview` used `config.database.url` as it stands in the file (relative to the
    working folder), so it read a new empty store there. It uses `database_url()` now."""
    config = school_config(tmp_path / "school")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["digest", "--preview", "d.html", "--config", str(config)]) == 2
    assert "there is no store at" in capsys.readouterr().err
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert main(["digest", "--preview", "d.html", "--config", str(config)]) == 0
    assert (elsewhere / "d.html").is_file()
    assert not (elsewhere / "state").exists()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["d.html", "d.txt"]


def test_no_two_parts_or_instances_share_a_default_port() -> None:
    config = Config()
    config.demo.feed_folder = "feeds"  # the demo's feed server counts too
    every: dict[int, str] = {}
    for instance in range(MAX_GATEWAY_INSTANCES):
        assert port_clashes(config, instance) == []
        for key, port in ports(config, instance).items():
            owner = f"{key}@{instance}" if key.startswith(("gateway.", "metrics.gateway")) else key
            assert every.setdefault(port, owner) == owner, f"{owner} and {every[port]} on {port}"
    # The clash that stopped `proxy --instance 1`: the gateway's metrics + 1 was the watcher's.
    assert config.metrics.gateway_port + 1 != config.metrics.watcher_port


def test_a_config_with_two_parts_on_one_port_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("console: {port: 9461}\n", encoding="utf-8")
    with pytest.raises(monitor.config.ConfigError) as caught:
        load_config(path)
    assert "console.port: port 9461 is already metrics.gateway_port's" in str(caught.value)


def test_proxy_refuses_an_instance_whose_ports_clash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("metrics: {watcher_port: 9463}\n", encoding="utf-8")
    assert main(["proxy", "--config", str(path), "--instance", "2"]) == 2
    err = capsys.readouterr().err
    assert "port 9463 is already metrics.gateway_port's for gateway process 2" in err
    assert main(["proxy", "--config", str(path), "--instance", str(MAX_GATEWAY_INSTANCES)]) == 2
    assert f"use 0 to {MAX_GATEWAY_INSTANCES - 1}" in capsys.readouterr().err


def test_config_show_lists_every_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--config", str(ROOT / "deploy" / "demo.yaml")]) == 0
    out = capsys.readouterr().out
    for line in ("gateway.listen_port: 8080", "metrics.gateway_port: 9461",
                 "metrics.watcher_port: 9459", "metrics.daemon_port: 9460",
                 "console.port: 8470", "demo.feed_port: 8471"):
        assert f"#   {line}" in out


def test_config_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = school_config(tmp_path / "school")
    assert main(["config", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "policy" in out and ": valid" in out
    assert "there is no store at" in out and "`prevent-monitor run` creates it" in out
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["config", "check", "--config", str(config)]) == 0
    assert "store: reachable, schema up to date" in capsys.readouterr().out
    # A broken list: the check fails and names the file:line.
    policy = tmp_path / "school" / "blocklists" / "policy.yaml"
    policy.write_text(policy.read_text() + "\nnot: [valid\n", encoding="utf-8")
    assert main(["config", "check", "--config", str(config)]) == 1
    assert "policy.yaml" in capsys.readouterr().out


# --- the list cache of a Squid helper ---------------------------------------------------------


def test_list_cache_falls_back_when_home_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unwritable = tmp_path / "home-is-a-file"
    unwritable.write_text("")
    monkeypatch.delenv("PREVENT_MONITOR_CACHE_DIR", raising=False)
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(unwritable))
    monkeypatch.setattr(listcache, "SYSTEM_CACHE", unwritable / "system")
    monkeypatch.setattr(listcache.tempfile, "gettempdir", lambda: str(tmp_path))
    listcache._writable_default.cache_clear()
    try:
        chosen = listcache.cache_dir()
        assert chosen == tmp_path / f"prevent-monitor-cache-{os.getuid()}"
        assert chosen.stat().st_mode & 0o777 == 0o700
        monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "systemd"))
        assert listcache.cache_dir() == tmp_path / "systemd"
    finally:
        listcache._writable_default.cache_clear()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run the helper as user proxy")
def test_squid_helper_as_user_proxy_writes_its_cache(tmp_path: Path) -> None:
    """As Squid runs it: user `proxy`, HOME /bin. No "cannot write the list cache" warning."""
    try:
        proxy = pwd.getpwnam("proxy")
    except KeyError:
        pytest.skip("this machine has no user proxy")
    policy = tmp_path / "policy"
    shutil.copytree(ROOT / "blocklists", policy)
    os.chmod(tmp_path, 0o755)
    for path in [policy, *policy.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    env = {"PATH": "/usr/bin:/bin", "HOME": proxy.pw_dir, "LANG": "C.UTF-8"}
    as_proxy = ["setpriv", f"--reuid={proxy.pw_uid}", f"--regid={proxy.pw_gid}", "--clear-groups"]
    probe = subprocess.run([*as_proxy, sys.executable, "-c", "import filters"], env=env,
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"user proxy cannot run this interpreter here: {probe.stderr.strip()[:120]}")
    command = [
        *as_proxy, str(ENTRY), "check", "--stdin", "--format", "squid",
        "--policy", str(policy / "policy.yaml"),
    ]
    done = subprocess.run(
        command, input="http://www.example.test/ 10.0.0.5/- - GET\n", env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ERR"
    assert "cannot write the list cache" not in done.stderr
    assert "no folder for the list cache" not in done.stderr
