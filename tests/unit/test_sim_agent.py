"""The simulated agent reports as the shipped one does: its config's cadences, paths on change, source health."""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.sim import FleetSpec, Simulation, simulate
from netdown.sim.profile import AgentProfile
from netdown.testing import T0_MS

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "agent.example.toml"
HOUR_MS = 3_600_000


def test_the_default_profile_is_the_shipped_agent_config() -> None:
    config = tomllib.loads(EXAMPLE.read_text())
    probes = config["sources"]["probes"]

    profile = AgentProfile()

    assert profile.probes == ("probes" in config["sources"])
    assert profile.probe_interval_ms == round(probes["interval_s"] * 1000)
    assert profile.probe_jitter == probes["jitter"]
    assert list(profile.probe_kinds) == [target.partition(":")[0] for target in probes["targets"]]
    assert profile.path_poll_ms == round(config["sources"]["macos_path"]["interval_s"] * 1000)
    assert profile.heartbeat_ms == round(config["heartbeat"]["interval_s"] * 1000)


def _by_device(simulation: Simulation) -> dict[str, list[wire.Event]]:
    """Each device's events as it emitted them (first delivery of each), in ``seq`` order."""
    events: dict[str, dict[str, wire.Event]] = defaultdict(dict)
    for delivery in simulation.deliveries:
        events[delivery.event.device_id].setdefault(delivery.event.event_id, delivery.event)
    return {device: sorted(seen.values(), key=lambda e: e.seq) for device, seen in events.items()}


def _quiet(agent: AgentProfile | None = None, **spec: Any) -> Simulation:
    """Two hours of a small fleet, no episodes, no delivery faults: only what the agent reports."""
    quiet = FleetSpec(devices=10, seed=2, episodes_per_device_day=0, p_duplicate=0, p_lost=0, p_late_spool=0)
    fleet = dataclasses.replace(quiet, **spec)
    return simulate(
        fleet, start_ms=T0_MS, duration_ms=2 * HOUR_MS, params=DetectorParams(), agent=agent or AgentProfile()
    )


def test_probe_rounds_come_at_the_jittered_interval_and_probe_every_target() -> None:
    gaps: list[int] = []
    for events in _by_device(_quiet(transients_per_device_day=0)).values():
        probes = [e for e in events if isinstance(e, wire.ProbeEvent)]
        assert [p.kind for p in probes[:4]] == ["tcp", "dns", "tcp", "dns"]
        rounds = [p.ts_ms for p in probes if p.kind == "tcp"]
        gaps += [b - a for a, b in itertools.pairwise(rounds)]

    # 30 s +- 20% after the round ended (a round of two probes takes under a second).
    assert 24_000 <= min(gaps) < 25_000
    assert 35_000 < max(gaps) <= 36_000 + 1_000
    assert sum(gaps) / len(gaps) == pytest.approx(30_300, abs=500)


def test_the_system_path_is_reported_on_change_at_the_next_poll_and_with_every_heartbeat() -> None:
    simulation = _quiet(outages_per_device_day=48, transients_per_device_day=0)
    for device, events in _by_device(simulation).items():
        heartbeats = [e.ts_ms for e in events if isinstance(e, wire.HeartbeatEvent)]
        paths = [e for e in events if isinstance(e, wire.PathEvent)]
        assert [b - a for a, b in itertools.pairwise(heartbeats)] == [300_000] * (len(heartbeats) - 1)
        # Each heartbeat is followed by the current path within a poll, changed or not.
        for beat in heartbeats:
            assert any(beat <= p.ts_ms < beat + 2_000 for p in paths), (device, beat)
        outages = [d for d in simulation.truth.disturbances if d.device_id == device]
        for outage in outages:
            down = next(p for p in paths if p.ts_ms >= outage.start_ms)
            up = next(p for p in paths if p.ts_ms >= outage.end_ms)
            assert (down.status, down.reason) == ("unsatisfied", "no_route")
            assert 0 <= down.ts_ms - outage.start_ms <= 2_000
            assert up.status == "satisfied"
            assert 0 <= up.ts_ms - outage.end_ms <= 2_000
        # Between changes and heartbeats nothing: far fewer reports than polls.
        assert len(paths) <= 1 + len(heartbeats) + 2 * len(outages) + 2 * HOUR_MS // 600_000


def test_heartbeats_report_each_source_running_with_its_counts() -> None:
    for events in _by_device(_quiet()).values():
        seen: dict[str, int] = defaultdict(int)
        for event in events:
            if isinstance(event, wire.HeartbeatEvent):
                health = {source.name: source for source in event.sources}
                assert {name: s.role for name, s in health.items()} == {
                    "macos_path": "system_path",
                    "unified_log": "app_view",
                    "probes": "probe",
                }
                assert all(
                    s.running and s.errors == wire.SourceErrors(reading=0, parsing=0, sending=0)
                    for s in health.values()
                )
                assert {name: s.events for name, s in health.items()} == {name: seen[name] for name in health}
            elif isinstance(event, wire.ProbeEvent):
                seen["probes"] += 1
            elif isinstance(event, wire.PathEvent) and event.observer == "system":
                seen["macos_path"] += 1
            else:
                seen["unified_log"] += 1


def test_without_probes_or_with_a_blind_path_source_the_devices_send_none() -> None:
    simulation = _quiet(AgentProfile(probes=False), blind_share=0.3)
    blind = {device.device_id for device in simulation.truth.devices if device.blind}

    assert len(blind) == 3
    for device, events in _by_device(simulation).items():
        assert not [e for e in events if isinstance(e, wire.ProbeEvent)]
        system_paths = [e for e in events if isinstance(e, wire.PathEvent) and e.observer == "system"]
        assert bool(system_paths) == (device not in blind)
        last = [e for e in events if isinstance(e, wire.HeartbeatEvent)][-1]
        path_source = last.sources[0]
        assert [s.name for s in last.sources] == ["macos_path", "unified_log"]
        assert path_source.running == (device not in blind)
        if device in blind:
            assert (path_source.events, path_source.last_success_ms) == (0, None)
            assert path_source.errors.reading > 0


def test_a_faster_profile_divides_every_interval_alike() -> None:
    fast = AgentProfile().faster(15)

    assert (fast.probe_interval_ms, fast.path_poll_ms, fast.heartbeat_ms) == (2_000, 133, 20_000)
    assert (fast.probes, fast.probe_jitter) == (True, 0.2)
    with pytest.raises(ValueError, match="probe_jitter must be in"):
        AgentProfile(probe_jitter=1.0)
