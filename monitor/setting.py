"""`setting()`: a configuration field with its default, help text and whether it is a secret.

Each part of the daemon declares its own section (a dataclass of `setting()` fields) in its own
package; `monitor.config` assembles them into the one configuration file.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any


def setting(default: Any, help: str, *, secret: bool = False, choices: tuple[str, ...] = ()) -> Any:
    """A field with its help text. Secrets are read from the environment, never the file."""
    meta = {"help": help, "secret": secret, "choices": choices}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)
