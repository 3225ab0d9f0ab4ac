"""The deploy/ files pass the tools IT staff will load them with."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point the copies at this checkout's entry point.
    entry = str(Path(sys.executable).parent / "prevent-monitor")
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/opt/prevent-monitor/.venv/bin/prevent-monitor", entry)
        (tmp_path / unit.name).write_text(text)
    template = (tmp_path / "prevent-monitor-gateway@.service").read_text()
    (tmp_path / "prevent-monitor-gateway@0.service").write_text(template)
    names = [
        "prevent-monitor-gateway@0.service",
        "prevent-monitor-watcher.service",
        "prevent-monitor-console.service",
        "prevent-monitor-purge.service",
        "prevent-monitor-purge.timer",
        "prevent-monitor.target",
    ]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{n}" for n in names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr


def test_units_run_commands_that_exist() -> None:
    from monitor.cli import build_parser

    parser = build_parser()
    for unit in UNITS.glob("*.service"):
        for line in unit.read_text().splitlines():
            if not line.startswith("ExecStart="):
                continue
            argv = line.split("=", 1)[1].split()[1:]
            argv = [a.replace("%i", "0") for a in argv]
            parser.parse_args(argv)  # exits (fails the test) on an unknown command or option


@pytest.mark.skipif(not shutil.which("nft"), reason="nft not installed")
def test_nftables_rules_check() -> None:
    result = subprocess.run(
        ["nft", "-c", "-f", str(DEPLOY / "prevent-monitor.nft")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_guide_names_only_files_that_exist() -> None:
    guide = (DEPLOY / "README.md").read_text()
    for name in (
        "demo.yaml",
        "prevent-monitor.example.yaml",
        "prevent-monitor.nft",
        "proxy.pac",
        "ca/prevent-monitor-ca.mobileconfig.example",
    ):
        assert name in guide
        assert (DEPLOY / name).exists(), name


def test_example_config_is_valid() -> None:
    from monitor.config import load_config

    for name in ("prevent-monitor.example.yaml", "demo.yaml"):
        load_config(DEPLOY / name)


@pytest.mark.parametrize(
    "policy", ["blocklists/policy.yaml", "deploy/demo/policy.yaml", "tests/data/policy/policy.yaml"]
)
def test_every_shipped_policy_validates(policy: str) -> None:
    """`make run` refuses to start on a policy with problems: the shipped ones must have none."""
    from filters.policy import Policy

    root = Path(__file__).resolve().parents[2]
    assert [str(p) for p in Policy.validate(root / policy)] == []
