"""The one configuration file (DESIGN.md contract 5): every setting has a default, a type and help.

Sections are dataclasses; each field's `metadata["help"]` is its help text. `load_config()` reads
YAML, checks every key against the dataclasses and raises `ConfigError` naming the key path and the
reason. Secrets (`metadata["secret"]`) are never read from the file: they come from an environment
variable `PREVENT_MONITOR_<SECTION>_<KEY>` or a file named by `..._FILE`, so the config can be
committed and shared within a trust.

Other parts add their settings by adding fields to their section here: `config show` then lists
them with no further work.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts.settings import AlertingSettings, DigestSettings, WatcherSettings
from monitor.console.settings import ConsoleSettings
from monitor.gateway.settings import GatewaySettings
from monitor.schools import DEFAULT_SCHOOL_ID, Schools, TrustSettings, school_problems
from monitor.setting import setting

# Which file every command reads, in order: --config, else $PREVENT_MONITOR_CONFIG, else the
# default path the systemd units and the deploy guide use. No command falls back to built-in
# defaults silently: that is how a second, empty store used to appear beside the real one.
ENV_CONFIG = "PREVENT_MONITOR_CONFIG"
DEFAULT_CONFIG_PATH = "/etc/prevent-monitor/prevent-monitor.yaml"


class ConfigError(Exception):
    """An invalid configuration: stops start-up with the key path and what to do."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid configuration in {source}:\n{lines}")


@dataclass(slots=True)
class PolicySettings:
    file: str = setting("blocklists/policy.yaml", "The policy file (categories, lists, groups).")
    reload_interval: float = setting(
        5.0, "Seconds between checks of the policy and list files for changes."
    )


@dataclass(slots=True)
class DatabaseSettings:
    url: str = setting(
        "sqlite:///var/prevent-monitor.sqlite",
        "SQLAlchemy URL of the events store: the embedded SQLite file by default, or "
        "postgresql+psycopg://user@host/db for a trust (the password from the environment).",
    )
    password: str = setting("", "Database password, merged into the URL.", secret=True)
    spool_dir: str = setting(
        "var/spool", "Where events wait, durably, while the database is unreachable."
    )
    fold_window_minutes: int = setting(
        10,
        "Repeats of the same rule and site by the same person within this many minutes "
        "are one event with a count.",
    )
    retention_days: int = setting(
        365,
        "Events older than this are purged daily (escalated and referred cases are kept "
        "until closed).",
    )


@dataclass(slots=True)
class MetricsSettings:
    host: str = setting("127.0.0.1", "Address the /metrics and /healthz endpoints listen on.")
    daemon_port: int = setting(9460, "Port of the supervisor's /healthz and /metrics (0: off).")
    gateway_port: int = setting(
        9461,
        "Port of the gateway's /healthz and /metrics (0: off); gateway process N uses this + N.",
    )
    watcher_port: int = setting(9459, "Port of the watcher's /healthz and /metrics (0: off).")


@dataclass(slots=True)
class LoggingSettings:
    level: str = setting(
        "info", "Log level.", choices=("debug", "info", "warning", "error", "critical")
    )
    json: bool = setting(False, "Write logs as one JSON object per line (for a log collector).")


@dataclass(slots=True)
class DemoSettings:
    feed_folder: str = setting(
        "",
        "Demo only: a folder of sample alert feeds the daemon serves on 127.0.0.1:feed_port, "
        "so the watcher has something to read without the internet. Empty: off.",
    )
    feed_port: int = setting(8471, "Demo only: the port the sample feeds are served on.")
    mailbox_port: int = setting(
        0,
        "Demo only: run a local mail server (aiosmtpd, from the dev extra) on 127.0.0.1 at this "
        "port that prints every email it receives, standing for the Prevent lead's mailbox. "
        "0: off.",
    )


@dataclass(slots=True)
class Config:
    school: str = setting("Our School", "The school's name, shown on block pages and in digests.")
    school_id: str = setting(
        DEFAULT_SCHOOL_ID,
        "This part's school as a short id (lowercase letters, digits, hyphens): every event, "
        "mention, unblock request and alert it stores carries it. In a trust, each school's "
        "gateway and watcher has its own, listed in trust.schools.",
    )
    trust: TrustSettings = field(
        default_factory=TrustSettings,
        metadata={"help": "A multi-academy trust: several schools on one store and one console."},
    )
    data_dir: str = setting("var", "Where the daemon keeps its state (store, spool, CA, caches).")
    policy: PolicySettings = field(
        default_factory=PolicySettings, metadata={"help": "The filtering policy."}
    )
    database: DatabaseSettings = field(
        default_factory=DatabaseSettings, metadata={"help": "The flagged-events store."}
    )
    gateway: GatewaySettings = field(
        default_factory=GatewaySettings, metadata={"help": "The filtering proxy (mitmproxy)."}
    )
    console: ConsoleSettings = field(
        default_factory=ConsoleSettings, metadata={"help": "The review console (web)."}
    )
    watcher: WatcherSettings = field(
        default_factory=WatcherSettings, metadata={"help": "The brand-alert watcher."}
    )
    digest: DigestSettings = field(
        default_factory=DigestSettings, metadata={"help": "The brand-alert digest email."}
    )
    alerting: AlertingSettings = field(
        default_factory=AlertingSettings,
        metadata={"help": "Instant alerts to the Prevent lead for serious gateway events."},
    )
    metrics: MetricsSettings = field(
        default_factory=MetricsSettings, metadata={"help": "Health and Prometheus metrics."}
    )
    logging: LoggingSettings = field(default_factory=LoggingSettings, metadata={"help": "Logs."})
    demo: DemoSettings = field(
        default_factory=DemoSettings, metadata={"help": "Settings for the demo only."}
    )

    source: str = field(default="(defaults)", metadata={"internal": True})
    base_dir: str = field(default=".", metadata={"internal": True})

    def database_url(self) -> str:
        """The store's URL: PREVENT_MONITOR_DATABASE_URL if set, else the config's, with an
        SQLite path made relative to the config file and the password from the environment."""
        raw = os.environ.get("PREVENT_MONITOR_DATABASE_URL") or self.database.url
        # Imported here: SQLAlchemy parses the URL, and the Squid helper, which reads this
        # file for the policy's path alone, should not load it.
        from monitor.store.database import config_url

        return config_url(raw, self.path, self.database.password)

    def schools(self) -> Schools:
        """The schools this configuration knows (its own, and the trust's)."""
        return Schools.configured(self.school_id, self.school, self.trust)

    def console_url(self) -> str:
        """Where links to the console point: `console.public_url`, else its own address."""
        if self.console.public_url:
            return self.console.public_url.rstrip("/")
        host = self.console.listen_host or "127.0.0.1"
        return f"http://{host}:{self.console.port}"

    def policy_path(self) -> Path:
        return self.path(self.policy.file)

    def data_path(self, *parts: str) -> Path:
        return self.path(self.data_dir).joinpath(*parts)

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        candidate = Path(value).expanduser()
        if candidate.is_absolute():
            return candidate
        return Path(os.path.normpath(Path(self.base_dir) / candidate))


# How many gateway processes (`proxy --instance 0 .. N-1`) one machine may run; each adds N to
# its proxy and metrics ports, so the defaults are spaced to stay apart for all of them.
MAX_GATEWAY_INSTANCES = 32


def ports(config: Config, instance: int = 0) -> dict[str, int]:
    """Every TCP port the daemon's parts listen on (gateway process `instance`), by key path.
    Ports set to 0 (off) are left out."""
    every = {
        "gateway.listen_port": config.gateway.listen_port + instance,
        "metrics.gateway_port": config.metrics.gateway_port + instance
        if config.metrics.gateway_port
        else 0,
        "console.port": config.console.port,
        "metrics.daemon_port": config.metrics.daemon_port,
        "metrics.watcher_port": config.metrics.watcher_port,
        "demo.feed_port": config.demo.feed_port if config.demo.feed_folder else 0,
        "demo.mailbox_port": config.demo.mailbox_port,
    }
    return {key: port for key, port in every.items() if port}


def port_clashes(config: Config, instance: int = 0) -> list[str]:
    """Problems for two parts (or gateway process `instance` and another part) on one port."""
    seen: dict[int, str] = {}
    problems = []
    for key, port in ports(config, instance).items():
        if port in seen:
            where = f" for gateway process {instance}" if instance else ""
            problems.append(
                f"{key}: port {port} is already {seen[port]}'s{where}; give each part its own"
            )
            continue
        seen[port] = key
    return problems


def find_config(explicit: str | Path | None) -> Path:
    """The configuration file a command uses: `explicit` (--config), else $PREVENT_MONITOR_CONFIG,
    else `DEFAULT_CONFIG_PATH`. Raises ConfigError naming the file it looked for when there is
    none, so no command ever runs on an unintended default store."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG])
    default = Path(DEFAULT_CONFIG_PATH)
    if default.is_file():
        return default
    raise ConfigError(
        str(default),
        [
            f"there is no configuration file: looked for {default} (the default), as neither "
            f"--config nor ${ENV_CONFIG} names one. Pass --config FILE or set {ENV_CONFIG}=FILE "
            "(the demo's is deploy/demo.yaml)."
        ],
    )


def read_config_file(explicit: str | Path | None) -> Config:
    """`load_config(find_config(explicit))`: what every command calls."""
    return load_config(find_config(explicit))


def load_config(path: str | Path | None) -> Config:
    """Read and check a config file; `None` gives the defaults (plus environment secrets)."""
    if path is None:
        config = Config()
        problems: list[str] = []
        _apply_secrets(config, "", problems)
        if problems:
            raise ConfigError("(environment)", problems)
        return config
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(file), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(file), [f"not valid YAML: {exc}"]) from None
    if raw is None:
        raw = {}
    problems = []
    if not isinstance(raw, dict):
        raise ConfigError(str(file), ["(top): expected a mapping of settings"])
    config = _build(Config, raw, "", problems)
    _apply_secrets(config, "", problems)
    if not problems:
        problems += school_problems(config.school_id, config.trust)
        problems += port_clashes(config)
    if problems:
        raise ConfigError(str(file), problems)
    config.source = str(file)
    config.base_dir = str(file.resolve().parent)
    return config


def setting_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def _build(cls: type, raw: dict[str, Any], prefix: str, problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in setting_fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        keypath = f"{prefix}{key}"
        known = names.get(str(key))
        if known is None:
            close = ", ".join(sorted(names))
            problems.append(f"{keypath}: unknown setting (known here: {close})")
            continue
        if known.metadata.get("secret"):
            env = secret_env_name(prefix, known.name)
            problems.append(
                f"{keypath}: secrets are not read from the config file; set {env} "
                f"or {env}_FILE in the environment"
            )
            continue
        hint = hints[known.name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                problems.append(f"{keypath}: expected a section (key: value lines)")
                continue
            values[known.name] = _build(typing.cast(type, hint), value, keypath + ".", problems)
            continue
        checked = _coerce(value, hint, keypath, problems)
        if checked is _INVALID:
            continue
        choices = known.metadata.get("choices") or ()
        if choices and checked not in choices:
            problems.append(f"{keypath}: {checked!r} is not one of {', '.join(choices)}")
            continue
        values[known.name] = checked
    return cls(**values)


_INVALID = object()


def _coerce(value: Any, hint: Any, keypath: str, problems: list[str]) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        hint = options[0]
        origin = typing.get_origin(hint)
    if origin is list:
        (inner,) = typing.get_args(hint)
        if not isinstance(value, list):
            problems.append(f"{keypath}: expected a list")
            return _INVALID
        items = [_coerce(v, inner, f"{keypath}[{i}]", problems) for i, v in enumerate(value)]
        return _INVALID if any(i is _INVALID for i in items) else items
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{keypath}: expected a mapping")
            return _INVALID
        return {str(k): v for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
        problems.append(f"{keypath}: expected true or false, got {value!r}")
        return _INVALID
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        problems.append(f"{keypath}: expected a whole number, got {value!r}")
        return _INVALID
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        problems.append(f"{keypath}: expected a number, got {value!r}")
        return _INVALID
    if hint is str:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        problems.append(f"{keypath}: expected text, got {value!r}")
        return _INVALID
    return value


def secret_env_name(prefix: str, name: str) -> str:
    section = prefix.rstrip(".").replace(".", "_")
    parts = ["PREVENT_MONITOR", section, name] if section else ["PREVENT_MONITOR", name]
    return "_".join(parts).upper()


def _apply_secrets(obj: Any, prefix: str, problems: list[str]) -> None:
    for f in setting_fields(type(obj)):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _apply_secrets(value, f"{prefix}{f.name}.", problems)
            continue
        if not f.metadata.get("secret"):
            continue
        env = secret_env_name(prefix, f.name)
        if os.environ.get(env):
            setattr(obj, f.name, os.environ[env])
        elif os.environ.get(env + "_FILE"):
            secret_file = Path(os.environ[env + "_FILE"])
            try:
                setattr(obj, f.name, secret_file.read_text(encoding="utf-8").strip())
            except OSError as exc:
                problems.append(f"{env}_FILE: cannot read {secret_file}: {exc.strerror or exc}")
