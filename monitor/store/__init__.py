"""The flagged-events store: models, migrations, the writer, queries, review, retention.

Public entry points (each module's docstring says more):

- `monitor.store.models`: the tables (`Event`, `AuditEntry`, `BrandMention`, `FeedState`,
  `ConsoleUser`, `UnblockRequest`, `DigestSent`, `EventReceipt`) and `ReviewStatus`, `Role`.
- `monitor.store.database`: `resolve_database_url`, `make_engine`, `make_sessionmaker`,
  `DEFAULT_DATABASE_URL`.
- `monitor.store.migrate.upgrade(database_url)`: bring a store to the newest schema.
- `monitor.store.writer.EventWriter`: hand `FlaggedEvent`s over without waiting.
- `monitor.store.queries`, `monitor.store.review`, `monitor.store.retention`: what the console
  and the digest call with a Session. The watcher's own store calls are in `alerts.store`.
"""

from monitor.store.database import (
    DEFAULT_DATABASE_PATH,
    DEFAULT_DATABASE_URL,
    ENV_DATABASE_URL,
    make_engine,
    make_sessionmaker,
    resolve_database_url,
)
from monitor.store.migrate import upgrade

__all__ = [
    "DEFAULT_DATABASE_PATH",
    "DEFAULT_DATABASE_URL",
    "ENV_DATABASE_URL",
    "make_engine",
    "make_sessionmaker",
    "resolve_database_url",
    "upgrade",
]
