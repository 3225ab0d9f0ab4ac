"""The retention purge reaches the policy files: study exemptions the console wrote, once ended
longer ago than the retention period, leave the exemptions file (they may name pupils)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import yaml

from filters.policy import Policy
from monitor.cli import main
from monitor.console.policyedit import exemptions_file, purge_ended_exemptions

ROOT = Path(__file__).resolve().parents[2]


def policy_with_exemptions(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "blocklists", tmp_path / "blocklists")
    policy = tmp_path / "blocklists" / "policy.yaml"
    path = exemptions_file(policy)
    header = "# Study exemptions approved by the Prevent lead\n"
    entries = [
        {"id": "old-unit", "reason": "Y13 unit", "requested_by": "unblock request 1",
         "approved_by": "dsl", "pupils": ["pupil7"], "categories": ["extremism"],
         "starts": "2024-01-08", "ends": "2024-02-09"},
        {"id": "this-term", "reason": "Y12 unit", "requested_by": "unblock request 9",
         "approved_by": "dsl", "groups": ["pupils"], "categories": ["extremism"],
         "starts": "2026-11-02", "ends": "2026-12-18"},
    ]  # fmt: skip
    path.write_text(header + yaml.safe_dump({"exemptions": entries}, sort_keys=False))
    return policy


def test_ended_exemptions_leave_the_policy_after_the_retention_period(tmp_path: Path) -> None:
    policy = policy_with_exemptions(tmp_path)
    assert purge_ended_exemptions(policy, 365, date(2026, 12, 1)) == 1
    text = exemptions_file(policy).read_text()
    assert text.startswith("# Study exemptions approved by the Prevent lead")
    assert "pupil7" not in text and "this-term" in text
    assert [e.id for e in Policy.load(policy).spec.exemptions] == ["this-term"]
    assert purge_ended_exemptions(policy, 365, date(2026, 12, 1)) == 0


def test_db_purge_reaches_the_policy_files(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    policy = policy_with_exemptions(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"policy: {{file: {policy}}}\ndatabase: {{url: 'sqlite:///{tmp_path}/s.sqlite'}}\n"
    )
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert main(["db", "purge", "--config", str(config)]) == 0
    assert "removed from the policy: 1" in capsys.readouterr().out
    assert "pupil7" not in exemptions_file(policy).read_text()
