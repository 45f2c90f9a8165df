"""The demo's pure parts: its sped-up rules, its screen and its summary (the services are tests/integration)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import msgspec
from rich.console import Console

from netdown.dashboards.config import CONFIG, Config, scaled
from netdown.demo import scenario
from netdown.demo.summary import alerts_line, fleet_line, scored
from netdown.demo.view import Run, render, status_line
from netdown.demo.watch import AlertSeen, AlertState, Snapshot, VersionRow
from netdown.detection.detector import DetectorParams
from netdown.detection.incident import Incident
from netdown.sim import GroundTruth, RunInfo, Score, TrueEpisode, score, simulate
from netdown.sim.live import LiveProgress
from netdown.sim.profile import AgentProfile
from netdown.stream.replay_run import ReplayRun
from netdown.testing import T0_MS


def test_the_demo_agent_is_the_shipped_one_as_much_faster_as_the_detector() -> None:
    production = DetectorParams()
    speedup = production.stuck_ms / scenario.PARAMS.stuck_ms

    assert speedup == production.stale_ms / scenario.PARAMS.stale_ms
    assert AgentProfile().faster(speedup) == scenario.AGENT
    assert scenario.AGENT.heartbeat_ms <= scenario.PARAMS.stale_ms / 3  # a quiet device stays active


def test_the_demo_fleet_replayed_finds_its_episodes() -> None:
    simulation = simulate(
        scenario.fleet(30, seed=1), start_ms=T0_MS, duration_ms=300_000, params=scenario.PARAMS, agent=scenario.AGENT
    )
    run = ReplayRun(scenario.PARAMS)

    run.feed_all(delivery.event for delivery in simulation.deliveries)
    result = score(simulation.truth, run.final_incidents())

    assert result.true_positives >= 30, result
    assert result.precision >= 0.95, result
    assert result.recall >= 0.95, result


def _durations(config: Config) -> dict[str, timedelta]:
    """Every duration of every alert's section, by ``section.field``."""
    return {
        f"{section.name}.{item.name}": value
        for section in dataclasses.fields(config)
        if dataclasses.is_dataclass(part := getattr(config, section.name))
        for item in dataclasses.fields(part)
        if isinstance(value := getattr(part, item.name), timedelta)
    }


def test_scaled_rules_run_every_clock_faster_and_keep_thresholds() -> None:
    fast = scaled(CONFIG, 60)
    shipped, sped_up = _durations(CONFIG), _durations(fast)
    assert sped_up["stuck.for_"] == timedelta(seconds=10)  # 10 min
    assert sped_up["regression.window"] == timedelta(minutes=3)  # 3 h
    for name, value in shipped.items():
        assert sped_up[name] == timedelta(seconds=max(1, round(value.total_seconds() / 60))), name
    assert (fast.spike.factor, fast.stuck.min_share, fast.stuck.min_devices) == (3.0, 0.01, 20)


def test_the_demos_volume_guards_shrink_with_its_fleet_but_never_below_two() -> None:
    assert scenario.rules(300).stuck.min_devices == 3  # 20 for 2,000 Macs -> 1% of 300
    assert scenario.rules(300).regression.min_active_devices == 30
    assert scenario.rules(10).loss.min_lost == 2


def _snapshot() -> Snapshot:
    return Snapshot(
        elapsed_s=75.4,
        events_per_s=123.4,
        versions=(VersionRow("14.4", 90, 1, 0, 7), VersionRow("15.1", 75, 12, 3, 140)),
        alerts=(
            AlertState(
                "NetdownReleaseRegression", "firing", "ticket", "os_version=15.1", "18:05:46", ("netdown-ticket",)
            ),
        ),
        progress=LiveProgress(total=9_000, spooled=8_000, sent=7_990, events_per_s=101.0, sim_ms=1_075_000, done=False),
    )


RUN = Run(devices=300, start_ms=1_000_000, duration_s=1800, until_stopped=True, urls={"Prometheus": "http://p:1"})


def test_the_view_shows_the_fleet_releases_alerts_and_urls() -> None:
    console = Console(record=True, width=140, color_system=None)
    console.print(render(_snapshot(), RUN))
    text = console.export_text()
    for expected in (
        "300 simulated Macs",
        "01:15/30:00 fleet time",
        "123 events/s processed",
        "13 open episodes",
        "3 stuck",
        "NetdownReleaseRegression",
        "os_version=15.1",
        "netdown-ticket",
        "http://p:1",
        "Ctrl-C stops everything",
    ):
        assert expected in text


def test_off_a_terminal_one_status_line_carries_the_same_figures() -> None:
    line = status_line(_snapshot(), RUN)
    assert line == (
        "t=75s fleet=01:15/30:00 published=7990/9000 events/s=123 active=165 open=13 stuck=3 episodes=147 "
        "alerts=NetdownReleaseRegression:firing"
    )


def test_the_summary_lists_fired_alerts_first_and_ends_with_the_score() -> None:
    seen = {
        "NetdownPipelineStalled": AlertSeen("page", "pending"),
        "NetdownReleaseRegression": AlertSeen("ticket", "firing", {"netdown-ticket"}),
    }
    assert alerts_line(seen) == (
        "alerts seen: NetdownReleaseRegression (ticket) fired -> netdown-ticket; "
        "NetdownPipelineStalled (page) pending only"
    )
    assert alerts_line({}) == "alerts seen: none"
    truth = GroundTruth(
        RunInfo(start_ms=0, end_ms=60_000, seed=1, window_ms=1, settle_ms=1, stuck_ms=1, lateness_ms=1, stale_ms=1)
    )
    truth.episodes.append(
        TrueEpisode(device_id="mac-1", app="app", opened_ms=1_000, closed_ms=None, stuck=True, close_reason=None)
    )
    opened = Incident(
        device_id="mac-1", app="app", opened_ms=1_200, os_version="15.1", os_build="", platform="darwin", evidence=()
    )
    lines = scored(
        fleet=fleet_line(60, 60, 3, 1_234),
        truth=truth,
        incidents=[opened, msgspec.structs.replace(opened, stuck=True)],
        score=Score(9, 1, 0, 0, 0, 0),
    )
    assert lines[0] == "fleet: 60 simulated Macs for 60 s (seed 3), 1,234 events published"
    assert "episodes planted: 1 (1 stuck); detected by the worker: 1 (1 stuck), from 2 incident records" in lines
    assert lines[-1] == "precision=0.90 recall=1.00"
