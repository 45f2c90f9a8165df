"""``netdown-report releases`` against a real broker, a real worker and a real Prometheus.

A simulated fleet of three releases, one of them (15.2, build 24C101) with three times the episode
hazard, goes through the broker to a worker that Prometheus scrapes every second. The report must
flag exactly 15.2 twice over: from Prometheus's HTTP API (releases, over a wall-clock window that
covers the fleet), and from the worker's device-facts and incidents topics (releases and builds,
over an event-time window), where ``suspects`` must also name build 24C101.

Prometheus's ``increase()`` takes a series' first sample as its baseline, so an episode counter
born inside the window loses its first count; in production a 7-day window starts long after the
series were born, here a warm-up fleet of the same releases creates them before the window opens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest

from netdown.detection.detector import DetectorParams
from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.prometheus import Prometheus
from netdown.devstack.stream_worker import Metrics, StreamWorker, create_topics, produce
from netdown.report.cli import main
from netdown.sim import MONITORED_APP, FleetSpec, Release, Simulation, simulate
from netdown.testing import messages

# S is short so that the worker republishes a device's unchanged facts every S/2 of its time: the
# devices topic's last_seen (the end of each device's device-time) is then late by 30 s at most.
PARAMS: Final = DetectorParams(window_ms=6_000, settle_ms=2_000, stuck_ms=60_000, lateness_ms=10_000, stale_ms=60_000)
FLAGS: Final = (
    f"--window={PARAMS.window_ms / 1000:g}",
    f"--settle={PARAMS.settle_ms / 1000:g}",
    f"--stuck-after={PARAMS.stuck_ms / 1000:g}",
    f"--lateness={PARAMS.lateness_ms / 1000:g}",
    f"--stale-after={PARAMS.stale_ms / 1000:g}",
    f"--metric-apps={MONITORED_APP}",
)
RELEASES: Final = (
    Release("15.2", "24C101", weight=1, incidence=3.0),
    Release("15.1", "24B83", weight=1),
    Release("14.7", "23H124", weight=1),
)


def _fleet(devices: int, seed: int, rate: float) -> Simulation:
    """Ten minutes of a fleet that ended now: produced at once, its events are a spool replay, never early."""
    spec = FleetSpec(
        devices=devices,
        seed=seed,
        releases=RELEASES,
        episodes_per_device_day=rate,
    )
    duration_ms = 600_000
    return simulate(spec, start_ms=time.time_ns() // 1_000_000 - duration_ms, duration_ms=duration_ms, params=PARAMS)


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _processed(worker: StreamWorker, count: int) -> Callable[[Metrics], bool]:
    """Whether the worker has applied (or dropped as duplicate or late) ``count`` events."""
    return lambda m: m.value("netdown_events_total") + m.value("netdown_events_dropped_total") >= count


def test_releases_report_flags_exactly_the_worse_release(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One partition: one episode series per release, so the warm-up below creates every one of them.
    devices_topic = f"{topic_name}.devices"
    worker = StreamWorker.named(
        kafka.bootstrap,
        tmp_path / "worker",
        topic_name,
        partitions=1,
        extra_args=(*FLAGS, f"--devices-topic={devices_topic}"),
    )
    create_topics(kafka.bootstrap, [worker.events_topic], 1)
    with worker, Prometheus(tmp_path / "prometheus", targets=[worker.metrics_url.split("/")[2]]) as prometheus:
        warmup = _fleet(30, seed=101, rate=400)
        sent = produce(kafka.bootstrap, worker.events_topic, messages([d.event for d in warmup.deliveries]))
        worker.wait_for(_processed(worker, sent), 90)
        _wait(
            lambda: len(prometheus.query('count by (os_version) (netdown_episodes_total{job="netdown-stream"})')) == 3,
            30,
            "an episode series for each release",
        )
        time.sleep(3)  # a few scrapes of the warm-up's final counts: the baselines
        start = time.time()

        fleet = _fleet(300, seed=7, rate=60)
        sent += produce(kafka.bootstrap, worker.events_topic, messages([d.event for d in fleet.deliveries]))
        worker.wait_for(_processed(worker, sent), 120)
        time.sleep(3)  # the final counts scraped
        end = time.time()

        window = ["--at", f"{end:.3f}", "--range", f"{end - start:.0f}s"]
        from_prometheus = _report(capsys, ["releases", "--prometheus", prometheus.url, *window])
        # The fleets' events span the 10 minutes before they were sent (event time): a 30-minute window holds them.
        topics = [
            "--broker", kafka.bootstrap, "--devices-topic", devices_topic,
            "--incidents-topic", worker.incidents_topic, "--at", f"{end:.3f}", "--range", "30m",
        ]  # fmt: skip
        from_topics = _report(capsys, ["releases", *topics])
        suspects = _report(capsys, ["suspects", *topics])

    for report, table in (from_prometheus, from_topics):
        versions = {row["name"]: row for row in report["versions"]}
        assert {"15.2", "15.1", "14.7"} <= set(versions), table
        assert [name for name, row in versions.items() if row["flagged"]] == ["15.2"], table
        assert versions["15.2"]["ratio_low"] > 1.5, table  # planted: 3; clearly worse, not by a hair
    report, table = from_topics
    assert [row["name"] for row in report["builds"] if row["flagged"]] == ["24C101"], table
    assert sum(row["devices"] for row in report["builds"]) == 330, table  # warm-up and fleet, every one seen
    report, table = suspects
    assert report["ranked"][0]["fact"] == "build:24C101", table
    assert [row["fact"] for row in report["ranked"] if row["flagged"]] == ["build:24C101"], table
    print(from_prometheus[1], from_topics[1], suspects[1], sep="\n")  # shown with -s: as a person reads them


def _report(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[dict[str, Any], str]:
    """The report as JSON (to check) and as a table (to show when a check fails)."""
    assert main([*argv, "--format", "json"]) == 0, capsys.readouterr().err
    data = json.loads(capsys.readouterr().out)
    assert main(argv) == 0, capsys.readouterr().err
    return data, capsys.readouterr().out
