"""The running agent: sources -> stamped wire events -> disk spool -> publisher -> Kafka.

Read top to bottom, this is the agent's whole dataflow. Each source runs in its own thread and calls
:meth:`Agent.accept`; an observation becomes a wire event (envelope, next ``seq``) and is written to
the spool under one lock, so spool order is ``seq`` order. The publisher thread drains the spool to
Kafka. A heartbeat source reports uptime, facts and the spool's state at least every 5 minutes.

A source that breaks (a command that hangs, an exception) is logged and restarted with back-off; it
never takes the agent down. An observation a source got wrong is counted and dropped, never sent.
Each evidence source keeps its health (:mod:`netdown.agent.source_health`): the agent credits what it
accepted or refused, the supervisor counts crashes, and every heartbeat reports them all.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from netdown import wire
from netdown.agent.config import AgentConfig, ConfigError, Secret, check_option
from netdown.agent.envelope import Stamper
from netdown.agent.facts import read_facts, read_uptime_s
from netdown.agent.publisher import Publisher, kafka_producer
from netdown.agent.source_health import Monitored, SourceStats
from netdown.agent.sources import Observation, Source, discover
from netdown.agent.sources.base import Emit
from netdown.agent.spool import Spool, SpoolWriteError
from netdown.cli_io import os_reason
from netdown.stamping import DeviceIdentity

__all__ = ["Agent", "HeartbeatSource", "build_agent", "build_sources", "producer_settings"]

log = logging.getLogger(__name__)

_MAX_RESTART_BACKOFF_S: Final = 60.0
# Sources every agent runs on its platform unless the config names its own set.
DEFAULT_SOURCES: Final = {"darwin": ("macos_path",), "linux": ("linux_path",)}


@dataclass
class HeartbeatSource:
    """Liveness and device facts: uptime, installed network extensions, VPN flags, spool state.

    And the health of every evidence source (``sources``): a device that is blind says so.
    """

    spool: Spool
    platform: str
    monitored: str | None
    interval_s: float
    read_uptime: Callable[[], int | None]
    read_device_facts: Callable[[], wire.Facts]
    clock: Callable[[], float] = time.time
    sources: Sequence[SourceStats] = ()
    name: str = "heartbeat"

    def __post_init__(self) -> None:
        # The contract bounds a heartbeat's list; refused at start, not by every heartbeat's validation.
        if len(self.sources) > wire.MAX_SOURCES:
            raise ValueError(f"a heartbeat reports at most {wire.MAX_SOURCES} sources, got {len(self.sources)}")

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """One heartbeat at once (the stream job learns the facts early), then one per interval."""
        while True:
            spool = wire.SpoolState(
                pending=self.spool.pending,
                dropped=self.spool.take_dropped(),
                lost=self.spool.losses,  # cumulative: survives a lost heartbeat
            )
            body = wire.HeartbeatBody(
                uptime_s=self.read_uptime() or 0,
                facts=self.read_device_facts(),
                spool=spool,
                sources=tuple(stats.snapshot() for stats in self.sources),
            )
            emit(Observation(ts_ms=int(self.clock() * 1000), body=body))
            if stop.wait(self.interval_s):
                return


@dataclass
class Agent:
    """The sources, the spool and the publisher of one endpoint, and the counts an operator asks for."""

    stamper: Stamper
    spool: Spool
    publisher: Publisher
    sources: list[Source]
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    unspooled: int = 0  # stamped, then refused by the disk: lost, and counted by the spool too
    # Refusals since the spool last took an event: a full disk is logged when it starts and ends, not per event.
    _refusing: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, facts: DeviceIdentity, spool: Spool, publisher: Publisher, sources: list[Source]) -> Agent:
        """An agent whose ``seq`` is its spool's index: above every seq the device may already have sent."""
        return cls(Stamper(facts, spool.next_index), spool, publisher, sources)

    def accept(self, observation: Observation, source: str = "?") -> wire.Event | None:
        """Stamp and spool one observation; once this returns an event, it survives a crash.

        None if the observation was invalid (it used no ``seq``) or the disk refused the event (its
        ``seq`` is used up, a gap the stream job counts): a full disk must not stop the sources.
        """
        with self._lock:
            try:
                event = self.stamper.stamp(observation)
            except msgspec.ValidationError as exc:
                self.refused[source] += 1
                log.warning("source %s produced an invalid %s observation: %s", source, observation.type, exc)
                return None
            try:
                self.spool.append(wire.encode(event))
            except SpoolWriteError as exc:
                self.unspooled += 1
                self._refusing += 1
                if self._refusing == 1:
                    log.warning("%s; events are lost (and counted) until it is writable again", exc)
                return None
            if self._refusing:
                log.info("spool writable again after %d refused", self._refusing)
                self._refusing = 0
            self.accepted += 1
            return event

    def run(self, stop: threading.Event) -> None:
        """Run every source and the publisher until ``stop`` is set, then flush the spool."""
        threads = [threading.Thread(target=self.publisher.run, args=(stop,), name="publisher", daemon=True)]
        threads += [
            threading.Thread(target=self._supervise, args=(source, stop), name=source.name, daemon=True)
            for source in self.sources
        ]
        for thread in threads:
            thread.start()
        stop.wait()
        for thread in threads:
            thread.join(timeout=15)
        self.spool.close()

    def _supervise(self, source: Source, stop: threading.Event) -> None:
        """Keep one source running: a crash is logged and the source restarted after a back-off.

        Its health (when it keeps one) is credited here: each observation accepted is an event, each
        refused a sending error, and a crash a reading error (not running until its next success).
        """
        backoff = 1.0
        health = source.health if isinstance(source, Monitored) else None

        def emit(observation: Observation) -> None:
            accepted = self.accept(observation, source.name) is not None
            if health is None:
                return
            if accepted:
                health.emitted()
            else:
                health.failed("sending")

        while not stop.is_set():
            try:
                source.run(emit, stop)
            except Exception:
                log.exception("source %s failed; restarting in %.0fs", source.name, backoff)
                if health is not None:
                    health.failed("reading")
                stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_RESTART_BACKOFF_S)
            else:
                break
        if health is not None:
            health.stopped()


def build_sources(config: AgentConfig, config_path: Path, platform: str, context: Mapping[str, Any]) -> list[Source]:
    """Instantiate the configured sources; a table's keys are the source's keyword arguments.

    ``context`` offers what the agent knows (fleet key, state dir, monitored apps, heartbeat
    interval); a source receives the entries its constructor names. A key the source does not take
    is a config error naming it, and so is a value that does not fit the parameter's annotation:
    TOML gives no types beyond its own, and a source would otherwise fail on ``interval_s = "fast"``
    with a ``TypeError`` naming no key, or accept it and fail later in its thread, restarted forever.
    """
    registry = discover()
    names = config.sources or {name: {} for name in DEFAULT_SOURCES.get(platform, ())}
    sources: list[Source] = []
    for name, settings in names.items():
        factory = registry.get(name)
        if factory is None:
            raise ConfigError(f"{config_path}: sources.{name}: no such source (known: {', '.join(sorted(registry))})")
        accepted = inspect.signature(factory, eval_str=True).parameters
        for key, value in settings.items():
            if key not in accepted or key in context:
                raise ConfigError(f"{config_path}: sources.{name}.{key}: unknown key")
            if accepted[key].annotation is not inspect.Parameter.empty:
                check_option(config_path, f"sources.{name}.{key}", value, accepted[key].annotation)
        injected = {key: value for key, value in context.items() if key in accepted}
        try:
            sources.append(factory(**settings, **injected))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{config_path}: sources.{name}: {exc}") from None
    return sources


def producer_settings(config: AgentConfig, secrets: Mapping[str, Secret]) -> dict[str, Any]:
    """kafka-python options for the configured TLS/SASL; the password only from its secret file."""
    broker = config.broker
    settings: dict[str, Any] = {"security_protocol": broker.security_protocol}
    for option in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "sasl_mechanism"):
        if getattr(broker, option) is not None:
            settings[option] = getattr(broker, option)
    if broker.sasl_username is not None:
        settings["sasl_plain_username"] = broker.sasl_username
    if "sasl_password" in secrets:
        settings["sasl_plain_password"] = secrets["sasl_password"].reveal()
    return settings


def build_agent(config: AgentConfig, secrets: Mapping[str, Secret], config_path: Path, facts: DeviceIdentity) -> Agent:
    """Wire spool, publisher, heartbeat and sources from a validated config.

    The spool is opened here, so a ``state_dir`` that cannot hold it (unwritable, under a file) is a
    config error naming ``identity.state_dir``, not a ``PermissionError`` traceback.
    """
    state_dir = Path(config.identity.state_dir)
    try:
        spool = Spool(
            state_dir / "spool",
            max_bytes=config.spool.max_bytes,
            segment_bytes=config.spool.segment_bytes,
            fsync_interval=config.spool.fsync_interval_s,
        )
    except OSError as exc:
        raise ConfigError(
            f"{config_path}: identity.state_dir: cannot use {exc.filename or state_dir}: {os_reason(exc)}"
        ) from None
    settings = producer_settings(config, secrets)
    publisher = Publisher(
        spool, config.broker.topic, facts.device_id.encode(), lambda: kafka_producer(config.broker.bootstrap, settings)
    )
    monitored = config.apps[0].bundle_id if config.apps else None
    context: dict[str, Any] = {
        "key": secrets["fleet_key"].reveal().encode(),
        # The system-path sources re-emit an unchanged path once per heartbeat interval.
        "heartbeat_interval_s": config.heartbeat.interval_s,
        "state_dir": state_dir,
        "allowed_apps": frozenset(app.bundle_id for app in config.apps),
        "processes": tuple(process for app in config.apps for process in app.processes),
        "subsystems": tuple(subsystem for app in config.apps for subsystem in app.subsystems),
        "app_ids": {process: app.bundle_id for app in config.apps for process in app.processes},
    }
    sources = build_sources(config, config_path, facts.platform, context)
    heartbeat = HeartbeatSource(
        spool=spool,
        platform=facts.platform,
        monitored=monitored,
        interval_s=config.heartbeat.interval_s,
        read_uptime=lambda: read_uptime_s(facts.platform),
        read_device_facts=lambda: read_facts(facts.platform, monitored),
        sources=[source.health for source in sources if isinstance(source, Monitored)],
    )
    return Agent.create(facts, spool, publisher, [heartbeat, *sources])
