"""The console's secret key: from the configuration, or generated once and kept in data_dir.

One key signs session cookies and the block page's form tokens, and (through a derived key)
makes the stable pseudonyms IT staff see instead of pupils' names.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = "console-session.key"


def load_session_key(configured: str, data_dir: str | Path) -> bytes:
    """The configured key, else the one in `data_dir`, else a new one written with mode 0600."""
    if configured:
        return configured.encode()
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        text = path.read_text(encoding="ascii").strip()
        if len(text) >= 32:
            return text.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL on a temp name, then rename: never a moment where the key is world-readable.
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    os.replace(temp, path)
    return key.encode()


def derive(key: bytes, purpose: str) -> bytes:
    """A separate key for each purpose, so a leaked pseudonym table says nothing of cookies."""
    return hmac.new(key, f"prevent-monitor console {purpose}".encode(), hashlib.sha256).digest()


def sign(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def verify(key: bytes, value: str, signature: str) -> bool:
    return hmac.compare_digest(sign(key, value), signature)
