"""The agent's one TOML file: broker, TLS/SASL, topic, identity, spool, monitored apps, sources.

A bad file fails at start with the file, the key and the reason (``agent.toml: spool.max_mb: Expected
`float`, got `str```), never later and never with a traceback. Unknown keys are errors too: a typo
must not silently fall back to a default. Secrets (the fleet key, the SASL password) are read from
files named in the config and held in :class:`Secret`, whose repr never shows them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

from netdown import wire

__all__ = ["AgentConfig", "ConfigError", "Secret", "load_config"]

_AT_PATH: Final = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_UNKNOWN: Final = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`")
_MISSING: Final = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")

_Positive = Annotated[float, msgspec.Meta(gt=0)]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the key."""


class Secret:
    """A value read from a secret file; printing or logging it shows only that it is set."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one call that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Every section refuses unknown keys."""


class BrokerConfig(_Section, frozen=True):
    """Where events go and how to authenticate (kafka-python's option names)."""

    bootstrap: str
    topic: str = wire.EVENTS_TOPIC
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_file: str | None = None


class IdentityConfig(_Section, frozen=True):
    """The fleet key that pseudonymises hardware ids, and where the agent keeps its state."""

    key_file: str
    state_dir: str = "/var/lib/netdown"


class SpoolConfig(_Section, frozen=True):
    """The disk spool's bound and durability."""

    max_mb: _Positive = 64.0
    segment_kb: Annotated[int, msgspec.Meta(ge=4)] = 1024
    fsync_interval_s: _Positive = 1.0


class MonitoredApp(_Section, frozen=True):
    """A VPN/proxy extension to watch: its bundle id and how it shows up in the unified log."""

    bundle_id: str
    processes: tuple[str, ...] = ()
    subsystems: tuple[str, ...] = ()


class HeartbeatConfig(_Section, frozen=True):
    """Liveness and facts; the contract asks for one at least every 5 minutes."""

    interval_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 300.0


class AgentConfig(_Section, frozen=True):
    """The whole file."""

    broker: BrokerConfig
    identity: IdentityConfig
    spool: SpoolConfig = SpoolConfig()
    heartbeat: HeartbeatConfig = HeartbeatConfig()
    apps: tuple[MonitoredApp, ...] = ()
    # Each source validates its own table (see its module); here only "a table per source name".
    sources: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


def load_config(path: Path) -> tuple[AgentConfig, dict[str, Secret]]:
    """Read and validate the file, then read the secrets it names; errors name the file and key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = msgspec.convert(raw, AgentConfig)
    except msgspec.ValidationError as exc:
        key, reason = _key_and_reason(str(exc))
        raise ConfigError(f"{path}: {key}: {reason}") from None
    secrets = {"fleet_key": _read_secret(path, "identity.key_file", config.identity.key_file)}
    if config.broker.sasl_password_file is not None:
        secrets["sasl_password"] = _read_secret(path, "broker.sasl_password_file", config.broker.sasl_password_file)
    return config, secrets


def _read_secret(config_path: Path, key: str, secret_path: str) -> Secret:
    """A secret file's content (stripped); relative paths are relative to the config file."""
    resolved = (config_path.parent / secret_path).resolve()
    try:
        value = resolved.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{config_path}: {key}: cannot read {resolved}: {exc.strerror or exc}") from None
    if not value:
        raise ConfigError(f"{config_path}: {key}: {resolved} is empty")
    return Secret(value)


def _key_and_reason(message: str) -> tuple[str, str]:
    """Split msgspec's ``"<reason> - at `$.a.b`"`` into the dotted key and the reason."""
    at = _AT_PATH.search(message)
    parent = at.group("path") if at else ""
    reason = message[: at.start()] if at else message
    for pattern, text in ((_UNKNOWN, "unknown key"), (_MISSING, "required key is missing")):
        found = pattern.match(reason)
        if found:
            field = found.group("field")
            return (f"{parent}.{field}" if parent else field), text
    return parent or "(top level)", reason
