"""The console's free-text search over events, served from each engine's own index.

    where.append(text_matches(term))     # what EventFilter(text=term) adds to its conditions
    query = for_one_page(session, query, limit)   # list_events: the cheaper way to a page

An event matches when `term` is a case-insensitive substring of its URL, host, search terms,
rule, category, reason or user name (`%` and `_` are literal), or when `term` is the exact
reference of any visit it holds (a block page's). Which events match is decided by the same
ILIKE as before the index; the index only chooses which rows that ILIKE has to read:

- SQLite: `events_text`, an FTS5 trigram table (migration 0010, kept in step by triggers on
  `events`), names the rows that hold every trigram of the term. That includes every match:
  FTS5 folds case across Unicode and SQLite's LIKE only across ASCII, and a row can hold the
  trigrams in other places than the term; the ILIKE removes the rest (so `É` does not find
  `é` on SQLite, as before).
- PostgreSQL: PostgreSQL uses the pg_trgm GIN index `ix_events_text_trgm` for ILIKE itself,
  and its planner chooses, from its statistics, between the index and walking the page's sort
  order as before the index (migration 0010 gives those columns finer statistics for it).

SQLite has no such statistics, so `for_one_page` asks the index first which rows hold the
trigrams. Reading those candidates and sorting them costs time in proportion to their number
(about 7 us each); walking the page's sort order and testing each row costs time in
proportion to how far the walk goes before the page is full (about 4 us a row, limit x
events / candidates rows when the term is spread evenly). The two meet near the square root
of limit x events candidates (7,072 for a page of 50 among a million): below it the page is
served from the candidates, from there on by the walk, as before the index. So a page is never
read in a way the store did not use before, except from at most that many candidates.

A term of one or two characters has no trigram, so no index can narrow it: it is answered by
walking the rows in the page's order until the page is full, which is quick for a common term
and as slow as before (every row) for a rare one. The results are the same either way.

`outside_the_models(name, type_, parents)` tells Alembic's comparison (and autogenerate) to
leave these index objects alone: the models do not describe them, migration 0010 does.
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    and_,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import column, table
from sqlalchemy.sql.elements import BindParameter, literal
from sqlalchemy.sql.visitors import InternalTraversal, iterate, replacement_traverse

from monitor.store.models import Event, EventReceipt

TEXT_COLUMNS = (
    Event.url, Event.host, Event.search_terms, Event.rule, Event.category, Event.reason, Event.user,
)  # fmt: skip
SHORTEST_INDEXED = 3  # characters: one trigram
FTS_TABLE = "events_text"
PG_INDEX = "ix_events_text_trgm"

_fts = table(FTS_TABLE, column("rowid"))


def text_matches(term: str) -> ColumnElement[bool]:
    """Events whose text holds `term` (stripped, non-empty), or that hold it as a reference."""
    holds: ColumnElement[bool] = _ilike(term)
    if len(term) >= SHORTEST_INDEXED and "\x00" not in term:
        holds = and_(_Candidates(fts_query(term)), holds)
    # A block page's reference (any visit's id, folded or not) finds its event. A scalar
    # subquery (receipts are keyed by reference) lets either engine use the primary key.
    reference = select(EventReceipt.event_pk).where(EventReceipt.event_id == term[:64])
    return or_(holds, Event.pk == reference.scalar_subquery())


def ilike_matches(term: str) -> ColumnElement[bool]:
    """The condition as it was before the index (the benchmark's "before")."""
    reference = select(EventReceipt.event_pk).where(EventReceipt.event_id == term[:64])
    return or_(_ilike(term), Event.pk.in_(reference))


def _ilike(term: str) -> ColumnElement[bool]:
    pattern = "%" + escape_like(term) + "%"
    return or_(*(c.ilike(pattern, escape="\\") for c in TEXT_COLUMNS))


def escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def fts_query(term: str) -> str:
    """An FTS5 query for the rows holding every trigram of `term`, each one literal."""
    trigrams = dict.fromkeys(term[i : i + 3] for i in range(len(term) - 2))
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in trigrams)


def for_one_page(session: Session, query: Select[Any], limit: int) -> Select[Any]:
    """`query` (one page of `limit` events in a sort order) with its text condition planned on
    SQLite: the index's rows read once, here, or, for a common term, the sort order walked."""
    if session.get_bind().dialect.name != "sqlite":
        return query
    if not any(isinstance(e, _Candidates) for e in iterate(query)):
        return query

    def planned(element: Any, **kw: Any) -> Any:
        if isinstance(element, _Candidates):
            return _rows_or_walk(session, element.query, limit)
        return None

    no_options: dict[str, Any] = {}
    return cast("Select[Any]", replacement_traverse(query, no_options, planned))


def _rows_or_walk(session: Session, query: BindParameter[str], limit: int) -> ColumnElement[bool]:
    events = session.scalar(select(func.max(Event.pk))) or 0
    enough = math.isqrt(max(1, limit) * events) + 1
    rows = list(session.scalars(select(_fts.c.rowid).where(_match(query)).limit(enough)))
    if len(rows) >= enough:
        return true()  # many: walking the sort order fills the page sooner
    each = func.json_each(json.dumps(rows))
    listed: Select[Any] = select(literal_column("value")).select_from(each)
    return Event.pk.in_(listed)


def outside_the_models(name: str | None, type_: str, parents: Any) -> bool:
    """False for the text-search objects of migration 0010 (Alembic's `include_name`)."""
    if type_ == "table" and name is not None:
        return not (name == FTS_TABLE or name.startswith(FTS_TABLE + "_"))
    return not (type_ == "index" and name == PG_INDEX)


def _match(query: BindParameter[str]) -> ColumnElement[bool]:
    return literal_column(FTS_TABLE).op("MATCH", is_comparison=True)(query)


class _Candidates(ColumnElement[bool]):
    """`events.pk IN (the rows events_text names)` on SQLite; true elsewhere, where the
    engine's own index serves the ILIKE."""

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # a condition already: no "= 1" on SQLite
    _traverse_internals = [("query", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, query: str) -> None:
        self.query: BindParameter[str] = literal(query)


@compiles(_Candidates)
def _everywhere(element: _Candidates, compiler: Any, **kw: Any) -> str:
    return "1 = 1"


@compiles(_Candidates, "sqlite")
def _on_sqlite(element: _Candidates, compiler: Any, **kw: Any) -> str:
    rows = select(_fts.c.rowid).where(_match(element.query))
    return str(compiler.process(Event.pk.in_(rows), **kw))
