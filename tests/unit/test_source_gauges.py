"""Agent source health as fleet gauges: failing sources, devices blind on a role, devices that report at all.

Each device's facts come from its latest applied heartbeat (the inventory); the counts are taken at scrape
over the devices seen within S, under bounded labels whatever a device names its sources.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, generate_latest

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.devstack.stream_worker import Metrics
from netdown.stream.engine import Context, apply_events
from netdown.stream.labels import OTHER
from netdown.stream.metrics import FleetCollector
from netdown.stream.partition_totals import PartitionTotals
from netdown.stream.record import DeviceRecord
from netdown.testing import T0_MS, Device, source

PARAMS: Final = DetectorParams(lateness_ms=1_000, stale_ms=600_000)
CONTEXT: Final = Context(params=PARAMS)
NOW_MS: Final = T0_MS + 1_000_000
HEALTHY: Final = (
    source("macos_path", "system_path"),
    source("unified_log", "app_view"),
    source("app_events", "app_view"),
    source("probes", "probe"),
)


def _record(device: Device, *, partition: int = 0, arrival_ms: int = NOW_MS) -> DeviceRecord:
    """The device's record after its events, the last of them applied (processing time moved past L)."""
    device.probe(device.events[-1].ts_ms + 10 * PARAMS.lateness_ms)  # releases the heartbeats from the buffer
    items = [(event, offset) for offset, event in enumerate(device.events)]
    outcome = apply_events(None, items, partition=partition, now_ms=arrival_ms, context=CONTEXT)
    assert outcome is not None
    return outcome.record


def _view(*records: DeviceRecord) -> PartitionTotals:
    view = PartitionTotals()
    for index, record in enumerate(records):
        view.update(f"device-{index:04d}".encode(), record, record.counters)
    return view


def _scrape(view: PartitionTotals, now_ms: int = NOW_MS) -> Metrics:
    registry = CollectorRegistry()
    registry.register(FleetCollector(view, stale_ms=PARAMS.stale_ms, clock_ms=lambda: now_ms))
    return Metrics(generate_latest(registry).decode())


def _device(name: str, *sources: wire.SourceHealth, os_version: str = "15.1") -> Device:
    device = Device(f"mac-{name}".ljust(12, "0"), os_version=os_version)
    device.heartbeat(T0_MS, sources=sources)
    return device


def test_a_device_without_a_running_source_of_a_role_is_blind_on_it_and_its_failing_source_is_counted() -> None:
    # `log stream` denied and the app's own events file gone: both app-view sources down, blind on app_view.
    app_view_lost = tuple(source(s.name, s.role, running=s.role != "app_view") for s in HEALTHY)
    # Only `log stream` denied: app_events still sees the app, so the device is not blind.
    log_denied = tuple(source(s.name, s.role, running=s.name != "unified_log") for s in HEALTHY)
    scraped = _scrape(
        _view(
            _record(_device("healthy", *HEALTHY)),
            _record(_device("app-view-lost", *app_view_lost)),
            _record(_device("log-denied", *log_denied)),
        )
    )
    assert scraped.value("netdown_devices_reporting_sources") == 3
    assert scraped.by("netdown_devices_blind", "role") == {"system_path": 0, "app_view": 1}
    assert scraped.sum_by("netdown_agent_sources_failing", "source", "role") == {
        ("app_events", "app_view"): 1,
        ("unified_log", "app_view"): 2,
    }


def test_a_device_that_reports_no_source_of_a_role_at_all_is_blind_on_it() -> None:
    scraped = _scrape(_view(_record(_device("no-app-view", source("macos_path", "system_path")))))
    assert scraped.by("netdown_devices_blind", "role") == {"system_path": 0, "app_view": 1}
    assert scraped.value("netdown_agent_sources_failing") == 0  # nothing reported failing: nothing named


def test_an_older_agent_that_reports_no_sources_is_unknown_not_blind() -> None:
    scraped = _scrape(_view(_record(_device("older-agent")), _record(_device("newer", *HEALTHY))))
    assert scraped.value("netdown_devices_active") == 2
    assert scraped.value("netdown_devices_reporting_sources") == 1
    assert scraped.value("netdown_devices_blind") == 0


def test_the_latest_heartbeat_decides() -> None:
    device = _device("recovered", source("macos_path", "system_path", running=False), source("app_events", "app_view"))
    device.heartbeat(T0_MS + 60_000, sources=HEALTHY)  # the command is back after the OS update finished
    scraped = _scrape(_view(_record(device)))
    assert scraped.value("netdown_devices_blind") == 0
    assert scraped.value("netdown_agent_sources_failing") == 0


def test_hostile_source_names_are_counted_under_other_each_device_once() -> None:
    names = [f"evil-{index}-{'x' * 200}" for index in range(wire.MAX_SOURCES)]
    hostile = _device("hostile", *(source(name, "system_path", running=False) for name in names))
    scraped = _scrape(_view(_record(hostile)))
    failing = scraped.sum_by("netdown_agent_sources_failing", "source", "role")
    assert failing == {(OTHER, "system_path"): 1}  # sixteen made-up sources: one label value, one device
    assert scraped.by("netdown_devices_blind", "role") == {"system_path": 1, "app_view": 1}


def test_stale_devices_count_neither_as_reporting_nor_blind_nor_failing() -> None:
    blind = (source("macos_path", "system_path", running=False), source("app_events", "app_view", running=False))
    stale = _record(_device("stale", *blind), arrival_ms=NOW_MS - PARAMS.stale_ms - 1)
    fresh = _record(_device("fresh", *blind), partition=1, arrival_ms=NOW_MS - PARAMS.stale_ms)
    scraped = _scrape(_view(stale, fresh))
    assert scraped.by("netdown_devices_reporting_sources", "partition") == {"0": 0, "1": 1}
    assert scraped.sum_by("netdown_devices_blind", "partition", "role") == {
        ("0", "system_path"): 0,
        ("0", "app_view"): 0,
        ("1", "system_path"): 1,
        ("1", "app_view"): 1,
    }
    assert scraped.by("netdown_agent_sources_failing", "partition") == {"1": 2}
    assert _scrape(_view(stale, fresh), now_ms=NOW_MS + 1).value("netdown_devices_blind") == 0


def test_source_gauges_are_by_normalised_release() -> None:
    denied = (source("macos_path", "system_path", running=False), source("app_events", "app_view"))
    scraped = _scrape(
        _view(
            _record(_device("sequoia", *denied, os_version="15.4.1")),
            _record(_device("tahoe", *denied, os_version="26.0")),
            _record(_device("future", *denied, os_version="99.1")),
        )
    )
    assert scraped.by("netdown_agent_sources_failing", "os_version") == {"15.4": 1, "26.0": 1, OTHER: 1}
    assert scraped.by("netdown_devices_blind", "os_version") == {"15.4": 1, "26.0": 1, OTHER: 1}
