"""The agent's one TOML file: broker, TLS/SASL, topic, identity, spool, monitored apps, sources.

A bad file fails at start with the file, the key and the reason (``agent.toml: spool.max_mb: Expected
`float`, got `str```), never later and never with a traceback. Unknown keys are errors too: a typo
must not silently fall back to a default. Secrets (the fleet key, the SASL password) are read from
files named in the config and held in :class:`Secret`, whose repr never shows them. A secret file
that group or others may read or write is refused, as ssh refuses such a private key.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

from netdown.topics import EVENTS_TOPIC

__all__ = ["AgentConfig", "ConfigError", "Secret", "check_option", "load_config"]

_AT_PATH: Final = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_UNKNOWN: Final = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`")
_MISSING: Final = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
# ssh's rule for a private key: no permission at all for group or others. Readable, the secret is
# no longer one; writable, anyone can replace the fleet key (and with it every device_id) or the password.
_GROUP_OR_OTHERS: Final = 0o077

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
    topic: str = EVENTS_TOPIC
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

    @property
    def max_bytes(self) -> int:
        """``max_mb`` in bytes, as the spool takes it."""
        return int(self.max_mb * 1024 * 1024)

    @property
    def segment_bytes(self) -> int:
        """``segment_kb`` in bytes, as the spool takes it."""
        return self.segment_kb * 1024


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
    _check_spool(path, config.spool)
    secrets = {"fleet_key": _read_secret(path, "identity.key_file", config.identity.key_file)}
    if config.broker.sasl_password_file is not None:
        secrets["sasl_password"] = _read_secret(path, "broker.sasl_password_file", config.broker.sasl_password_file)
    return config, secrets


def check_option(config_path: Path, key: str, value: Any, annotation: Any) -> None:
    """Refuse a config value that does not fit the annotation of the parameter it is passed to.

    How a source's table is checked: a value of the wrong type fails here, naming its key, instead
    of inside the source (a ``TypeError`` naming neither) or, worse, hours later in its thread.
    """
    try:
        _check_type(value, annotation)
    except msgspec.ValidationError as exc:
        where, reason = _key_and_reason(str(exc), under=key)
        raise ConfigError(f"{config_path}: {where}: {reason}") from None
    except TypeError as exc:  # an annotation msgspec cannot check: the value cannot be trusted to fit it
        raise ConfigError(f"{config_path}: {key}: cannot be set in the config file ({exc})") from None


def _check_type(value: Any, annotation: Any) -> None:
    """Raise ``msgspec.ValidationError`` unless ``value`` fits ``annotation``.

    msgspec refuses as a type a union of a class it checks by ``isinstance`` with other types
    (``Path | str``, which a TOML value fits as its ``str``), so such a union is checked member by
    member: the value fits if one member takes it, else the last member's error is the reason.
    """
    try:
        msgspec.convert(value, annotation)
    except TypeError:
        if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
            raise
        failures: list[msgspec.ValidationError] = []
        for member in typing.get_args(annotation):
            try:
                _check_type(value, member)
            except msgspec.ValidationError as exc:
                failures.append(exc)
            else:
                return
        raise failures[-1] from None


def _check_spool(config_path: Path, spool: SpoolConfig) -> None:
    """A segment may be at most half the spool, the bound :class:`~netdown.agent.spool.Spool` enforces.

    Why half: when the spool is over ``max_mb`` it drops its oldest segment whole and never the one
    being written, so the bound holds only if it has room for two segments.
    """
    if spool.segment_bytes * 2 > spool.max_bytes:
        raise ConfigError(
            f"{config_path}: spool.segment_kb: {spool.segment_kb} KiB is more than half of spool.max_mb "
            f"({spool.max_mb:g} MiB); the spool drops whole segments and keeps the one being written, "
            "so it must hold two"
        )


def _read_secret(config_path: Path, key: str, secret_path: str) -> Secret:
    """A secret file's content (stripped); relative paths are relative to the config file.

    The permissions checked are those of the file opened (``fstat``), so a file swapped in between
    the check and the read cannot slip through.
    """
    resolved = (config_path.parent / secret_path).resolve()
    try:
        with resolved.open("rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            if mode & _GROUP_OR_OTHERS:
                raise ConfigError(
                    f"{config_path}: {key}: {resolved} is accessible by group or others (mode {mode:04o}); "
                    "run chmod 600 on it"
                )
            data = handle.read()
    except OSError as exc:
        raise ConfigError(f"{config_path}: {key}: cannot read {resolved}: {exc.strerror or exc}") from None
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:  # the reason, not exc's text: that quotes a byte of the secret
        raise ConfigError(f"{config_path}: {key}: {resolved} is not UTF-8 text (byte {exc.start})") from None
    if not value:
        raise ConfigError(f"{config_path}: {key}: {resolved} is empty")
    return Secret(value)


def _key_and_reason(message: str, under: str = "") -> tuple[str, str]:
    """Split msgspec's ``"<reason> - at `$.a.b`"`` into the dotted key (below ``under``) and the reason."""
    at = _AT_PATH.search(message)
    parent = _joined(under, at.group("path") if at else "")
    reason = message[: at.start()] if at else message
    for pattern, text in ((_UNKNOWN, "unknown key"), (_MISSING, "required key is missing")):
        found = pattern.match(reason)
        if found:
            return _joined(parent, found.group("field")), text
    return parent or "(top level)", reason


def _joined(parent: str, child: str) -> str:
    """A dotted key from two parts, either possibly empty: ``a.b``, and ``a[0]`` for an index."""
    if not parent or not child:
        return parent or child
    return f"{parent}{child}" if child.startswith("[") else f"{parent}.{child}"
