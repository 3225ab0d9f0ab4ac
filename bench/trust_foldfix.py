"""An experiment for bench/trust_bench.py (`--fold-fix`): the change proposed for
monitor/store/folding.py, so that two gateways of one school that see the same pupil at the
same moment make one event, not two (issue #16: "Folding stays correct when two gateways see
the same pupil").

The bench finds two causes of such split folds on PostgreSQL (SQLite's writers take turns, so
it has neither):

1. A race. Two writers' transactions both look for the open event of a fold key; neither sees
   the other's insert, not yet committed (READ COMMITTED); both insert one. The fix: before
   looking, lock each fold key of the batch for the rest of the transaction
   (`pg_advisory_xact_lock`), in ascending order, so that two writers never wait on each other
   in a circle. The second then waits for the first's commit, and its next statement sees it.
2. Order. The second gateway's sighting was made a moment before the first's, but committed
   after it; the fold window starts at the event's first sighting, so an earlier sighting
   cannot fold into it. The fix: a sighting up to `SKEW` before an open event's first sighting
   folds into it too, and `_open_events` looks that far past the batch's newest sighting. (The
   real change should also move the event's `first_seen` back to the earlier sighting, in
   `_grow` and in the new-row branch of `_fold`; this experiment leaves it, as it changes no
   count.)

`apply()` patches those three places in this process only; nothing in monitor/ changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from monitor.store import folding
from monitor.store import writer as writer_module

SKEW = timedelta(seconds=2)  # how far apart two gateways' sightings of one visit may be
FOLD_LOCKS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")

_store_rows = folding.store_rows
_target_for = folding._target_for
_open_events = folding._open_events


def lock_keys(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """One advisory lock per fold key (its sha1's first 64 bits), ascending."""
    keys = sorted({int(row["fold_key"][:16], 16) - 2**63 for row in rows})
    if keys and connection.dialect.name == "postgresql":
        connection.execute(FOLD_LOCKS, {"keys": keys})


def store_rows(
    connection: Connection, rows: Sequence[dict[str, Any]], fold_window: timedelta
) -> folding.BatchResult:
    lock_keys(connection, rows)
    return _store_rows(connection, rows, fold_window)


def target_for(candidates: list[Any], when: datetime, window: timedelta) -> Any:
    found = _target_for(candidates, when, window)
    if found is not None:
        return found
    for target in candidates:  # oldest first: the event this sighting came just before
        if target.first_seen - SKEW <= when < target.first_seen:
            return target
    return None


def open_events(
    connection: Connection, keys: Sequence[str], since: datetime, until: datetime
) -> Any:
    return _open_events(connection, keys, since, until + SKEW)


def apply() -> None:
    writer_module.store_rows = store_rows
    folding._target_for = target_for
    folding._open_events = open_events
