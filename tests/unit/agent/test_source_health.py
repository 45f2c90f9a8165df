"""Each evidence source's health reaches the heartbeat: events, errors by stage, last success, running."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import msgspec
import pytest

from netdown import wire
from netdown.agent.config import load_config
from netdown.agent.envelope import Stamper
from netdown.agent.publisher import Producer, Publisher
from netdown.agent.runtime import Agent, HeartbeatSource, build_agent
from netdown.agent.source_health import Monitored, SourceStats
from netdown.agent.sources.base import Emit, Observation
from netdown.agent.sources.scutil import MacPathSource
from netdown.agent.sources.unified_log import UnifiedLogSource
from netdown.agent.spool import Spool
from tests.unit.agent.spool_disk import records_on_disk
from tests.unit.agent.test_runtime import FACTS, _example

GOOD = Observation(ts_ms=1_732_540_800_000, body=wire.ProbeBody(target="x", kind="dns", ok=True))
# A value the type check cannot see (from a log, a file): the stamper refuses it.
INVALID = Observation(ts_ms=1, body=wire.ProbeBody(target="x", kind="icmp", ok=True))  # type: ignore[arg-type]


def _agent(spool: Spool, sources: list[Monitored]) -> Agent:
    def connect() -> Producer:
        raise AssertionError("these tests never publish")

    return Agent.create(FACTS, spool, Publisher(spool, "events", FACTS.device_id.encode(), connect), list(sources))


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_stats_count_by_stage_and_running_flips_on_reading_errors_and_successes() -> None:
    now = [1_732_540_800.25]
    stats = SourceStats("macos_path", "system_path", clock=lambda: now[0])
    fresh = stats.snapshot()
    assert (fresh.running, fresh.events, fresh.last_success_ms) == (True, 0, None), "started: running, nothing yet"
    stats.failed("reading")
    assert not stats.snapshot().running
    stats.failed("parsing", 3)
    assert not stats.snapshot().running, "a parsing error says nothing about the input being back"
    stats.succeeded()
    stats.emitted()
    stats.failed("parsing")
    stats.failed("sending")
    health = stats.snapshot()
    assert health == wire.SourceHealth(
        name="macos_path",
        role="system_path",
        running=True,
        events=1,
        errors=wire.SourceErrors(reading=1, parsing=4, sending=1),
        last_success_ms=1_732_540_800_250,
    )
    assert msgspec.convert(msgspec.to_builtins(health), wire.SourceHealth) == health, "valid on the wire"
    stats.stopped()
    assert not stats.snapshot().running


class _Flaky:
    """Crashes on its first run; then emits one good and one invalid observation and returns."""

    name = "flaky"
    role: ClassVar[wire.SourceRole] = "probe"

    def __init__(self) -> None:
        self.health = SourceStats(self.name, self.role)
        self.runs = 0
        self.after_crash: wire.SourceHealth | None = None

    def run(self, emit: Emit, stop: threading.Event) -> None:
        self.runs += 1
        if self.runs == 1:
            raise RuntimeError("a bug in the run loop")
        self.after_crash = self.health.snapshot()
        self.health.succeeded()
        emit(GOOD)
        emit(INVALID)


def test_the_supervisor_credits_accepted_and_refused_observations_and_counts_a_crash(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    source = _Flaky()
    agent = _agent(spool, [source])
    agent._supervise(source, threading.Event())  # crash, back-off (1 s), then a run that returns
    assert source.after_crash is not None
    assert (source.after_crash.running, source.after_crash.errors.reading) == (False, 1), "in back-off: not running"
    health = source.health.snapshot()
    assert (health.events, health.errors) == (1, wire.SourceErrors(reading=1, parsing=0, sending=1))
    assert not health.running, "a source that returned observes nothing more"
    assert agent.accepted == 1
    spool.close()


def test_a_missing_log_binary_shows_not_running_with_reading_errors_growing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    source = UnifiedLogSource(command=["/nonexistent/log", "stream"], restart_delay_s=0.01)
    agent, stop = _agent(spool, [source]), threading.Event()
    supervisor = threading.Thread(target=agent._supervise, args=(source, stop))
    supervisor.start()
    try:
        _wait_for(lambda: source.health.snapshot().errors.reading >= 2)  # the first restart comes after 1 s
        health = source.health.snapshot()
        assert (health.running, health.last_success_ms, health.events) == (False, None, 0)
    finally:
        stop.set()
        supervisor.join(timeout=5)
        spool.close()


def test_the_running_agent_spools_heartbeats_showing_a_system_path_source_whose_command_is_missing(
    tmp_path: Path,
) -> None:
    def missing(argv: Sequence[str]) -> str:
        raise FileNotFoundError(argv[0])

    spool = Spool(tmp_path / "spool")
    system_path = MacPathSource(interval_s=0.01, run=missing)
    heartbeat = HeartbeatSource(spool, "darwin", None, 0.1, lambda: 1, wire.Facts, sources=[system_path.health])
    agent, stop = _agent(spool, [system_path]), threading.Event()
    agent.sources.insert(0, heartbeat)
    runner = threading.Thread(target=agent.run, args=(stop,))
    runner.start()
    time.sleep(0.5)
    stop.set()
    runner.join(timeout=20)
    beats = [
        event
        for frame in records_on_disk(tmp_path / "spool")
        if isinstance(event := wire.decode(frame.payload), wire.HeartbeatEvent)
    ]
    reported = [beat.sources[0] for beat in beats]
    assert len(reported) >= 3
    assert {(health.name, health.running, health.events, health.last_success_ms) for health in reported[1:]} == {
        ("macos_path", False, 0, None)
    }
    readings = [health.errors.reading for health in reported]
    assert readings == sorted(readings), "cumulative"
    assert readings[-1] > readings[1] > 0, "reading errors grow, poll after poll"


def test_heartbeats_carry_every_sources_health(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    stats = [SourceStats("linux_path", "system_path"), SourceStats("probes", "probe")]
    stats[0].failed("reading")
    heartbeat = HeartbeatSource(
        spool=spool,
        platform="linux",
        monitored=None,
        interval_s=300,
        read_uptime=lambda: 1,
        read_device_facts=wire.Facts,
        sources=stats,
    )
    seen: list[Observation] = []
    stop = threading.Event()
    stop.set()  # one heartbeat, then stop
    heartbeat.run(seen.append, stop)
    event = Stamper(FACTS, next_seq=0).stamp(seen[0])
    assert isinstance(event, wire.HeartbeatEvent)
    assert [(s.name, s.role, s.running, s.errors.reading) for s in event.sources] == [
        ("linux_path", "system_path", False, 1),
        ("probes", "probe", True, 0),
    ]
    spool.close()


def test_a_heartbeat_refuses_more_sources_than_the_contract_allows(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    too_many = [SourceStats(f"s{index}", "probe") for index in range(wire.MAX_SOURCES + 1)]
    with pytest.raises(ValueError, match=f"at most {wire.MAX_SOURCES} sources"):
        HeartbeatSource(spool, "linux", None, 300, lambda: 1, wire.Facts, sources=too_many)
    spool.close()


def test_the_wired_agents_heartbeat_reports_each_configured_source_with_its_role(tmp_path: Path) -> None:
    path = _example(tmp_path)
    config, secrets = load_config(path)
    agent = build_agent(config, secrets, path, FACTS)
    heartbeat = agent.sources[0]
    assert isinstance(heartbeat, HeartbeatSource)
    assert [(stats.name, stats.role) for stats in heartbeat.sources] == [
        ("macos_path", "system_path"),
        ("unified_log", "app_view"),
        ("app_events", "app_view"),
        ("probes", "probe"),
    ]
    assert all(isinstance(source, Monitored) for source in agent.sources[1:])
    agent.spool.close()
