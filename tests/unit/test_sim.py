"""The fleet simulator: deterministic, its fleet is what the spec asks for, its deliveries are a real fleet's."""

from __future__ import annotations

import io
import math
from collections import Counter
from functools import cache
from typing import NamedTuple

import pytest

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.sim import (
    Correlate,
    FleetSpec,
    GroundTruth,
    Release,
    Simulation,
    read_truth,
    simulate,
    write_truth,
)
from netdown.sim.files import write_capture
from netdown.testing import T0_MS

HOUR_MS = 3_600_000
FILTER = wire.NetworkExtension(id="com.example.filter", kind="content_filter")


def _run(spec: FleetSpec, hours: float = 2, params: DetectorParams | None = None) -> Simulation:
    return simulate(spec, start_ms=T0_MS, duration_ms=int(hours * HOUR_MS), params=params or DetectorParams())


@cache
def _eventful() -> Simulation:
    """A small fleet with every delivery fault turned up, so a few hours show each of them many times."""
    spec = FleetSpec(devices=40, seed=3, episodes_per_device_day=12, p_duplicate=0.02, p_late_spool=0.5, p_lost=0.01)
    return _run(spec, hours=3)


@cache
def _large_fleet() -> Simulation:
    """300 devices for 90 busy minutes: 15.1 three times worse, a filter tripling it, a flag doing nothing."""
    spec = FleetSpec(
        devices=300,
        seed=11,
        releases=(Release("15.1", "24B83", weight=25, incidence=3.0), Release("14.4.1", "23E224", weight=75)),
        episodes_per_device_day=32.0,
        correlates=(
            Correlate(extension=FILTER, share=0.2, multiplier=3.0),
            Correlate(vpn_flag="include_all_networks", share=0.5),
        ),
    )
    return _run(spec, hours=1.5)


def test_a_seed_gives_the_same_run_and_another_seed_another() -> None:
    spec = FleetSpec(devices=12, seed=5, episodes_per_device_day=24)
    first, again, other = _run(spec), _run(spec), _run(FleetSpec(devices=12, seed=6, episodes_per_device_day=24))

    assert first.deliveries == again.deliveries
    assert first.truth == again.truth
    assert [d.event.event_id for d in first.deliveries[:50]] != [d.event.event_id for d in other.deliveries[:50]]
    assert first.truth.episodes != other.truth.episodes


def test_every_delivery_is_a_valid_wire_event_delivered_no_earlier_than_it_happened() -> None:
    simulation = _eventful()
    capture = io.BytesIO()

    written = write_capture(simulation.deliveries, capture)

    lines = capture.getvalue().splitlines()
    assert written == len(lines) == len(simulation.deliveries)
    for line, delivery in zip(lines, simulation.deliveries, strict=True):
        assert wire.decode(line) == delivery.event
        assert delivery.at_ms >= delivery.event.ts_ms
    assert [d.at_ms for d in simulation.deliveries] == sorted(d.at_ms for d in simulation.deliveries)
    assert {wire.event_type(d.event) for d in simulation.deliveries} == set(wire.EVENT_TYPES)


def test_the_release_mix_follows_the_weights_and_correlates_their_shares() -> None:
    devices = _large_fleet().truth.devices

    assert Counter(d.os_version for d in devices) == {"15.1": 75, "14.4.1": 225}
    carriers = Counter(name for d in devices for name in d.correlates)
    assert carriers == {FILTERED: 60, "include_all_networks": 150}
    # Assignment is independent of the release: each release carries about its share of the filter.
    on_151 = sum(FILTERED in d.correlates for d in devices if d.os_version == "15.1")
    assert 15 - 3 * math.sqrt(15) < on_151 < 15 + 3 * math.sqrt(15)


def test_facts_on_heartbeats_say_what_was_planted() -> None:
    simulation = _large_fleet()
    facts = {
        d.event.device_id: d.event.facts for d in simulation.deliveries if isinstance(d.event, wire.HeartbeatEvent)
    }

    for device in simulation.truth.devices:
        assert facts[device.device_id] == device.facts
        extensions = device.facts.network_extensions
        assert extensions[0] == wire.NetworkExtension(id="com.example.vpn.tunnel", kind="packet_tunnel")
        assert (FILTER in extensions) == (FILTERED in device.correlates)
        assert device.facts.vpn is not None
        assert device.facts.vpn.include_all_networks == ("include_all_networks" in device.correlates)


FILTERED = "content_filter:com.example.filter"


class _Group(NamedTuple):
    episodes: int
    days_at_risk: float

    @property
    def rate(self) -> float:
        return self.episodes / self.days_at_risk


def _group(truth: GroundTruth, os_version: str, *correlates: str, without: tuple[str, ...] = ()) -> _Group:
    """The planted episodes of the devices on ``os_version`` carrying ``correlates`` and not ``without``."""
    devices = [
        d
        for d in truth.devices
        if d.os_version == os_version and set(correlates) <= set(d.correlates) and not set(without) & set(d.correlates)
    ]
    ids = {d.device_id for d in devices}
    count = sum(e.device_id in ids for e in truth.episodes)
    expected = sum(d.expected_episodes for d in devices)
    # expected_episodes is the exact expectation of the count: a Poisson count lies within 4 sigma of it.
    assert abs(count - expected) < 4 * math.sqrt(expected), (os_version, correlates, count, expected)
    return _Group(count, sum(d.expected_episodes / d.hazard_per_day for d in devices))


def _assert_ratio(group: _Group, baseline: _Group, ratio: float) -> None:
    """The groups' rates are ``ratio`` apart, within 4 sigma of the Poisson noise on their counts."""
    sigma = ratio * math.sqrt(1 / group.episodes + 1 / baseline.episodes)
    assert abs(group.rate / baseline.rate - ratio) < 4 * sigma, (group, baseline)


def test_episode_counts_follow_the_planted_hazards() -> None:
    truth = _large_fleet().truth

    for device in truth.devices:
        release = 3.0 if device.os_version == "15.1" else 1.0
        assert device.hazard_per_day == pytest.approx(32.0 * release * (3.0 if FILTERED in device.correlates else 1.0))
    baseline = _group(truth, "14.4.1", without=(FILTERED,))
    assert baseline.episodes > 200
    _assert_ratio(_group(truth, "15.1", without=(FILTERED,)), baseline, 3.0)
    _assert_ratio(_group(truth, "14.4.1", FILTERED), baseline, 3.0)
    flagged = _group(truth, "14.4.1", "include_all_networks", without=(FILTERED,))
    _assert_ratio(flagged, _group(truth, "14.4.1", without=(FILTERED, "include_all_networks")), 1.0)


def test_episodes_are_stuck_or_recovering_at_the_planted_share() -> None:
    truth = _large_fleet().truth
    stuck = [e for e in truth.episodes if e.stuck]

    assert 0.25 - 0.05 < len(stuck) / len(truth.episodes) < 0.25 + 0.05
    for episode in truth.episodes:
        if episode.closed_ms is None:
            assert episode.close_reason is None
            continue
        assert episode.close_reason == ("reboot" if episode.stuck else "recovered")
        length = episode.closed_ms - episode.opened_ms
        assert (
            (length > DetectorParams().stuck_ms)
            if episode.stuck
            else (DetectorParams().settle_ms < length < DetectorParams().stuck_ms)
        )


def test_a_stuck_episode_ends_with_a_new_boot() -> None:
    simulation = _eventful()
    boots = {(d.event.device_id, d.event.ts_ms): d.event.boot_id for d in simulation.deliveries}
    rebooted = [e for e in simulation.truth.episodes if e.close_reason == "reboot"]

    assert rebooted
    for episode in rebooted:
        assert episode.closed_ms is not None
        before = max(ts for (device, ts) in boots if device == episode.device_id and ts < episode.closed_ms)
        assert boots[episode.device_id, episode.closed_ms] != boots[episode.device_id, before]


def test_delivery_faults_happen_at_their_configured_rates() -> None:
    simulation = _eventful()
    deliveries = simulation.deliveries
    sent = Counter(d.event.event_id for d in deliveries)
    by_device: dict[str, list[int]] = {}
    for event_id, delivery in {d.event.event_id: d for d in deliveries}.items():
        del event_id
        by_device.setdefault(delivery.event.device_id, []).append(delivery.event.seq)
    emitted = sum(max(seqs) + 1 for seqs in by_device.values())
    lost = emitted - len(sent)
    duplicated = sum(count - 1 for count in sent.values())
    first: dict[str, int] = {}
    for delivery in deliveries:
        first.setdefault(delivery.event.event_id, delivery.at_ms - delivery.event.ts_ms)
    late = {d.event.device_id for d in deliveries if first[d.event.event_id] > DetectorParams().lateness_ms // 2}

    assert abs(lost - 0.01 * emitted) < 4 * math.sqrt(0.01 * emitted)
    assert abs(duplicated - 0.02 * len(sent)) < 4 * math.sqrt(0.02 * len(sent))
    assert 20 - 4 * math.sqrt(10) < len(late) < 20 + 4 * math.sqrt(10)


def test_the_truth_reads_back_as_written() -> None:
    truth = _eventful().truth
    stream = io.BytesIO()

    write_truth(truth, stream)

    lines = stream.getvalue().splitlines()
    assert read_truth(lines) == truth
    assert read_truth([*lines, b'{"kind":"from-the-future","x":1}', b""]) == truth
    with pytest.raises(ValueError, match="line 2: not a ground-truth record"):
        read_truth([lines[0], b'{"kind":"episode"}'])
    with pytest.raises(ValueError, match="no `run` record"):
        read_truth(lines[1:])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FleetSpec(devices=0), "at least one device"),
        (lambda: FleetSpec(devices=1, releases=()), "at least one release"),
        (lambda: FleetSpec(devices=1, p_lost=1.5), "p_lost must be in"),
        (lambda: FleetSpec(devices=1, episodes_per_device_day=-1), "episodes_per_device_day"),
        (lambda: Release("15.1", "24B83", weight=0), "weight must be positive"),
        (Correlate, "exactly one"),
        (lambda: Correlate(extension=FILTER, vpn_flag="enforce_routes"), "exactly one"),
        (lambda: Correlate(vpn_flag="no_such_flag"), "not one of"),
        (lambda: Correlate(vpn_flag="enforce_routes", share=2), "share must be in"),
    ],
)
def test_a_bad_spec_is_refused_with_a_reason(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]
