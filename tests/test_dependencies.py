"""A fresh install gets what was tested: every module imports in a new interpreter, and an import
of a package that pyproject.toml does not declare is caught (by deptry, in `make test`)."""

from __future__ import annotations

import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("filters", "monitor", "alerts")
DEPTRY = Path(sys.executable).parent / "deptry"


def every_module() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            # Alembic's env script runs only inside Alembic, which hands it its context.
            if info.name != "monitor.store.migrations.env":
                names.append(info.name)
    return names


def test_every_module_imports_in_a_fresh_interpreter(tmp_path: Path) -> None:
    modules = every_module()
    assert len(modules) > 60 and "monitor.gateway.pagescan" in modules
    script = (
        "import importlib, sys, traceback\n"
        "bad = []\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        bad.append(name + ': ' + traceback.format_exc().strip().splitlines()[-1])\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    # -I: no current folder on sys.path and no user site, so the modules come from the install.
    done = subprocess.run(
        [sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"modules that do not import:\n{done.stdout}{done.stderr}"


@pytest.mark.skipif(not DEPTRY.exists(), reason="deptry is not installed (the dev extra)")
def test_an_undeclared_import_fails_the_check(tmp_path: Path) -> None:
    """The check `make test` runs (deptry) really fails when pyproject loses a dependency that
    the code imports: PyYAML, taken out of a copy of the project."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '    "PyYAML>=' in pyproject
    kept = [line for line in pyproject.splitlines() if not line.startswith('    "PyYAML>=')]
    (tmp_path / "pyproject.toml").write_text("\n".join(kept) + "\n", encoding="utf-8")

    def deptry() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DEPTRY), "--no-ansi", *PACKAGES],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    missing = deptry()
    assert missing.returncode != 0
    said = missing.stdout + missing.stderr
    # DEP003 while another package still brings PyYAML along, DEP001 on the day none does.
    assert re.search(r"\.py:\d+:\d+: DEP00[13] 'yaml' imported but", said), said
    (tmp_path / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    complete = deptry()
    assert complete.returncode == 0, complete.stdout + complete.stderr
