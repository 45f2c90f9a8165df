"""End to end: simulated fleet -> real broker -> real worker -> real Prometheus -> dashboards and alerts.

Prometheus scrapes the worker as job ``netdown-stream`` every second and loads the project's rules,
rendered from ``netdown.dashboards.config`` with short windows (the design allows short test
intervals; the rules' arithmetic is proven by the promtool unit tests). Then:

* every panel query of every dashboard returns data;
* every series an alert or recording rule reads exists under the names the workers expose;
* Macs whose agents report their system-path source down make ``NetdownAgentsBlind`` fire, from the
  blind and reporting gauges as Prometheus scraped them;
* after a quiet spell, an injected burst of episodes makes ``NetdownEpisodeSpike`` fire.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import yaml

from netdown.dashboards.config import CONFIG, scaled
from netdown.dashboards.dashboards import all_queries
from netdown.dashboards.rules import write_rule_files
from netdown.detection.detector import DetectorParams
from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.prometheus import Prometheus
from netdown.devstack.stream_worker import StreamWorker, create_topics, produce
from netdown.testing import APP, T0_MS, Device, messages, simulated_fleet, source

PARTITIONS = 3
FLAGS = ("--window=30", "--settle=2", "--stuck-after=20", "--lateness=1", "--stale-after=3600", f"--metric-apps={APP}")
PARAMS = DetectorParams(window_ms=30_000, settle_ms=2_000, stuck_ms=20_000, lateness_ms=1_000, stale_ms=3_600_000)
FLEET_MS = 600_000  # ten minutes of FLEET_DEVICES simulated Macs
FLEET_DEVICES = 30  # per simulated fleet; two are sent
# The spike alert with every duration 180 times shorter (15 min -> 5 s, 30 min -> 10 s, 3 h -> 60 s),
# `for` of 1 s, and a volume guard for a test-sized fleet; factor and structure as shipped. The blind-agents
# alert with a `for` of 1 s, share and device floor as shipped.
TEST_RULES = dataclasses.replace(
    CONFIG,
    spike=dataclasses.replace(scaled(CONFIG.spike, 180), for_=timedelta(seconds=1), min_episodes=5),
    blind=dataclasses.replace(CONFIG.blind, for_=timedelta(seconds=1)),
)
# Past the floor, and 12 of the 73 Macs reporting sources (the simulated fleets' run theirs): past the share.
BLIND_DEVICES = CONFIG.blind.min_devices + 2
SERIES = re.compile(r"\b(?:netdown[:_][A-Za-z0-9_:]*|[a-z_]+:netdown[A-Za-z0-9_:]*)\b")


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _firing(prometheus: Prometheus, name: str) -> bool:
    return any(a["labels"]["alertname"] == name and a["state"] == "firing" for a in prometheus.alerts())


def _episode_burst(devices: int, start_ms: int) -> list[tuple[bytes, bytes]]:
    """Fresh devices whose app gets ENETDOWN 20 s after their system path came up: one episode each.

    On a release the fleets already have, so the burst grows series Prometheus holds: rate() cannot
    see the first value of a brand-new series.
    """
    events = []
    for index in range(devices):
        device = Device(f"mac-burst-{index:06d}", os_version="14.4.1")
        device.heartbeat(start_ms)
        device.system_path(start_ms + 1_000)
        device.conn(start_ms + 21_000, enetdown=True)
        device.probe(start_ms + 40_000)
        events += device.events
    return list(messages(sorted(events, key=lambda event: event.ts_ms)))


def _fleet(seed: int) -> list[tuple[bytes, bytes]]:
    """One simulated fleet of FLEET_DEVICES Macs, as the messages their agents send."""
    return list(messages(simulated_fleet(FLEET_DEVICES, FLEET_MS, seed=seed, params=PARAMS)))


def _blind_agents(devices: int) -> list[tuple[bytes, bytes]]:
    """Macs whose system-path source stopped (and one that sees everything): the blind-agents panel and alert's
    input. Their heartbeats report source health, unlike the simulated fleets' older agents."""
    app_view = (source("unified_log", "app_view"), source("app_events", "app_view"))
    events = []
    for index in range(devices + 1):
        device = Device(f"mac-blind-{index:06d}", os_version="26.1")
        device.heartbeat(T0_MS, sources=(source("macos_path", "system_path", running=index == devices), *app_view))
        device.probe(T0_MS + 5_000)
        events += device.events
    return list(messages(sorted(events, key=lambda event: event.ts_ms)))


def _values(prometheus: Prometheus, expr: str, label: str) -> dict[str, float]:
    return {series["metric"][label]: float(series["value"][1]) for series in prometheus.query(expr)}


def test_fleet_to_dashboards_and_alerts(kafka: KafkaBroker, topic_name: str, tmp_path: Path) -> None:
    worker = StreamWorker.named(
        kafka.bootstrap, tmp_path / "worker", topic_name, partitions=PARTITIONS, extra_args=FLAGS
    )
    create_topics(kafka.bootstrap, [worker.events_topic], PARTITIONS)
    rule_files = write_rule_files(tmp_path / "rules", TEST_RULES)
    with (
        worker,
        Prometheus(
            tmp_path / "prometheus", targets=[worker.metrics_url.split("/")[2]], rule_files=rule_files
        ) as prometheus,
    ):
        produce(kafka.bootstrap, worker.events_topic, _fleet(seed=5))
        produce(kafka.bootstrap, worker.events_topic, [(b"mac-garbage-0001", b"{not json")])
        produce(kafka.bootstrap, worker.events_topic, _blind_agents(BLIND_DEVICES))
        _wait(lambda: prometheus.query('sum(netdown_episodes_total{job="netdown-stream"}) > 0'), 90, "episodes")
        # A counter's first sample is its baseline for increase(): a second fleet of the same
        # releases and apps makes the series Prometheus already holds grow.
        time.sleep(3)
        before = prometheus.query('sum(netdown_episodes_total{job="netdown-stream"})')[0]["value"][1]
        produce(kafka.bootstrap, worker.events_topic, _fleet(seed=6))
        _wait(
            lambda: prometheus.query(f'sum(netdown_episodes_total{{job="netdown-stream"}}) > {before}'),
            90,
            "the second fleet's episodes",
        )
        time.sleep(10)  # several scrapes after the fleet was processed: rates have two samples or more

        empty = []
        for uid, title, expr in all_queries():
            # Per-day panels average on a 5-minute grid; a test of minutes uses a 5-second one.
            if not prometheus.query(expr.replace(":5m]", ":5s]")):
                empty.append(f"{uid} / {title}: {expr}")
        assert not empty, "panels without data:\n" + "\n".join(empty)

        # NetdownAgentsBlind's inputs, as scraped: the simulated Macs report their sources running, _blind_agents'
        # report their system path source down (and one healthy).
        assert _values(prometheus, 'sum by (role) (netdown_devices_blind{job="netdown-stream"})', "role") == {
            "system_path": BLIND_DEVICES,
            "app_view": 0,
        }
        assert prometheus.query('sum(netdown_devices_reporting_sources{job="netdown-stream"})')[0]["value"][1] == str(
            2 * FLEET_DEVICES + BLIND_DEVICES + 1
        )
        failing = 'sum by (source) (netdown_agent_sources_failing{job="netdown-stream"})'
        assert _values(prometheus, failing, "source") == {"macos_path": BLIND_DEVICES}
        _wait(lambda: _firing(prometheus, "NetdownAgentsBlind"), 60, "NetdownAgentsBlind to fire")

        # The baseline is the recent maximum rate: let the fleets' own episodes age out of it first.
        _wait(lambda: prometheus.query("netdown:episodes:rate_baseline == 0"), 150, "a quiet baseline")
        assert not _firing(prometheus, "NetdownEpisodeSpike")
        produce(kafka.bootstrap, worker.events_topic, _episode_burst(40, T0_MS + 10_000_000))
        _wait(lambda: _firing(prometheus, "NetdownEpisodeSpike"), 90, "NetdownEpisodeSpike to fire")
        rules = [
            rule
            for path in rule_files
            for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"]
        ]
        read = {name for rule in rules for name in SERIES.findall(rule["expr"])}

        def missing() -> list[str]:
            return sorted(name for name in read if not prometheus.query(f'count({{__name__="{name}"}})'))

        # Rates are recorded only once their input is older than their window (a new series is not a
        # spike), so the longest window must pass before every series the rules read exists.
        _wait(lambda: not missing(), 120, f"every series the rules read: {missing()}")
