"""Scoring against the ground truth, and the simulator's promise: its episodes are what the detector finds."""

from __future__ import annotations

import pytest

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.detection.incident import CloseReason, Incident
from netdown.sim import FleetSpec, GroundTruth, RunInfo, Score, TrueDevice, TrueEpisode, score, simulate
from netdown.sim.profile import AgentProfile
from netdown.stream.replay_run import ReplayRun
from netdown.testing import APP, T0_MS

# The time scale of a live demo: every window a few seconds, so episodes open and close while one watches.
DEMO = DetectorParams(window_ms=6_000, settle_ms=2_000, stuck_ms=30_000, lateness_ms=10_000, stale_ms=60_000)
# The agent at that scale: T and S are ten times shorter than the defaults, so are its intervals (probes every 3 s).
DEMO_AGENT = AgentProfile().faster(10)
DEVICE = "mac-00001-0123456789"


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("params", "agent", "duration_ms", "episodes_per_day"),
    [(DetectorParams(), AgentProfile(), 3 * 3_600_000, 12.0), (DEMO, DEMO_AGENT, 1_200_000, 300.0)],
    ids=["default-params", "demo-params"],
)
def test_the_pure_detector_finds_the_planted_episodes_and_nothing_else(
    seed: int, params: DetectorParams, agent: AgentProfile, duration_ms: int, episodes_per_day: float
) -> None:
    spec = FleetSpec(
        devices=40,
        seed=seed,
        episodes_per_device_day=episodes_per_day,
        outages_per_device_day=episodes_per_day,
        transients_per_device_day=2 * episodes_per_day,
        p_duplicate=0.01,
        p_late_spool=0.2,
        p_lost=0.002,
    )
    simulation = simulate(spec, start_ms=T0_MS, duration_ms=duration_ms, params=params, agent=agent)
    run = ReplayRun(params)

    run.feed_all(delivery.event for delivery in simulation.deliveries)
    result = score(simulation.truth, run.final_incidents())

    assert result.true_positives >= 40, result
    assert result.precision >= 0.95, result
    assert result.recall >= 0.95, result
    assert result.stuck_agreed >= 0.95 * result.stuck_judged, result
    assert set(run.signals) >= {"episode", "outage", "transient"}  # the non-episodes were there, and not counted


def _truth(*episodes: TrueEpisode, end_ms: int = T0_MS + 3_600_000) -> GroundTruth:
    p = DetectorParams()
    run = RunInfo(
        start_ms=T0_MS,
        end_ms=end_ms,
        seed=0,
        window_ms=p.window_ms,
        settle_ms=p.settle_ms,
        stuck_ms=p.stuck_ms,
        lateness_ms=p.lateness_ms,
        stale_ms=p.stale_ms,
    )
    return GroundTruth(run, episodes=list(episodes))


def _planted(opened_s: int, closed_s: int | None, *, stuck: bool = False) -> TrueEpisode:
    closed_ms = None if closed_s is None else T0_MS + closed_s * 1000
    reason: CloseReason | None = None if closed_ms is None else "reboot" if stuck else "recovered"
    return TrueEpisode(
        device_id=DEVICE,
        app=APP,
        opened_ms=T0_MS + opened_s * 1000,
        closed_ms=closed_ms,
        stuck=stuck,
        close_reason=reason,
    )


def _found(opened_s: int, closed_s: int | None, *, stuck: bool = False, app: str = APP) -> Incident:
    return Incident(
        device_id=DEVICE,
        app=app,
        opened_ms=T0_MS + opened_s * 1000,
        closed_ms=None if closed_s is None else T0_MS + closed_s * 1000,
        close_reason=None if closed_s is None else "recovered",
        stuck=stuck,
        os_version="15.1",
        os_build="24B83",
        platform="darwin",
        evidence=("e1", "e2"),
    )


def test_a_detection_overlapping_a_planted_episode_within_the_tolerance_matches_it() -> None:
    truth = _truth(_planted(100, 200), _planted(1000, 1100))

    # The first found a little late and closed early; the second opened W + G - 1 s after it really closed.
    result = score(truth, [_found(120, 150), _found(1100 + 39, 1200)])

    assert result == Score(2, 0, 0, 0, 2, 2, opening_delays_ms=(20_000, 139_000))
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_detections_of_nothing_are_false_positives_and_missed_episodes_false_negatives() -> None:
    truth = _truth(_planted(100, 200), _planted(1000, 1100))

    result = score(truth, [_found(150, 160), _found(1100 + 41, 1200), _found(150, 160, app="other.app")])

    assert (result.true_positives, result.false_positives, result.false_negatives) == (1, 2, 1)
    assert result.precision == pytest.approx(1 / 3)
    assert result.recall == pytest.approx(1 / 2)
    assert result.summary().splitlines()[-1] == "precision=0.3333 recall=0.5000"


def test_one_detection_matches_one_planted_episode_only() -> None:
    result = score(_truth(_planted(100, 200), _planted(240, 300)), [_found(100, 300)])

    assert (result.true_positives, result.false_negatives) == (1, 1)


def test_episodes_planted_too_close_to_the_end_are_outside_recall_unless_found() -> None:
    end_s = 3600
    late = end_s - 100  # less than G + L = 130 s before the end
    truth = _truth(_planted(100, 200), _planted(late, None), _planted(late - 30, late - 10))

    missed = score(truth, [_found(100, 200)])
    found = score(truth, [_found(100, 200), _found(late, None), _found(late - 30, late - 10)])

    assert (missed.true_positives, missed.false_negatives, missed.undetectable) == (1, 0, 2)
    assert (found.true_positives, found.false_negatives, found.undetectable) == (3, 0, 0)


def test_every_record_of_an_episode_counts_once_as_its_latest_state() -> None:
    truth = _truth(_planted(100, 800, stuck=True))
    records = [_found(100, None), _found(100, None, stuck=True), _found(100, 800, stuck=True), _found(100, None)]

    result = score(truth, records)

    assert result == Score(1, 0, 0, 0, 1, 1, opening_delays_ms=(0,))
    assert score(truth, [_found(100, 800, stuck=False)]).stuck_agreed == 0


def test_the_episodes_of_a_blind_device_are_outside_recall_unless_found() -> None:
    truth = _truth(_planted(100, 200), _planted(1000, 1100))
    truth.devices.append(_device(blind=True))

    missed = score(truth, [])
    found = score(truth, [_found(100, 200)])

    assert (missed.true_positives, missed.false_negatives, missed.blind, missed.recall) == (0, 0, 2, 1.0)
    assert (found.true_positives, found.false_negatives, found.blind) == (1, 0, 1)
    assert "blind           1 (planted on devices reporting no system path" in found.summary()


def test_the_summary_says_how_late_the_matches_opened() -> None:
    truth = _truth(*(_planted(100 * i, 100 * i + 50) for i in range(1, 21)))
    late_by_s = [0] * 10 + [2] * 8 + [30, 40]  # p95 of 20 is the 19th

    result = score(truth, [_found(100 * i + late, 100 * i + 50) for i, late in enumerate(late_by_s, 1)])

    assert result.opening_delays_ms == tuple(sorted(s * 1000 for s in late_by_s))
    assert "opening delay   median 0.0 s, p95 30.0 s, max 40.0 s (detected opening - first failure, 20 matches)" in (
        result.summary()
    )
    assert "opening delay   none (no match)" in score(truth, []).summary()


def _device(*, blind: bool) -> TrueDevice:
    return TrueDevice(
        device_id=DEVICE,
        platform="darwin",
        os_version="15.1",
        os_build="24B83",
        facts=wire.Facts(network_extensions=()),
        correlates=(),
        hazard_per_day=1.0,
        expected_episodes=1.0,
        blind=blind,
    )


def test_nothing_planted_and_nothing_found_is_a_perfect_score() -> None:
    result = score(_truth(), [])

    assert (result.precision, result.recall) == (1.0, 1.0)
