"""Docs that cannot drift (after Datasette's `test_settings_are_documented`): every setting is
named in docs/ (or deploy/README.md, or the example config), and every `section.key` the docs
name in backticks is a setting that exists."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest
import yaml

from monitor.config import Config

ROOT = Path(__file__).resolve().parents[2]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "README.md", ROOT / "README.md"]
EXAMPLE = ROOT / "deploy" / "prevent-monitor.example.yaml"


def key_paths(cls: type = Config, prefix: str = "") -> list[str]:
    """Every setting's key path (`gateway.listen_port`), from the config's dataclasses."""
    hints = typing.get_type_hints(cls)
    paths = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            paths += key_paths(typing.cast(type, hint), f"{prefix}{f.name}.")
        else:
            paths.append(f"{prefix}{f.name}")
    return paths


def example_paths(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return set()
    found = set()
    for key, value in node.items():
        found.add(f"{prefix}{key}")
        found |= example_paths(value, f"{prefix}{key}.")
    return found


SETTINGS = key_paths()
SECTIONS = {path.split(".")[0] for path in SETTINGS if "." in path}
DOC_TEXT = "\n".join(p.read_text(encoding="utf-8") for p in DOCS)
# `section.key` (and `section.key: value`) inside backticks: a setting named by a document.
NAMED = re.compile(r"`(" + "|".join(sorted(SECTIONS)) + r")\.([a-z_][a-z0-9_]*)[^`]*`")


# `demo.yaml` and `digest.txt` are files, not settings.
FILE_TYPES = frozenset({"yaml", "yml", "txt", "html", "md", "py", "json", "csv", "sqlite", "pem"})


def test_the_config_has_settings() -> None:
    assert len(SETTINGS) > 80
    assert "gateway.listen_port" in SETTINGS and "school" in SETTINGS


@pytest.mark.parametrize("path", SETTINGS)
def test_every_setting_is_documented(path: str) -> None:
    example = example_paths(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
    named = path in example or f"`{path}" in DOC_TEXT
    if "." not in path:  # a top-level setting is named as `school:` or `data_dir`
        named = named or re.search(rf"`{path}[`:]", DOC_TEXT) is not None
    assert named, (
        f"the setting {path} is named neither in docs/ nor in {EXAMPLE.name}: document it "
        "(in backticks, as `section.key`)"
    )


def test_the_docs_name_only_settings_that_exist() -> None:
    wrong = sorted(
        {
            f"{doc.relative_to(ROOT)}: `{m.group(1)}.{m.group(2)}`"
            for doc in DOCS
            for m in NAMED.finditer(doc.read_text(encoding="utf-8"))
            if f"{m.group(1)}.{m.group(2)}" not in SETTINGS and m.group(2) not in FILE_TYPES
        }
    )
    assert not wrong, "the docs name settings that do not exist:\n" + "\n".join(wrong)
