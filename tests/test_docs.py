"""The docs name only files that exist: every repository path written as code
(`monitor/gateway/addon.py`, `deploy/systemd/...`, `bench/url_bench.py`) in README.md, docs/*.md
and deploy/README.md, and every relative link's target, must be in the repository, so a moved or
renamed file cannot leave a guide pointing at nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", ROOT / "deploy" / "README.md", *(ROOT / "docs").glob("*.md")])
# A path is only recognised when it starts with one of the repository's own top folders (or, in
# deploy/README.md, a folder next to it): `gateway.passthrough`, `Europe/London` or
# `local/allow.yaml` (a school's own file) are not repository paths.
TOP_FOLDERS = (
    "filters", "monitor", "alerts", "blocklists", "deploy", "docs", "tests", "bench", ".ci"
)
TOP_FILES = ("Makefile", "pyproject.toml", "uv.lock", "README.md")

_FENCE_RE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_SPAN_RE = re.compile(r"`([^`\n]+)`")
_LINK_RE = re.compile(r"\]\(([^)\s#]+)")
_WORD_SPLIT_RE = re.compile(r"[\s=,()\"'\[\]]+")
# Where a written path stops being literal: a placeholder, a glob, "..." or a test/line suffix.
_LITERAL_END_RE = re.compile(r"<|\*|\.\.\.|::|:\d|\?|\{")


def code_words(text: str) -> list[tuple[int, str]]:
    """(line, word) for every word inside code spans and fenced blocks."""
    found: list[tuple[int, str]] = []
    for block in _FENCE_RE.finditer(text):
        first = text.count("\n", 0, block.start(1)) + 1
        for offset, line in enumerate(block.group(1).splitlines()):
            found.extend((first + offset, w) for w in _WORD_SPLIT_RE.split(line) if w)
    prose = _FENCE_RE.sub(lambda m: "\n" * m.group().count("\n"), text)
    for span in _SPAN_RE.finditer(prose):
        line = prose.count("\n", 0, span.start()) + 1
        found.extend((line, w) for w in _WORD_SPLIT_RE.split(span.group(1)) if w)
    return found


def repository_path(word: str, doc: Path) -> Path | None:
    """The file or folder a word names, or None when it is not a repository path."""
    literal = _LITERAL_END_RE.split(word, maxsplit=1)[0].rstrip(".:;")
    if literal in TOP_FILES:
        return ROOT / literal
    # `../trust/policy.yaml` in a school's policy is relative to that file, not to the doc.
    if "/" not in literal or literal.startswith(("/", "./", "../", "http")):
        return None
    first = literal.split("/", 1)[0]
    if first in TOP_FOLDERS:
        return ROOT / literal
    if doc.parent != ROOT and first and (doc.parent / first).is_dir():
        return doc.parent / literal
    return None


def link_targets(text: str, doc: Path) -> list[tuple[int, str, Path]]:
    """(line, target, path) for every relative Markdown link."""
    return [
        (text.count("\n", 0, link.start()) + 1, link.group(1), doc.parent / link.group(1))
        for link in _LINK_RE.finditer(text)
        if ":" not in link.group(1)  # http:, https:, mailto:
    ]


def missing_paths(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    named = [(line, word, repository_path(word, doc)) for line, word in code_words(text)]
    missing = []
    for line, word, path in [*named, *link_targets(text, doc)]:
        if path is not None and not path.exists():
            missing.append(f"{doc.relative_to(ROOT)}:{line}: {word}")
    return missing


def test_the_top_folders_exist() -> None:
    assert all((ROOT / folder).is_dir() for folder in TOP_FOLDERS)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_name_only_files_that_exist(doc: Path) -> None:
    missing = missing_paths(doc)
    assert not missing, "paths in the docs that are not in the repository:\n" + "\n".join(missing)


def test_the_checker_sees_paths_and_only_paths(tmp_path: Path) -> None:
    doc = ROOT / "docs" / "example.md"
    text = (
        "See `monitor/gateway/addon.py` and `deploy/systemd/...`; set `gateway.passthrough`\n"
        "to `Europe/London`, `local/allow.yaml`, `/healthz`, `<data_dir>/x.json`.\n"
        "```sh\n.venv/bin/prevent-monitor check --policy blocklists/nothere.yaml URL\n```\n"
        "`filters/gone.py::test_x` and `tests/filters/test_urls.py:12`\n"
    )
    named = [
        str(path.relative_to(ROOT))
        for _, word in code_words(text)
        if (path := repository_path(word, doc)) is not None
    ]
    assert named == [
        "blocklists/nothere.yaml",
        "monitor/gateway/addon.py",
        "deploy/systemd",
        "filters/gone.py",
        "tests/filters/test_urls.py",
    ]
