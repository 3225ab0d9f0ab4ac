"""Which allowlist and exemption values are too broad to accept: a public suffix lifts the
filter for every site under it.

The Public Suffix List comes from the `publicsuffixlist` package, whose snapshot ships inside
it, so nothing is fetched at run time. Its private section counts too (`github.io`,
`blogspot.com`): anyone can publish under those. A bare single label (`test`, `com`,
`school`) is refused even when the list does not know it, because no school means to allow
a whole top-level domain. (Allowlisting `com` once turned `cloudflare-dns.com`, a DNS-over-HTTPS
circumvention host, from block to study.)
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList

_LIST = PublicSuffixList()


@lru_cache(maxsize=4096)
def too_broad(host: str) -> str | None:
    """Why `host` may not be allowlisted or exempted whole, or None when it may."""
    host = host.strip().strip(".").lower()
    if not host or host.replace(".", "").isdigit() or ":" in host:
        return None  # an address, not a name: the list does not apply
    if "." not in host:
        return (
            f"{host!r} is a whole top-level domain: it would allow every site in it; name the "
            f"site itself (for example school-resource.{host})"
        )
    if _LIST.is_public(host):
        return (
            f"{host!r} is a public suffix (Public Suffix List): it would allow every site under "
            f"it; name the site itself (for example example.{host})"
        )
    return None


def site_of(host: str) -> str | None:
    """The registrable domain (eTLD+1) of `host`: the broadest value a request for it may
    allowlist."""
    return _LIST.privatesuffix(host.strip().strip(".").lower())
