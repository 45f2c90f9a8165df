"""The worker's metrics: sums over the device records of owned partitions, a stable exposition promtool accepts.

``tests/fixtures/metrics/worker.prom`` is the golden exposition of a small fleet (``_created``
timestamps aside); ``NETDOWN_UPDATE_GOLDEN=1`` rewrites it from the code for review.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

import pytest
from faust.types import TP

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.devstack.stream_worker import Metrics
from netdown.stream.engine import Context, apply_events, apply_tick
from netdown.stream.labels import Labeler
from netdown.stream.metrics import WorkerMetrics, WorkerMonitor
from netdown.stream.partition_totals import PartitionTotals
from netdown.stream.record import DeviceRecord
from netdown.testing import APP, T0_MS, Device, source

GOLDEN: Final = Path(__file__).resolve().parents[1] / "fixtures" / "metrics" / "worker.prom"
PARAMS: Final = DetectorParams(settle_ms=2_000, lateness_ms=1_000, stuck_ms=60_000, stale_ms=600_000)
CONTEXT: Final = Context(params=PARAMS, labeler=Labeler.from_apps([APP]))
NOW_MS: Final = T0_MS + 1_000_000


def _records() -> dict[bytes, DeviceRecord]:
    """Three devices on two partitions: a closed episode, a stuck open one, a quiet device seen long ago."""
    closed = Device("mac-closed-0001", os_version="14.4.1")
    closed.heartbeat(T0_MS)
    closed.system_path(T0_MS + 1_000)
    closed.conn(T0_MS + 10_000, enetdown=True)
    closed.conn(T0_MS + 40_000)
    closed.lose(2)
    closed.probe(T0_MS + 50_000)
    stuck = Device("mac-stuck-00002", os_version="15.1")
    # Its agent cannot read its system path (a command it polls is missing), so it is blind on it.
    stuck.heartbeat(
        T0_MS, sources=(source("macos_path", "system_path", running=False), source("app_events", "app_view"))
    )
    stuck.system_path(T0_MS + 1_000)
    stuck.conn(T0_MS + 10_000, enetdown=True)
    stuck.probe(T0_MS + 100_000)
    quiet = Device("linux-quiet-0003", os_version="6.8.0-45-generic", platform="linux")
    quiet.heartbeat(T0_MS)
    quiet.heartbeat(T0_MS + 5_000)
    records: dict[bytes, DeviceRecord] = {}
    for partition, device, arrival_ms in ((0, closed, NOW_MS), (0, stuck, NOW_MS), (1, quiet, T0_MS)):
        records[device.device_id.encode()] = _replay(device.events, partition, arrival_ms)
    return records


def _replay(events: list[wire.Event], partition: int, now_ms: int) -> DeviceRecord:
    items = [(event, offset) for offset, event in enumerate(events)]
    outcome = apply_events(None, items, partition=partition, now_ms=now_ms, context=CONTEXT)
    assert outcome is not None
    # The worker's tick, L later: what waited for processing time (here the lost events) is settled.
    return apply_tick(outcome.record, now_ms=now_ms + PARAMS.lateness_ms, context=CONTEXT).record


def _metrics(view: PartitionTotals) -> WorkerMetrics:
    metrics = WorkerMetrics(
        view,
        stale_ms=PARAMS.stale_ms,
        info={"version": "0.0.0-test", "app_id": "netdown-stream"},
        consumer_lag=lambda: {("netdown.events.v1", 0): 12, ("netdown.events.v1", 1): 0},
        clock_ms=lambda: NOW_MS,
    )
    metrics.rejected.labels(reason="malformed_json").inc()
    metrics.event_lag.observe(3.5)
    metrics.batch_duration.observe(0.02)
    metrics.received.inc(42)
    return metrics


def test_fleet_view_updated_record_by_record_equals_one_rebuilt_from_the_records() -> None:
    records = _records()
    rebuilt = PartitionTotals()
    rebuilt.rebuild(records.items(), partitions={0, 1})
    incremental = PartitionTotals()
    for key, record in records.items():
        incremental.update(key, record, record.counters)
    assert incremental.totals == rebuilt.totals
    assert incremental.devices == rebuilt.devices
    assert rebuilt.totals[0].events == {"heartbeat": 2, "path": 2, "conn": 3, "probe": 2}
    assert rebuilt.totals[0].lost == 2


def test_a_rebuild_counts_only_the_partitions_the_worker_owns() -> None:
    view = PartitionTotals()
    view.rebuild(_records().items(), partitions={1, 7})
    assert set(view.totals) == {1, 7}
    assert [facts.partition for facts in view.devices.values()] == [1]
    assert sum(view.totals[7].events.values()) == 0  # owned but empty: exported as zero, not absent


def test_a_revoked_partition_stops_being_exported_and_the_others_keep_their_totals() -> None:
    view = PartitionTotals()
    view.rebuild(_records().items(), partitions={0, 1})
    kept = view.totals[0]
    view.retain({0})
    assert view.totals == {0: kept}
    assert {facts.partition for facts in view.devices.values()} == {0}


def test_gauges_count_affected_stuck_and_recently_seen_devices_by_release() -> None:
    view = PartitionTotals()
    view.rebuild(_records().items(), partitions={0, 1})
    gauges = view.gauges(NOW_MS, PARAMS.stale_ms)
    counts = {key: (slot.affected, slot.stuck, slot.active) for key, slot in gauges.items()}
    assert counts[(0, "15.1")] == (1, 1, 1)  # the stuck episode's device
    assert counts[(0, "14.4")] == (0, 0, 1)
    assert counts[(1, "6.8")] == (0, 0, 0)  # last seen a million ms ago: stale after 600 s


def test_scraped_metrics_sum_over_partitions_like_prometheus_rules() -> None:
    view = PartitionTotals()
    view.rebuild(_records().items(), partitions={0, 1})
    scraped = Metrics(_metrics(view).render().decode())
    assert scraped.value("netdown_episodes_total") == 2
    assert scraped.value("netdown_episodes_total", os_version="15.1", app=APP) == 1
    assert scraped.by("netdown_failure_signals_total", "class") == {"episode": 2.0}
    assert scraped.value("netdown_episode_duration_seconds_count") == 1
    assert scraped.value("netdown_episode_duration_seconds_sum") == 30
    assert scraped.value("netdown_devices_active") == 2
    assert scraped.value("netdown_devices_reporting_sources") == 1
    assert scraped.by("netdown_devices_blind", "role") == {"system_path": 1.0, "app_view": 0.0}
    assert scraped.by("netdown_agent_sources_failing", "source") == {"macos_path": 1.0}
    assert scraped.value("netdown_consumer_lag") == 12
    assert scraped.value("netdown_events_rejected_total") == 1
    assert scraped.value("netdown_messages_received_total") == 42


def test_the_faust_sensor_keeps_its_end_offsets_without_per_message_series() -> None:
    metrics = _metrics(PartitionTotals())
    monitor = WorkerMonitor(metrics=metrics.faust)
    tp = TP("netdown.events.v1", 3)
    for offset in range(5):
        monitor.track_tp_end_offset(tp, offset + 100)
    assert monitor.tp_end_offsets == {tp: 104}  # what netdown_consumer_lag reads
    names = {sample.name for sample in Metrics(metrics.render().decode()).samples}
    assert "faust_consumer_commit_latency_count" in names  # Faust's per-commit and per-rebalance series stay
    assert not [name for name in names if name.startswith(("faust_messages_", "faust_total_events", "faust_events"))]
    assert not [name for name in names if name.startswith("faust_topic_partition_end_offset")]


def test_exposition_matches_the_golden_file() -> None:
    view = PartitionTotals()
    view.rebuild(_records().items(), partitions={0, 1})
    exposition = "".join(
        line + "\n" for line in _metrics(view).render().decode().splitlines() if "_created" not in line
    )
    if os.environ.get("NETDOWN_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(exposition, encoding="utf-8")
    assert exposition == GOLDEN.read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_accepts_the_exposition() -> None:
    view = PartitionTotals()
    view.rebuild(_records().items(), partitions={0, 1})
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=_metrics(view).render(), capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
