"""Who may do what in the console, and how pupils are shown to those who may not see names.

Checked on the server for every route (`requires`) and for every field that identifies a pupil
(`sees_identities`). The Prevent lead sees everything; IT staff see rules, counts, false
positives, unblock requests and health with pupils pseudonymised; communications staff see brand
mentions and digests only. IT staff (and administrators) edit the lists and group actions;
the Prevent lead sees every change in the policy history and the annual review.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum

from monitor.store.models import Role


class Can(StrEnum):
    """One thing a console user may do."""

    QUEUE = "queue"  # the event queue, ranking, timelines, CSV export (identities)
    TRIAGE = "triage"  # change status, assign, notes
    EVENT_RULES = "event_rules"  # an event's rule and URL without identities (false positives)
    DASHBOARD = "dashboard"
    UNBLOCK = "unblock"  # answer unblock requests (allowlist entries)
    EXEMPTION = "exemption"  # approve a time-boxed study exemption (the Prevent lead)
    MENTIONS = "mentions"  # brand mentions and digests
    ANNUAL_REVIEW = "annual_review"
    ACCOUNTS = "accounts"  # lift an account's sign-in delay (the Prevent lead)
    CONTEXT = "context"  # the host-only context log around an event (identities)
    TEST_URL = "test_url"  # the URL tester: what the live policy does with a URL
    EDIT_LISTS = "edit_lists"  # edit the local lists and group actions, roll back (IT staff)
    POLICY_HISTORY = "policy_history"  # the recorded policy versions and their diffs
    IMPACT = "impact"  # preview what a policy change would do (counts only, no identities)


GRANTS: dict[str, frozenset[Can]] = {
    Role.ADMIN.value: frozenset(Can),
    # The Prevent lead sees every policy change (history, annual review); IT staff make them.
    Role.PREVENT_LEAD.value: frozenset(Can) - {Can.EDIT_LISTS},
    Role.IT_STAFF.value: frozenset(
        {
            Can.EVENT_RULES,
            Can.DASHBOARD,
            Can.UNBLOCK,
            Can.ANNUAL_REVIEW,
            Can.TEST_URL,
            Can.EDIT_LISTS,
            Can.POLICY_HISTORY,
            Can.IMPACT,
        }
    ),
    Role.COMMS.value: frozenset({Can.MENTIONS}),
    Role.TEACHER.value: frozenset(),
}

ROLE_NAMES = {
    Role.ADMIN.value: "Administrator",
    Role.PREVENT_LEAD.value: "Prevent lead",
    Role.IT_STAFF.value: "IT staff",
    Role.COMMS.value: "Communications",
    Role.TEACHER.value: "Teacher",
}


def grants(role: str) -> frozenset[Can]:
    return GRANTS.get(role, frozenset())


def sees_identities(role: str) -> bool:
    """Names, devices and addresses of pupils: the Prevent lead's (and administrator's) only."""
    return Can.QUEUE in grants(role)


def sees_search_terms(role: str) -> bool:
    """What a pupil typed into a search engine: for the roles that may open an event page,
    as the event's own search terms have always been (IT staff need the term a rule matched
    to fix a false positive; they see the pupil only by pseudonym)."""
    return Can.EVENT_RULES in grants(role)


def home_for(role: str) -> str:
    """Where a user lands after signing in."""
    can = grants(role)
    if Can.QUEUE in can:
        return "/events"
    if Can.DASHBOARD in can:
        return "/dashboard"
    if Can.MENTIONS in can:
        return "/mentions"
    return "/request-review"


class Pseudonyms:
    """Stable, keyed pseudonyms: the same pupil is always `user-XXXXXXXX` for IT staff, and
    nobody without the key can turn one back into a name."""

    def __init__(self, key: bytes, *, per_school: bool = False) -> None:
        self._key = key
        # In a trust, one name (or one private address) at two schools is two pupils: keyed
        # with the school, so IT staff cannot link a pupil's events across schools. A single
        # school keeps the pseudonyms it had before schools existed.
        self._per_school = per_school

    def __call__(self, name: str | None, kind: str = "user", school: str | None = None) -> str:
        """`user-xxxxxxxx`; a device or an address (an event without a user name) is
        `device-xxxxxxxx` / `address-xxxxxxxx`, so IT staff can tell them apart."""
        if not name:
            return "—"
        keyed = f"{school}\x00{name}" if self._per_school and school else name
        digest = hmac.new(self._key, keyed.encode(), hashlib.sha256).digest()
        return f"{kind}-" + base64.b32encode(digest[:5]).decode().lower()
