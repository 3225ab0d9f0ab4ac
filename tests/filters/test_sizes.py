"""Small modules (issue 11 part 7): no module of filters/ over 400 lines, no function over 60, so
each says one thing and can be read whole."""

from __future__ import annotations

import ast
from pathlib import Path

FILTERS = Path(__file__).resolve().parents[2] / "filters"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_filters_modules_and_functions_stay_small() -> None:
    too_big = []
    for path in sorted(FILTERS.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{path.name}: {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{path.name}:{node.lineno}: {node.name}() is {length} lines")
    assert not too_big, "split by concern:\n" + "\n".join(too_big)
