"""The gateway's mitmproxy options, declared once: one table, one row per `gateway_*` option.

Each row names the option, its type, default and help text, and the configuration key it comes
from. The rows for the `gateway:` section are made from the `GatewaySettings` fields themselves
(`gateway.device_map` is `gateway_device_map`, with the same type, default and help), so the
configuration file, `config show` and `mitmdump --options` cannot disagree. The rest come from
other sections (`policy.file`, `database.url`, ...) and carry their own help here.

Each addon declares the rows it owns in its `load()` with `declare(loader, ...)`; turning a
configuration file into option values is the application's job (`monitor.commands.proxy`).
mitmproxy's own options that the `gateway:` section sets (mode, listen address, confdir,
proxyauth, ...) are named in `MITMPROXY_SETTINGS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.gateway.settings import GatewaySettings

PREFIX = "gateway_"

# `gateway:` settings that become mitmproxy's own options, not the addon's.
MITMPROXY_SETTINGS = frozenset(
    {"listen_host", "listen_port", "mode", "intercept_tls", "confdir", "htpasswd", "ldap"}
    | {"mitmproxy"}  # any further mitmproxy options, by name
)

# The field types the table can declare (mitmproxy parses `--set` for these and no others).
_TYPES: dict[str, Any] = {"str": str, "int": int, "bool": bool, "list[str]": Sequence[str]}


@dataclass(frozen=True, slots=True)
class GatewayOption:
    """One `gateway_*` mitmproxy option and the configuration key it is set from."""

    name: str
    typespec: Any
    default: Any
    help: str
    config_key: str
    choices: tuple[str, ...] = ()


def _from_settings(field: dataclasses.Field[Any]) -> GatewayOption:
    default = field.default_factory() if callable(field.default_factory) else field.default
    return GatewayOption(
        PREFIX + field.name,
        _TYPES[str(field.type)],
        default,
        field.metadata["help"],
        f"gateway.{field.name}",
        tuple(field.metadata.get("choices") or ()),
    )


_ELSEWHERE = (
    GatewayOption(
        "gateway_policy",
        str,
        "",
        "The prevent-monitor policy file (categories, lists, groups). Required.",
        "policy.file",
    ),
    GatewayOption(
        "gateway_reload_interval",
        int,  # whole seconds: mitmproxy's --set reads no fractions
        5,
        "Seconds between checks of the policy and list files for changes (0: only on SIGHUP).",
        "policy.reload_interval",
    ),
    GatewayOption(
        "gateway_database",
        str,
        "",
        "SQLAlchemy URL of the events store, e.g. sqlite:////var/lib/prevent-monitor/"
        "events.sqlite, already at the current schema (`prevent-monitor db upgrade`). "
        "Empty: events are only logged.",
        "database.url",
    ),
    GatewayOption(
        "gateway_spool_dir",
        str,
        "",
        "Where events wait while the database is unreachable. "
        "Empty: a 'spool' folder next to an SQLite store.",
        "database.spool_dir",
    ),
    GatewayOption(
        "gateway_school",
        str,
        "",
        "The school's name on the block page. Empty: the policy's `school`.",
        "school",
    ),
    GatewayOption(
        "gateway_school_id",
        str,
        "school",
        "The school every event of this gateway is stored under (a short id; in a trust, one of "
        "gateway_schools).",
        "school_id",
    ),
    GatewayOption(
        "gateway_schools",
        Sequence[str],
        [],
        "Every school id of the trust sharing the store (empty: only gateway_school_id). An "
        "event naming another school is stored under 'unknown'.",
        "trust.schools",
    ),
)

OPTIONS: dict[str, GatewayOption] = {
    option.name: option
    for option in (
        *(
            _from_settings(f)
            for f in dataclasses.fields(GatewaySettings)
            if f.name not in MITMPROXY_SETTINGS
        ),
        *_ELSEWHERE,
    )
}


def declare(loader: Any, *names: str) -> None:
    """Add these options (by name) to mitmproxy, in an addon's `load()`."""
    for name in names:
        option = OPTIONS[name]
        kwargs = {"choices": option.choices} if option.choices else {}
        loader.add_option(option.name, option.typespec, option.default, option.help, **kwargs)
