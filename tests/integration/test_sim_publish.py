"""A simulated fleet published through the agent's spool and publisher reaches the broker whole and in order."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.stream_worker import create_topics, read_topic
from netdown.sim import FleetSpec, read_truth, simulate
from netdown.sim.cli import main
from netdown.sim.live import LiveProgress, LivePublisher
from netdown.testing import T0_MS

DEMO = DetectorParams(window_ms=6_000, settle_ms=2_000, stuck_ms=30_000, lateness_ms=10_000, stale_ms=60_000)


def test_every_delivery_reaches_the_topic_keyed_by_its_device_in_order(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    spec = FleetSpec(devices=20, seed=2, episodes_per_device_day=2_000, p_duplicate=0.02, p_late_spool=0.3)
    simulation = simulate(spec, start_ms=T0_MS, duration_ms=60_000, params=DEMO)
    create_topics(kafka.bootstrap, [topic_name], partitions=3)
    reports: list[LiveProgress] = []
    publisher = LivePublisher(
        simulation, bootstrap=kafka.bootstrap, spool_dir=tmp_path / "spool", topic=topic_name, speed=20
    )

    final = publisher.run(threading.Event(), on_progress=reports.append, every_s=0.5)

    sent = [wire.encode(delivery.event) for delivery in simulation.deliveries]
    assert final.done
    assert final.total == final.spooled == final.sent == len(sent)
    assert len(reports) > 1
    assert [r.spooled for r in reports] == sorted(r.spooled for r in reports)
    records = read_topic(kafka.bootstrap, topic_name)
    assert Counter(record.value for record in records) == Counter(sent)  # nothing lost, nothing added
    expected: dict[str, list[bytes]] = {}
    for delivery, line in zip(simulation.deliveries, sent, strict=True):
        expected.setdefault(delivery.event.device_id, []).append(line)
    received: dict[str, list[bytes]] = {}
    for record in records:  # in partition order: a device's records are all in one partition
        assert record.value is not None
        event = wire.decode(record.value)
        assert not isinstance(event, wire.Rejection)
        assert record.key == event.device_id.encode()
        received.setdefault(event.device_id, []).append(record.value)
    assert received == expected


def test_stopping_a_live_run_returns_promptly(kafka: KafkaBroker, topic_name: str, tmp_path: Path) -> None:
    simulation = simulate(FleetSpec(devices=5, seed=1), start_ms=T0_MS, duration_ms=600_000, params=DEMO)
    create_topics(kafka.bootstrap, [topic_name], partitions=1)
    stop = threading.Event()
    publisher = LivePublisher(simulation, bootstrap=kafka.bootstrap, spool_dir=tmp_path / "spool", topic=topic_name)
    timer = threading.Timer(1.0, stop.set)
    timer.start()

    final = publisher.run(stop)

    assert final.done
    assert 0 < final.spooled < final.total


def test_the_publish_command_sends_the_fleet_its_truth_describes(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    create_topics(kafka.bootstrap, [topic_name], partitions=2)
    truth_path = tmp_path / "truth.ndjson"
    flags = ["--window", "6", "--settle", "2", "--stuck-after", "30", "--lateness", "10", "--stale-after", "60"]

    fleet = ["--devices", "5", "--duration", "30s", "--speed", "30", *flags]
    code = main(["publish", *fleet, "--bootstrap", kafka.bootstrap, "--topic", topic_name, "--truth", str(truth_path)])

    assert code == 0
    truth = read_truth(truth_path.read_bytes().splitlines())
    records = read_topic(kafka.bootstrap, topic_name)
    assert {record.key for record in records} == {device.device_id.encode() for device in truth.devices}
    for record in records:
        event = wire.decode(record.value or b"")
        assert not isinstance(event, wire.Rejection)
        assert truth.run.start_ms <= event.ts_ms < truth.run.end_ms
