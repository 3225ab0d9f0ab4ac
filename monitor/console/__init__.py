"""The review console: where the Prevent lead triages flagged events and IT staff tune the lists.

An aiohttp web application, server-rendered with Jinja2 (autoescaped), working without
JavaScript. What the daemon calls:

- `start_console(settings, database_url, policy_path, data_dir) -> aiohttp.web.AppRunner`
  (`monitor.console.app`): serve it; `await runner.cleanup()` to stop.
- `create_app(...)`: the application without starting it (tests, embedding).
- `ensure_first_admin(session) -> str | None` (`monitor.store.accounts`): on first run create
  the `admin` Prevent lead and return the one-time password to print once.
- `ConsoleSettings` (`monitor.console.settings`): the `console:` configuration section.

docs/console.md describes the pages, roles and security.

Nothing is imported here: a command that needs only `ConsoleSettings` (as the configuration
reader does, and so the Squid helper) must not load the web application with it.
"""
