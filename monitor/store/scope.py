"""Which schools a database call may see: the console's guarantee that a school's Prevent lead
never reads another school's pupils (issue #16).

    with only_schools({"northfield"}):           # or: token = enter(...); ...; leave(token)
        await store.read(recent_events, ...)     # sees northfield's rows, nothing else

The scope is a context variable, so it follows a request's task and the `Store`'s reader and
writer threads (the `Store` runs each call in a copy of the caller's context), and every
session opened under it carries it in `session.info`. There it is applied to every ORM statement
as a `with_loader_criteria` on each table that carries a school (SQLAlchemy's documented "global
WHERE criteria" recipe): SELECTs, `session.get()`, UPDATEs and DELETEs alike, so no query can
forget it. A statement the criteria cannot reach (a Core table select, raw SQL) is refused under a
scope, never run unfiltered.

No scope (`None`, the default) is every school: the daemon's own parts and the commands. An
empty scope is no school at all: every scoped table reads as empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from sqlalchemy import and_, event, or_, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import util as sql_util
from sqlalchemy.sql.elements import TextClause

from monitor.store.models import (
    AuditEntry,
    BrandMention,
    ContextEntry,
    DigestSent,
    Event,
    FeedState,
    SafeguardingAlert,
    UnblockRequest,
)

SCOPED: tuple[Any, ...] = (
    Event, BrandMention, UnblockRequest, ContextEntry, SafeguardingAlert, DigestSent, FeedState,
)  # fmt: skip
SCOPED_TABLES = frozenset(model.__tablename__ for model in SCOPED) | {"event_details"}
INFO_KEY = "schools"

_SCHOOLS: ContextVar[frozenset[str] | None] = ContextVar("schools", default=None)


class ScopeError(RuntimeError):
    """A statement that a school scope cannot be applied to was run under one."""


def current() -> frozenset[str] | None:
    """The schools the calls of this context may see; None: every school."""
    return _SCHOOLS.get()


def enter(schools: Iterable[str] | None) -> Token[frozenset[str] | None]:
    return _SCHOOLS.set(None if schools is None else frozenset(schools))


def leave(token: Token[frozenset[str] | None]) -> None:
    _SCHOOLS.reset(token)


@contextmanager
def only_schools(schools: Iterable[str] | None) -> Iterator[None]:
    token = enter(schools)
    try:
        yield
    finally:
        leave(token)


def bind(session: Session) -> Session:
    """Give a new session the current scope (the `Store` calls this for every session)."""
    session.info[INFO_KEY] = current()
    return session


@event.listens_for(Session, "do_orm_execute")
def _apply_scope(state: ORMExecuteState) -> None:
    schools = state.session.info.get(INFO_KEY)
    if schools is None:
        return
    if not state.is_orm_statement:
        _refuse_unscoped(state.statement)
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    ids = sorted(schools)
    state.statement = state.statement.options(
        *(
            with_loader_criteria(model, model.school.in_(ids), include_aliases=True)
            for model in SCOPED
        ),
        with_loader_criteria(AuditEntry, _audit_criteria(ids)),
    )


def _audit_criteria(ids: list[str]) -> Any:
    """An audit entry about a school's event or request is that school's. Trust-wide entries
    (accounts) have no school; entries from before schools (migration 0011 cannot fill them
    in: the trail refuses UPDATE) follow their event when they name one."""
    visible_events = select(Event.event_id).where(Event.school.in_(ids))
    return or_(
        AuditEntry.school.in_(ids),
        and_(
            AuditEntry.school.is_(None),
            or_(AuditEntry.event_id.is_(None), AuditEntry.event_id.in_(visible_events)),
        ),
    )


def _refuse_unscoped(statement: Any) -> None:
    try:
        tables = {table.name for table in sql_util.find_tables(statement, include_crud=True)}
    except Exception:
        tables = set(SCOPED_TABLES)
    if isinstance(statement, TextClause):
        tables = set(SCOPED_TABLES)  # raw SQL: nothing to inspect, so nothing to trust
    if tables & SCOPED_TABLES:
        raise ScopeError(
            "a Core or raw SQL statement on a school's rows ran under a school scope; "
            "use an ORM statement so the scope applies"
        )
