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
"""

from monitor.console.app import create_app, start_console
from monitor.console.settings import ConsoleSettings
from monitor.store.accounts import ensure_first_admin

__all__ = ["ConsoleSettings", "create_app", "ensure_first_admin", "start_console"]
