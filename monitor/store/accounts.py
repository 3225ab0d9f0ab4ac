"""Console accounts: argon2 password hashes, adding and disabling users, the first administrator,
signing in and the check that a signed-in account is still active.

All functions are synchronous and take a Session (the console runs them through
`monitor.store.runner.Store`; the command line in its own transaction); the caller commits.
Passwords are never stored or logged; a new account gets a random one-time password that is
shown once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.schools import format_account_schools, id_problem, parse_account_schools
from monitor.store.models import ConsoleUser, Role
from monitor.store.review import record

HASHER = PasswordHasher()
# Verified against when the user name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
ASSIGNABLE_ROLES = (Role.PREVENT_LEAD.value, Role.IT_STAFF.value, Role.COMMS.value)
FIRST_ADMIN = "admin"


class AccountError(ValueError):
    """An account change that cannot be made, and what to do."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    user_id: int
    username: str
    display_name: str
    role: str
    password_change_due: bool = False  # signed in with a one-time password
    schools: frozenset[str] | None = None  # the schools whose rows it sees; None: every school


def one_time_password() -> str:
    return secrets.token_urlsafe(15)


def add_user(
    session: Session,
    username: str,
    role: str,
    *,
    display_name: str | None = None,
    email: str | None = None,
    actor: str = "command line",
    change_due: bool = True,
    schools: Iterable[str] | None = None,
) -> str:
    """Create an account; return its one-time password (shown once, never stored in clear). The
    first sign-in must replace it (`change_due`). It sees `schools` (None: every school)."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError(
            f"user name {username!r}: use 1-64 lower-case letters, digits and . _ @ - "
            "(starting with a letter or digit)"
        )
    if role not in {r.value for r in Role}:
        raise AccountError(f"role {role!r}: use one of {', '.join(ASSIGNABLE_ROLES)}")
    if session.scalar(select(ConsoleUser).where(ConsoleUser.username == username)):
        raise AccountError(f"user {username!r} exists already: pick another name")
    password = one_time_password()
    session.add(
        ConsoleUser(
            username=username,
            display_name=display_name or username,
            email=email,
            role=role,
            password_hash=HASHER.hash(password),
            active=True,
            created_at=datetime.now(UTC),
            password_change_due=change_due,
            schools=_schools_value(schools),
        )
    )
    record(
        session, actor=actor, action="user.add", subject=f"user:{username}", to_value=role,
        note=f"schools: {_schools_value(schools) or '(none)'}",
    )  # fmt: skip
    session.flush()
    return password


def list_users(session: Session) -> Sequence[ConsoleUser]:
    return session.scalars(select(ConsoleUser).order_by(ConsoleUser.username)).all()


def disable_user(session: Session, username: str, *, actor: str = "command line") -> None:
    user = session.scalar(select(ConsoleUser).where(ConsoleUser.username == username.lower()))
    if user is None:
        raise AccountError(f"no user {username!r}: `prevent-monitor users list` shows them")
    if not user.active:
        raise AccountError(f"user {username!r} is already disabled")
    user.active = False
    record(session, actor=actor, action="user.disable", subject=f"user:{user.username}")


def _schools_value(schools: Iterable[str] | None) -> str:
    if schools is None:
        return format_account_schools(None)
    chosen = sorted({school.strip() for school in schools if school.strip()})
    for school in chosen:
        problem = id_problem(school)
        if problem:
            raise AccountError(f"school {problem}")
    return format_account_schools(chosen)


def set_schools(
    session: Session, username: str, schools: Iterable[str] | None, *, actor: str = "command line"
) -> str:
    """Give an account its schools (None: every school); returns the stored value. Its open
    sessions see the change within half a minute (`still_active`)."""
    user = session.scalar(select(ConsoleUser).where(ConsoleUser.username == username.lower()))
    if user is None:
        raise AccountError(f"no user {username!r}: `prevent-monitor users list` shows them")
    old, user.schools = user.schools, _schools_value(schools)
    record(
        session, actor=actor, action="user.schools", subject=f"user:{user.username}",
        from_value=old, to_value=user.schools,
    )  # fmt: skip
    return user.schools


def sees_school(account_schools: str, school: str) -> bool:
    allowed = parse_account_schools(account_schools)
    return allowed is None or school in allowed


def ensure_first_admin(session: Session) -> str | None:
    """On first run (no accounts at all) create `admin` as a Prevent lead and return its one-time
    password for the daemon to print once; otherwise None. The caller commits."""
    if session.scalar(select(func.count()).select_from(ConsoleUser)):
        return None
    return add_user(
        session,
        FIRST_ADMIN,
        Role.PREVENT_LEAD.value,
        display_name="Administrator (first run)",
        actor="first run",
    )


def authenticate(session: Session, username: str, password: str) -> SignedIn | None:
    """The account if the name and password match an active user, else None. Records the
    sign-in time and upgrades an outdated hash."""
    user = session.scalar(
        select(ConsoleUser).where(ConsoleUser.username == username.strip().lower()[:128])
    )
    if user is None or not user.active:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(user.password_hash, password):
        return None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    user.last_login_at = datetime.now(UTC)
    return SignedIn(
        user.id,
        user.username,
        user.display_name or user.username,
        user.role,
        password_change_due=bool(user.password_change_due),
        schools=parse_account_schools(user.schools),
    )


def still_active(session: Session, user_id: int) -> tuple[str, frozenset[str] | None] | None:
    """The user's current role and schools if the account is still active, else None."""
    user = session.get(ConsoleUser, user_id)
    if user is None or not user.active:
        return None
    return user.role, parse_account_schools(user.schools)


def _verify(encoded: str, password: str) -> bool:
    try:
        return HASHER.verify(encoded, password[:1024])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


MIN_PASSWORD = 12


def change_password(session: Session, user_id: int, current: str, new: str) -> None:
    """Replace a user's password after checking the current one."""
    user = session.get(ConsoleUser, user_id)
    if user is None or not user.active:
        raise AccountError("this account no longer exists or is disabled")
    if not _verify(user.password_hash, current):
        raise AccountError("the current password is not right")
    if len(new) < MIN_PASSWORD:
        raise AccountError(f"use at least {MIN_PASSWORD} characters for the new password")
    if new == current:
        raise AccountError("the new password is the same as the current one")
    user.password_hash = HASHER.hash(new)
    user.password_change_due = False
    record(session, actor=user.username, action="user.password", subject=f"user:{user.username}")


def review_leads(session: Session, school: str | None = None) -> list[str]:
    """The active accounts an event can be assigned to (Prevent leads and administrators), of
    those who see `school` (None: any)."""
    query = (
        select(ConsoleUser.username, ConsoleUser.schools)
        .where(
            ConsoleUser.active.is_(True),
            ConsoleUser.role.in_([Role.PREVENT_LEAD.value, Role.ADMIN.value]),
        )
        .order_by(ConsoleUser.username)
    )
    return [
        name for name, schools in session.execute(query)
        if school is None or sees_school(schools, school)
    ]  # fmt: skip
