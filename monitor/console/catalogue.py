"""The policy's categories and groups, for the queue's filter choices; read at most once a minute
in a worker thread."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from filters.policyfile import PolicySpec, read_policy
from filters.policyspec import liftable_categories

if TYPE_CHECKING:
    from monitor.console.web import Console

TTL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Options:
    categories: tuple[str, ...]
    groups: tuple[str, ...]
    spec: PolicySpec | None
    # What a study exemption may lift: every category but the illegal ones, which nothing lifts.
    liftable: tuple[str, ...] = ()


async def options(console: Console) -> Options:
    cached = console.cache.get("options")
    if cached and time.monotonic() - cached[0] < TTL_SECONDS:
        return cached[1]
    result = await asyncio.to_thread(_read, console)
    console.cache["options"] = (time.monotonic(), result)
    return result


def _read(console: Console) -> Options:
    try:
        spec = read_policy(console.policy_path)
    except Exception:  # an unreadable policy must not take the queue down with it
        return Options((), (), None)
    return Options(
        tuple(sorted(spec.categories)),
        tuple(sorted(spec.groups)),
        spec,
        tuple(liftable_categories(spec)),
    )
