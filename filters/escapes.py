"""Percent-escapes and dot segments: the canonical path and query of a URL, and decoding a host.

`%62ad`, `%2562ad` (encoded twice) and `b%61d` are all `bad` to a server, and `/a/../b` is `/b`;
the canonical form decodes what a server decodes and keeps encoded only what must stay so for
the form to parse back to itself. Every evasion undone is recorded in `anomalies`.
"""

from __future__ import annotations

import re

# Percent-decoding works on bytes so that a multi-byte character split over two rounds of
# encoding still comes out whole.
_PCT_RUN_RE = re.compile(rb"(?:%[0-9A-Fa-f]{2})+")
# Decoding these in a query would change its structure (a=1%26b=2 is one parameter, not two).
_QUERY_KEEP_RE = re.compile(rb"[&=+#]")
_MAX_DECODE_ROUNDS = 4

# What must stay percent-encoded in the canonical form for it to parse back to itself.
_PATH_ENCODE_RE = re.compile(r"[\x00-\x20\x7f#?\\\ud800-\udfff]|%(?![0-9A-Fa-f]{2})")
_QUERY_ENCODE_RE = re.compile(r"[\x00-\x20\x7f#\ud800-\udfff]|%(?![0-9A-Fa-f]{2})")
_PATH_SLOW_RE = re.compile(r"%|//|/\.\.?(?:/|$)|[\x00-\x20\x7f\\\ud800-\udfff]")
_QUERY_SLOW_RE = re.compile(r"[%\x00-\x20\x7f\ud800-\udfff]")


def percent_decode(text: str, anomalies: list[str], keep: re.Pattern[bytes] | None) -> bytes:
    """Decode %XX escapes, again and again while that changes something (%2562 -> %62 -> b).

    Escapes whose byte matches `keep` stay encoded, with uppercase hex, so both spellings agree.
    """
    data = text.encode("utf-8", "surrogatepass")

    def decode_run(m: re.Match[bytes]) -> bytes:
        decoded = bytes.fromhex(m.group().replace(b"%", b"").decode("ascii"))
        if keep is not None and keep.search(decoded):
            return keep.sub(lambda k: b"%%%02X" % k.group()[0], decoded)
        return decoded

    for round_no in range(_MAX_DECODE_ROUNDS):
        if b"%" not in data:
            break
        decoded = _PCT_RUN_RE.sub(decode_run, data)
        if decoded == data:
            break
        if round_no:
            anomalies.append("double-encoded")
        data = decoded
    return data


def _encode_char(m: re.Match[str]) -> str:
    char = m.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"%{code - 0xDC00:02X}"
    return "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))


def canonical_component(text: str, anomalies: list[str], *, query: bool) -> str:
    if not text:
        return ""
    if query and not _QUERY_SLOW_RE.search(text):
        return text
    if "%" in text:
        keep = _QUERY_KEEP_RE if query else None
        data = percent_decode(text, anomalies, keep)
        text = data.decode("utf-8", "surrogateescape")
    pattern = _QUERY_ENCODE_RE if query else _PATH_ENCODE_RE
    return pattern.sub(_encode_char, text)


def canonical_path(path: str, anomalies: list[str]) -> str:
    if not path:
        return "/"
    if not _PATH_SLOW_RE.search(path):
        return path
    if "%" in path:
        path = percent_decode(path, anomalies, None).decode("utf-8", "surrogateescape")
    if "//" in path or "/." in path:
        path = _remove_dot_segments(path, anomalies)
    return _PATH_ENCODE_RE.sub(_encode_char, path)


def _remove_dot_segments(path: str, anomalies: list[str]) -> str:
    """Resolve "." and ".." and collapse empty segments ("//"), as the server will."""
    segments = path.split("/")[1:]
    kept: list[str] = []
    for segment in segments:
        if segment == ".." or segment == ".":
            anomalies.append("dot-segments")
            if segment == ".." and kept:
                kept.pop()
        elif segment:
            kept.append(segment)
    if not kept:
        return "/"
    trailing = "/" if segments[-1] in ("", ".", "..") else ""
    return "/" + "/".join(kept) + trailing
