"""The flagged-events store: models, migrations, the writer, queries, review, retention.

Public entry points (each module's docstring says more):

- `monitor.store.models`: the tables (`Event`, `AuditEntry`, `BrandMention`, `FeedState`,
  `ConsoleUser`, `UnblockRequest`, `DigestSent`, `EventReceipt`) and `ReviewStatus`, `Role`.
- `monitor.store.database`: `resolve_database_url`, `make_engine`, `make_sessionmaker`,
  `DEFAULT_DATABASE_URL`.
- `monitor.store.migrate.upgrade(database_url)`: bring a store to the newest schema.
- `monitor.store.writer.EventWriter`: hand `FlaggedEvent`s over without waiting.
- `monitor.store.runner.Store`: `await store.read(fn, ...)` / `await store.write(fn, ...)`, each
  `fn(session, ...)` in its own transaction off the event loop; one write thread per database.
- The functions those calls run, by subject: `queries` (events), `review` (triage and the audit
  trail), `exports` (recorded exports and timelines), `unblock`, `mentions` (brand watch: feed
  state, sightings, mentions, digests sent), `accounts` (console accounts and sign-in), `stats`
  (dashboard, annual review and digest counts), `retention`. Only this package talks SQL.

Nothing is imported here: importing one module (the configuration reader needs
`monitor.store.database`) must not load the models and migrations with it.
"""
