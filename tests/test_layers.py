"""Dependencies point one way (DESIGN.md, README "Layout"): filters → the base → the parts
(alerts, gateway, console) → the application. Every import in filters/, monitor/ and alerts/,
at the top of a module or inside a function, is checked against the layers."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("filters", "monitor", "alerts")

BASE = (
    "monitor.events", "monitor.schools", "monitor.store", "monitor.setting", "monitor.logs",
    "monitor.metrics",
)  # fmt: skip
GATEWAY = ("monitor.gateway",)
CONSOLE = ("monitor.console",)
APPLICATION = (
    "monitor.config",
    "monitor.commands",
    "monitor.daemon",
    "monitor.firstrun",
    "monitor.cli",
)

# (modules a rule applies to, modules they must not import, why)
RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (("filters",), ("monitor", "alerts"), "filters/ imports nothing of ours"),
    (BASE, ("alerts", *GATEWAY, *CONSOLE, *APPLICATION), "the base imports no part"),
    (("alerts",), (*GATEWAY, *CONSOLE, *APPLICATION), "alerts/ imports no other part"),
    (GATEWAY, (*APPLICATION, *CONSOLE, "alerts"), "the gateway imports no other part"),
    (CONSOLE, (*APPLICATION, *GATEWAY, "alerts"), "the console imports no other part"),
)

# Known violations, as "importing module -> imported module". None are left.
ALLOWED: set[str] = set()


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(
    tree: ast.Module, module: str, is_package: bool
) -> Iterator[tuple[int, str, str]]:
    """(line, imported module, the statement as written) for every import, nested ones too.

    `from monitor import metrics` names `monitor.metrics`; relative imports are resolved."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            written = f"from {'.' * node.level}{node.module or ''} import "
            for alias in node.names:
                # `from a import b` may import module a.b: check both.
                yield node.lineno, f"{base}.{alias.name}", written + alias.name


def imports_against_layers(root: Path) -> Iterator[tuple[str, str, str]]:
    """(importing module, the layer it must not import, file:line and why) for each violation."""
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(path, root)
            rules = [rule for rule in RULES if within(module, rule[0])]
            if not rules:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            is_package = path.name == "__init__.py"
            for line, target, written in imported_modules(tree, module, is_package):
                for _, forbidden, why in rules:
                    hit = next((f for f in forbidden if within(target, (f,))), None)
                    if hit is not None:
                        where = f"{path.relative_to(root)}:{line}"
                        yield module, hit, f"{where}: {written!r} ({why}: not {hit})"


def violations(root: Path, allowed: set[str] = ALLOWED) -> list[str]:
    return [
        message
        for module, hit, message in imports_against_layers(root)
        if f"{module} -> {hit}" not in allowed
    ]


def test_imports_follow_the_layers() -> None:
    found = violations(ROOT)
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_every_allowance_is_still_needed() -> None:
    seen = {f"{module} -> {hit}" for module, hit, _ in imports_against_layers(ROOT)}
    assert seen >= ALLOWED, f"no longer needed, drop from ALLOWED: {sorted(ALLOWED - seen)}"


def test_the_checker_catches_a_bad_import(tmp_path: Path) -> None:
    planted = {
        "filters/__init__.py": "",
        "filters/bad.py": "def f():\n    from monitor import metrics\n",
        "monitor/__init__.py": "",
        "monitor/metrics.py": "import monitor.daemon\n",
        "monitor/gateway/__init__.py": "",
        "monitor/gateway/x.py": "from ..console import views\nfrom monitor import logs\n",
        "monitor/console/views.py": "from alerts.watcher import Watcher\n",
        "alerts/__init__.py": "",
        "alerts/ok.py": "from monitor.store import queries\nfrom filters.policy import Policy\n",
    }
    for name, text in planted.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(tmp_path, set())
    assert found == [
        "filters/bad.py:2: 'from monitor import metrics' (filters/ imports nothing of ours: "
        "not monitor)",
        "monitor/console/views.py:1: 'from alerts.watcher import Watcher' "
        "(the console imports no other part: not alerts)",
        "monitor/gateway/x.py:1: 'from ..console import views' "
        "(the gateway imports no other part: not monitor.console)",
        "monitor/metrics.py:1: 'import monitor.daemon' (the base imports no part: "
        "not monitor.daemon)",
    ]


def test_only_the_store_talks_sql() -> None:
    """Issue 11: every query the product runs is in monitor/store/ (no SQLAlchemy import and no
    `select(` anywhere else in filters/, monitor/ or alerts/)."""
    root = Path(__file__).resolve().parents[1]
    outside = []
    for package in ("filters", "monitor", "alerts"):
        for path in sorted((root / package).rglob("*.py")):
            if path.is_relative_to(root / "monitor" / "store"):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if "sqlalchemy" in code or "select(" in code:
                    outside.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not outside, "SQL outside monitor/store:\n" + "\n".join(outside)
