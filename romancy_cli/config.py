"""romancy.toml: discovery, validation and precedence (flag > environment > file > defaults).

Only the standard library is imported here: every command reads the configuration, so this
module is on the start-up path of `romancy status` and must stay cheap.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_NAME = "romancy.toml"
DEFAULT_DATABASE = "romancy.db"
DEFAULT_WORKFLOWS = "workflows.py"
SYNCHRONOUS = ("normal", "full")

ENV_CONFIG = "ROMANCY_CONFIG"
ENV_DATABASE = "ROMANCY_DATABASE"
ENV_WORKFLOWS = "ROMANCY_WORKFLOWS"
ENV_WORKER_ID = "ROMANCY_WORKER_ID"
ENV_SERVE_TOKEN = "ROMANCY_SERVE_TOKEN"

TOP_KEYS = ("database", "workflows", "worker_id", "lease_seconds", "synchronous", "busy_timeout", "serve",
            "retention", "outbox", "queues", "telemetry")
SERVE_KEYS = ("host", "port", "reload", "token", "max_body", "connection_limit", "channel_timeout", "allowed_hosts")
RETENTION_KEYS = ("completed_after", "events_after")
OUTBOX_KEYS = ("url", "mode", "max_attempts", "first_retry", "max_backoff", "timeout")
OUTBOX_MODES = ("binary", "structured")
QUEUE_KEYS = ("concurrency", "rate")
TELEMETRY_KEYS = ("hooks", "otel")
# A hook: "module:attribute", the module dotted (the project folder is on the import path).
HOOK_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*\Z")
# A relay target: a host after the scheme, no blanks (send_event's `to` is checked the same way).
HTTP_URL = re.compile(r"https?://[^/\s?#]+\S*\Z")
# A DNS name or an IPv4 address (letters, digits, dots, dashes), or an IPv6 address.
HOST_NAME = re.compile(r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\.?)+\Z|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\Z")


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8001
    reload: bool = True
    token: Optional[str] = None
    max_body: int = 1024 * 1024
    # waitress's own defaults (100 connections, idle ones kept 120 s) let 100 clients that send
    # nothing lock every other client out for two minutes.
    connection_limit: int = 1000
    channel_timeout: int = 15
    # Names besides the bind address (and localhost) requests may be addressed to (http/gate.py).
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetentionSettings:
    """[retention]: `serve` prunes what is older (seconds); None keeps it forever."""

    completed_after: Optional[float] = None
    events_after: Optional[float] = None

    @property
    def enabled(self) -> bool:
        return self.completed_after is not None or self.events_after is not None


@dataclass(frozen=True)
class OutboxSettings:
    """[outbox]: where and how `serve` and `tick` relay the events workflows publish."""

    url: Optional[str] = None  # the target of send_event calls without `to`; None: only those with it
    mode: str = "binary"  # CloudEvents HTTP content mode
    max_attempts: int = 10  # then the event is `failed`
    first_retry: float = 1.0  # seconds before the second attempt (with jitter), doubling up to max_backoff
    max_backoff: float = 60.0
    timeout: float = 10.0  # seconds one HTTP request may take


@dataclass(frozen=True)
class TelemetrySettings:
    """[telemetry]: hooks given to every App of the CLI, and whether OpenTelemetry traces are on."""

    hooks: tuple[str, ...] = ()  # "module:attribute": a hook object, or a class made with no arguments
    otel: bool = False


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Paths are absolute; `workflows` holds file paths or dotted modules."""

    database: str
    workflows: tuple[str, ...] = ()
    worker_id: Optional[str] = None
    lease_seconds: float = 30.0
    synchronous: str = "normal"
    busy_timeout: float = 30.0
    serve: ServeSettings = field(default_factory=ServeSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    # [queues.NAME]: (name, concurrency, rate) as written; App checks them (definitions.queue_spec).
    queues: tuple[tuple[str, Any, Any], ...] = ()
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    source: Optional[Path] = None  # the file the settings came from, None when defaults only
    root: Path = field(default_factory=Path.cwd)  # folder relative paths resolve against


def load_settings(config: Optional[str] = None, database: Optional[str] = None,
                  workflows: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None,
                  cwd: Optional[Path] = None) -> Settings:
    """Settings from flags (these arguments), the environment, the config file and defaults."""
    env = os.environ if env is None else env
    cwd = Path(cwd or Path.cwd())
    path = find_config(config, env, cwd)
    table = read_table(path) if path else {}
    root = path.parent if path else cwd
    file_settings = _from_table(table, path, root)
    return _apply_overrides(file_settings, database, workflows, env, cwd)


def find_config(config: Optional[str], env: Mapping[str, str], cwd: Path) -> Optional[Path]:
    """--config, else ROMANCY_CONFIG, else the nearest romancy.toml or pyproject [tool.romancy]."""
    explicit = config or env.get(ENV_CONFIG)
    if explicit:
        path = (cwd / explicit).resolve()
        if not path.is_file():
            origin = "--config" if config else ENV_CONFIG
            raise UsageError(f"config file {path} (from {origin}) does not exist")
        return path
    for folder in (cwd.resolve(), *cwd.resolve().parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        # At each level romancy.toml wins; a pyproject.toml counts only with a [tool.romancy] table.
        if pyproject.is_file() and "romancy" in _parse(pyproject).get("tool", {}):
            return pyproject
    return None


def read_table(path: Path) -> dict[str, Any]:
    """The romancy table of `path`: the whole romancy.toml, or [tool.romancy] of a pyproject."""
    data = _parse(path)
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("romancy", {})
        if not isinstance(table, dict):
            raise UsageError(f"{path}: [tool.romancy] must be a table")
        return table
    return data


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(_toml_message(path, exc, text)) from None


def _toml_message(path: Path, exc: Exception, text: str) -> str:
    message = str(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
    if line is None and "end of document" in message:
        line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message) or "invalid TOML"
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: malformed TOML: {reason}"


# -- validation -------------------------------------------------------------------


def _from_table(table: dict[str, Any], path: Optional[Path], root: Path) -> Settings:
    where = str(path) if path else "configuration"
    _check_keys(table, TOP_KEYS, where, "")
    serve_table = table.get("serve", {})
    if not isinstance(serve_table, dict):
        raise UsageError(f"{where}: `serve` must be a table ([serve])")
    _check_keys(serve_table, SERVE_KEYS, where, "serve.")
    retention_table = table.get("retention", {})
    if not isinstance(retention_table, dict):
        raise UsageError(f"{where}: `retention` must be a table ([retention])")
    _check_keys(retention_table, RETENTION_KEYS, where, "retention.")
    outbox_table = table.get("outbox", {})
    if not isinstance(outbox_table, dict):
        raise UsageError(f"{where}: `outbox` must be a table ([outbox])")
    _check_keys(outbox_table, OUTBOX_KEYS, where, "outbox.")
    telemetry_table = table.get("telemetry", {})
    if not isinstance(telemetry_table, dict):
        raise UsageError(f"{where}: `telemetry` must be a table ([telemetry])")
    _check_keys(telemetry_table, TELEMETRY_KEYS, where, "telemetry.")
    database = _string(table, "database", where)
    workflows = _workflow_list(table.get("workflows"), where)
    return Settings(
        database=resolve_database(database, root) if database else str(root / DEFAULT_DATABASE),
        workflows=tuple(resolve_workflow(w, root) for w in workflows) if workflows is not None
        else _default_workflows(root),
        worker_id=_string(table, "worker_id", where),
        lease_seconds=_lease(table, where),
        synchronous=_synchronous(table, where),
        busy_timeout=_seconds_setting(table, "busy_timeout", 30.0, where),
        serve=_serve(serve_table, where),
        retention=RetentionSettings(*(_age(retention_table, key, where) for key in RETENTION_KEYS)),
        outbox=_outbox(outbox_table, where),
        queues=_queues(table.get("queues", {}), where),
        telemetry=_telemetry(telemetry_table, where),
        source=path,
        root=root,
    )


def _queues(value: Any, where: str) -> tuple[tuple[str, Any, Any], ...]:
    if not isinstance(value, dict) or not all(isinstance(q, dict) for q in value.values()):
        raise UsageError(f"{where}: `queues` must hold one table per queue, like [queues.emails] concurrency = 5")
    for name, table in value.items():
        _check_keys(table, QUEUE_KEYS, where, f"queues.{name}.")
    return tuple((name, table.get("concurrency"), table.get("rate")) for name, table in value.items())


def _check_keys(table: dict[str, Any], known: Sequence[str], where: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {prefix + close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            raise UsageError(f"unknown key {prefix + key!r} in {where}: {hint}")


def _string(table: dict[str, Any], key: str, where: str, prefix: str = "") -> Optional[str]:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise UsageError(f"{where}: `{prefix}{key}` must be a non-empty string, got {value!r}")
    return value


def _workflow_list(value: Any, where: str) -> Optional[list[str]]:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UsageError(f"{where}: `workflows` must be a list of file paths or module names, got {value!r}")
    return value


def _lease(table: dict[str, Any], where: str) -> float:
    return _seconds_setting(table, "lease_seconds", 30.0, where)


def _seconds_setting(table: dict[str, Any], key: str, default: float, where: str, prefix: str = "") -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
        raise UsageError(f"{where}: `{prefix}{key}` must be a positive number of seconds (at most 86400), got {value!r}")
    return float(value)


def _synchronous(table: dict[str, Any], where: str) -> str:
    value = table.get("synchronous", "normal")
    if value not in SYNCHRONOUS:
        raise UsageError(f"{where}: `synchronous` must be one of {', '.join(SYNCHRONOUS)}, got {value!r}")
    return value


def _serve(table: dict[str, Any], where: str) -> ServeSettings:
    defaults = ServeSettings()
    port = table.get("port", defaults.port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UsageError(f"{where}: `serve.port` must be a port number (1-65535), got {port!r}")
    reload = table.get("reload", defaults.reload)
    if not isinstance(reload, bool):
        raise UsageError(f"{where}: `serve.reload` must be true or false, got {reload!r}")
    return ServeSettings(
        host=_string(table, "host", where, "serve.") or defaults.host, port=port, reload=reload,
        token=_string(table, "token", where, "serve."),
        max_body=_positive(table, "max_body", defaults.max_body, where, "number of bytes"),
        connection_limit=_positive(table, "connection_limit", defaults.connection_limit, where,
                                   "whole number of connections"),
        channel_timeout=_positive(table, "channel_timeout", defaults.channel_timeout, where,
                                  "whole number of seconds"),
        allowed_hosts=allowed_hosts(table.get("allowed_hosts", []), f"{where}: `serve.allowed_hosts`"),
    )


def allowed_hosts(value: Any, where: str) -> tuple[str, ...]:
    """Host names or IP addresses, without scheme or port: what a browser puts in Host."""
    if not isinstance(value, list):
        raise UsageError(f"{where} must be a list of host names, like [\"romancy.example\"], got {value!r}")
    for name in value:
        if not isinstance(name, str) or not HOST_NAME.match(name.strip("[]")):
            raise UsageError(f"{where}: {name!r} is not a host name or IP address; give the name alone, "
                             "without scheme or port, like \"romancy.example\"")
    return tuple(value)


def _outbox(table: dict[str, Any], where: str) -> OutboxSettings:
    defaults = OutboxSettings()
    url = table.get("url")
    if url is not None and not (isinstance(url, str) and HTTP_URL.match(url)):
        raise UsageError(f"{where}: `outbox.url` must be an http:// or https:// URL, got {url!r}")
    mode = table.get("mode", defaults.mode)
    if mode not in OUTBOX_MODES:
        raise UsageError(f"{where}: `outbox.mode` must be one of {', '.join(OUTBOX_MODES)}, got {mode!r}")
    attempts = table.get("max_attempts", defaults.max_attempts)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 < attempts <= 1000:
        raise UsageError(f"{where}: `outbox.max_attempts` must be a whole number from 1 to 1000, got {attempts!r}")
    first_retry, max_backoff, timeout = (
        _seconds_setting(table, key, getattr(defaults, key), where, "outbox.")
        for key in ("first_retry", "max_backoff", "timeout"))
    if max_backoff < first_retry:
        raise UsageError(f"{where}: `outbox.max_backoff` ({max_backoff:g}) must not be less than "
                         f"`outbox.first_retry` ({first_retry:g})")
    return OutboxSettings(url, mode, attempts, first_retry, max_backoff, timeout)


def _telemetry(table: dict[str, Any], where: str) -> TelemetrySettings:
    hooks = table.get("hooks", [])
    if isinstance(hooks, str):
        hooks = [hooks]
    if not isinstance(hooks, list) or not all(isinstance(h, str) and HOOK_SPEC.match(h) for h in hooks):
        raise UsageError(f"{where}: `telemetry.hooks` must be a list of \"module:attribute\" names, got {hooks!r}")
    otel = table.get("otel", False)
    if not isinstance(otel, bool):
        raise UsageError(f"{where}: `telemetry.otel` must be true or false, got {otel!r}")
    return TelemetrySettings(tuple(hooks), otel)


def traces_wanted(configured: bool, env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The trace exporter asked for: by OTEL_TRACES_EXPORTER, by OTEL_EXPORTER_OTLP_ENDPOINT (otlp),
    or by `[telemetry] otel = true` (otlp, OpenTelemetry's default); None: traces are off."""
    env = os.environ if env is None else env
    chosen = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen == "none":
        return None
    if chosen:
        return chosen
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or configured:
        return "otlp"
    return None


def _age(table: dict[str, Any], key: str, where: str) -> Optional[float]:
    """A retention age: a duration string ("30d") or seconds."""
    from .durations import to_seconds

    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UsageError(f"{where}: `retention.{key}` must be a duration such as \"30d\", got {value!r}")
    try:
        return to_seconds(value, f"`retention.{key}`")
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _positive(table: dict[str, Any], key: str, default: int, where: str, what: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"{where}: `serve.{key}` must be a positive {what}, got {value!r}")
    return value


# -- paths --------------------------------------------------------------------------


def resolve_database(value: str, root: Path) -> str:
    """A relative SQLite path against `root`; URLs other than sqlite:/// are kept as given."""
    if "://" in value and not value.startswith("sqlite:///"):
        return value
    path = value[len("sqlite:///"):] if value.startswith("sqlite:///") else value
    return str((root / Path(path).expanduser()).resolve())


def looks_like_path(value: str) -> bool:
    return value.endswith(".py") or "/" in value or os.sep in value or value.startswith(".")


def resolve_workflow(value: str, root: Path) -> str:
    """A file or folder path made absolute against `root`; a dotted module name unchanged."""
    candidate = root / Path(value).expanduser()
    if looks_like_path(value) or candidate.exists():
        return str(candidate.resolve())
    return value


def _default_workflows(root: Path) -> tuple[str, ...]:
    candidate = root / DEFAULT_WORKFLOWS
    return (str(candidate),) if candidate.is_file() else ()


def _apply_overrides(settings: Settings, database: Optional[str], workflows: Optional[Sequence[str]],
                     env: Mapping[str, str], cwd: Path) -> Settings:
    """Flags and environment values are relative to the current folder: that is where they were typed."""
    changes: dict[str, Any] = {}
    db = database or env.get(ENV_DATABASE)
    if db:
        changes["database"] = resolve_database(db, cwd)
    modules = list(workflows or []) or _split(env.get(ENV_WORKFLOWS, ""))
    if modules:
        changes["workflows"] = tuple(resolve_workflow(m, cwd) for m in modules)
    if env.get(ENV_WORKER_ID):
        changes["worker_id"] = env[ENV_WORKER_ID]
    if env.get(ENV_SERVE_TOKEN):
        changes["serve"] = replace(settings.serve, token=env[ENV_SERVE_TOKEN])
    return replace(settings, **changes) if changes else settings


def _split(value: str) -> list[str]:
    return [part.strip() for part in re.split(rf"[,{re.escape(os.pathsep)}]", value) if part.strip()]


__all__ = ["Settings", "ServeSettings", "OutboxSettings", "TelemetrySettings", "load_settings", "find_config", "read_table",
           "resolve_database", "resolve_workflow", "CONFIG_NAME"]
