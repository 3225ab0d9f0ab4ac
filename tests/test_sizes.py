"""Small modules (issue 11 part 7): no module of filters/, monitor/ or alerts/ over 400 lines and
no function over 60 (migrations aside), so each says one thing and can be read whole."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


@pytest.mark.parametrize("package", ["filters", "monitor", "alerts"])
def test_modules_and_functions_stay_small(package: str) -> None:
    too_big = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = path.relative_to(ROOT)
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{name}: {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{name}:{node.lineno}: {node.name}() is {length} lines")
    assert not too_big, "split by concern:\n" + "\n".join(too_big)
