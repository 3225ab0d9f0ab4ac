"""Sign-in sessions, form tokens and rate limits, kept in the console's memory.

A session is a random id held server-side; the cookie carries the id and its HMAC signature, is
HTTP-only, SameSite=Strict and (by default) Secure. Signing out, expiry (a fixed lifetime and an
idle limit) or a restart ends it. Each session has its own CSRF token that every form posts back.

The public unblock-request form has no session: its token is signed with a time stamp and a
one-use nonce, so it cannot be forged, replayed or used after an hour.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from monitor.console.keys import sign, verify
from monitor.store.accounts import SignedIn

COOKIE = "pm_console"
FORM_TOKEN_SECONDS = 3600
ACTIVE_RECHECK_SECONDS = 30.0


@dataclass(slots=True)
class Session:
    id: str
    user: SignedIn
    csrf: str
    created: float
    last_used: float
    checked: float = field(default=0.0)  # when the account was last confirmed active
    password_change_due: bool = False  # only the password page, until a new one is set
    # ("ok" | "problem", text): shown once on the next page
    flash: list[tuple[str, str]] = field(default_factory=list)


class SessionStore:
    """Sessions by id; an expired or idle session is gone the next time it is looked at."""

    def __init__(self, key: bytes, *, lifetime_s: float, idle_s: float) -> None:
        self._key = key
        self._lifetime = lifetime_s
        self._idle = idle_s
        self._sessions: dict[str, Session] = {}

    def create(self, user: SignedIn) -> tuple[Session, str]:
        """A new session and the cookie value that names it."""
        self._sweep()
        now = time.monotonic()
        session = Session(
            id=secrets.token_urlsafe(32),
            user=user,
            csrf=secrets.token_urlsafe(32),
            created=now,
            last_used=now,
            checked=now,
            password_change_due=user.password_change_due,
        )
        self._sessions[session.id] = session
        return session, f"{session.id}.{sign(self._key, session.id)}"

    def lookup(self, cookie: str | None) -> Session | None:
        if not cookie or cookie.count(".") != 1:
            return None
        sid, signature = cookie.split(".")
        if not verify(self._key, sid, signature):
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.created > self._lifetime or now - session.last_used > self._idle:
            self._sessions.pop(sid, None)
            return None
        session.last_used = now
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def end_user(self, user_id: int, *, keep: Session | None = None) -> None:
        """End every session of one account (but `keep`, the one changing its password)."""
        for sid in [s.id for s in self._sessions.values() if s.user.user_id == user_id]:
            if keep is None or sid != keep.id:
                self._sessions.pop(sid, None)

    def _sweep(self) -> None:
        now = time.monotonic()
        for sid, s in list(self._sessions.items()):
            if now - s.created > self._lifetime or now - s.last_used > self._idle:
                del self._sessions[sid]


class FormTokens:
    """Signed, time-limited, one-use tokens for a form shown without a session."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._used: dict[str, float] = {}

    def issue(self, purpose: str) -> str:
        stamp = str(int(time.time()))
        nonce = secrets.token_urlsafe(12)
        return f"{stamp}.{nonce}.{sign(self._key, f'{purpose}|{stamp}|{nonce}')}"

    def redeem(self, purpose: str, token: str | None) -> bool:
        if not token or token.count(".") != 2:
            return False
        stamp, nonce, signature = token.split(".")
        if not verify(self._key, f"{purpose}|{stamp}|{nonce}", signature):
            return False
        try:
            age = time.time() - int(stamp)
        except ValueError:
            return False
        if not 0 <= age <= FORM_TOKEN_SECONDS or nonce in self._used:
            return False
        now = time.time()
        self._used = {n: t for n, t in self._used.items() if now - t <= FORM_TOKEN_SECONDS}
        self._used[nonce] = now
        return True


class Throttle:
    """At most `limit` events per key within `window_s` seconds (a sliding window)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window = window_s
        self._hits: dict[str, deque[float]] = {}

    def blocked(self, key: str) -> bool:
        hits = self._recent(key)
        return len(hits) >= self.limit

    def hit(self, key: str) -> None:
        self._recent(key).append(time.monotonic())

    def count(self, key: str) -> int:
        return len(self._recent(key))

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        now = time.monotonic()
        if len(self._hits) > 10_000:  # a flood of distinct keys: forget the stale ones
            self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < self.window}
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] > self.window:
            hits.popleft()
        return hits
