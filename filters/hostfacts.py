"""What is known of a host whatever its path (`CompiledLists._facts`): the domain entries that
cover it, and whether its path could matter."""

from __future__ import annotations

from typing import NamedTuple

from filters.search import BRAND_LABELS, is_search_site
from filters.unwrap import CARRIER_LABELS, carries_targets


class HostFacts(NamedTuple):
    """What the lists say about a host whatever its path, and whether the path could matter."""

    domain_refs: tuple[tuple[str, int], ...]  # (rule, ref): "domain:bad.test" or "lookalike:..."
    path_sensitive: bool


# Most hosts: no entry, and a path that cannot matter (one answer, not one tuple per host).
NOTHING_LISTED = HostFacts((), False)

# A host whose labels include none of these is neither a redirector (`carries_targets`) nor a
# search engine (`is_search_site`): one set check in C for nearly every new host.
_SITE_LABELS = CARRIER_LABELS | BRAND_LABELS


def reads_paths(host: str) -> bool:
    """Whether `host` is a redirector, proxy or archive whose paths carry a target URL, or a
    search engine whose queries are read: for either, the path matters."""
    if _SITE_LABELS.isdisjoint(host.split(".")):
        return False
    return carries_targets(host) or is_search_site(host)
