"""The real worker against the real broker, fed what a broken or hostile client can send: one message far
larger than the worker may forward, an event a year ahead of every clock, devices that go silent for good.

Each held before only by luck or not at all: the oversized message stopped every worker on every start
(its dead letter was refused by the producer, so the batch was never acked); the clock jump opened an
episode nothing could close and hid the device's later events; silent devices were kept forever.
"""

from __future__ import annotations

import hashlib
import time
from functools import partial
from pathlib import Path

from kafka import KafkaProducer

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.stream_worker import Metrics, StreamWorker, create_topics, produce, read_topic
from netdown.stream.dlq import MAX_FORWARDED_VALUE_BYTES
from netdown.stream.replay_run import ReplayRun
from netdown.stream.settings import detector_flags
from netdown.testing import APP, T0_MS, Device, messages
from tests.integration.device_facts import latest_device_facts

PARTITIONS = 2
PARAMS = DetectorParams(window_ms=30_000, settle_ms=2_000, stuck_ms=600_000, lateness_ms=1_000, stale_ms=3_600_000)
DETECTOR_FLAGS = tuple(detector_flags(PARAMS))
POISON_BYTES = 3 << 20  # 3 MiB: three times the worker's producer limit, a few KiB once gzipped


def _healthy_device(device_id: str, start_ms: int, *, failures: int = 0) -> Device:
    device = Device(device_id)
    device.heartbeat(start_ms)
    device.system_path(start_ms + 1_000)
    device.probe(start_ms + 2_000)
    for index in range(failures):
        device.conn(start_ms + 10_000 + index * 10_000, enetdown=True)
        device.conn(start_ms + 15_000 + index * 10_000)
    return device


def _produce_poison(bootstrap: str, topic: str, key: bytes) -> bytes:
    """A message the broker takes (its limit is on the compressed batch) and no default producer could forward."""
    value = b'{"v": 1, "type": "heartbeat", "pad": "' + b" " * POISON_BYTES + b'"}'
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip", max_request_size=16 << 20)
    try:
        producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()
    return value


def test_a_message_too_large_to_forward_is_cut_into_the_dlq_and_every_restart_keeps_processing(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    worker = StreamWorker.named(kafka.bootstrap, tmp_path, topic_name, partitions=PARTITIONS, extra_args=DETECTOR_FLAGS)
    create_topics(kafka.bootstrap, [worker.events_topic], PARTITIONS)
    before = _healthy_device("mac-before-0001", T0_MS, failures=1)
    produce(kafka.bootstrap, worker.events_topic, messages(before.events))
    poison = _produce_poison(kafka.bootstrap, worker.events_topic, b"mac-before-0001")
    after = _healthy_device("mac-after-00002", T0_MS, failures=1)
    produce(kafka.bootstrap, worker.events_topic, messages(after.events))
    expected = len(before.events) + len(after.events)

    with worker:
        worker.wait_for(
            lambda m: m.value("netdown_events_total") == expected and m.value("netdown_episodes_total") == 2,
            timeout=90,
        )
    for restart in range(3):
        more = _healthy_device(f"mac-restart-{restart:04d}", T0_MS, failures=1)
        produce(kafka.bootstrap, worker.events_topic, messages(more.events))
        expected += len(more.events)
        worker.start()
        metrics = worker.wait_for(partial(_processed, expected), timeout=90)
        assert metrics.value("netdown_output_errors_total") == 0
        assert worker.stop() == 0, worker.log_tail()
    assert metrics.value("netdown_episodes_total") == 5, "every device after the poison was processed"

    dead = read_topic(kafka.bootstrap, worker.dlq_topic)
    assert dead, "the poison message reached the dead-letter topic"
    letter = dead[0]
    headers = dict(letter.headers)
    assert headers["dlq.reason"] == b"too_large"
    assert headers["dlq.original.value_bytes"] == str(len(poison)).encode()
    assert headers["dlq.original.value_sha256"] == hashlib.sha256(poison).hexdigest().encode()
    assert letter.value == poison[:MAX_FORWARDED_VALUE_BYTES]
    assert all(dict(record.headers)["dlq.source.offset"] == headers["dlq.source.offset"] for record in dead)
    assert "Traceback" not in worker.log_tail(200_000)


def test_an_event_a_year_ahead_is_refused_as_clock_skew_and_hides_nothing_the_device_sends_after(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    devices_topic = f"{topic_name}.devices"
    worker = StreamWorker.named(
        kafka.bootstrap,
        tmp_path,
        topic_name,
        partitions=PARTITIONS,
        extra_args=(*DETECTOR_FLAGS, f"--metric-apps={APP}", f"--devices-topic={devices_topic}"),
    )
    create_topics(kafka.bootstrap, [worker.events_topic], PARTITIONS)
    now_ms = time.time_ns() // 1_000_000
    device = _healthy_device("mac-jumper-0001", now_ms - 60_000)
    device.conn(now_ms + 365 * 86_400_000, enetdown=True)  # the clock jumps a year ahead for one failure
    device.conn(now_ms - 30_000, enetdown=True)  # then a real failure at the right time, with the system healthy
    device.conn(now_ms - 20_000)  # and its recovery
    device.heartbeat(now_ms - 10_000)
    produce(kafka.bootstrap, worker.events_topic, messages(device.events))
    honest = ReplayRun(PARAMS)  # the device's events without the jump: what the worker must have made of them
    honest.feed_all(event for index, event in enumerate(device.events) if index != 3)
    with worker:
        metrics = worker.wait_for(
            lambda m: (
                m.value("netdown_events_total") == len(device.events) - 1
                and m.value("netdown_episode_duration_seconds_count") == 1
            ),
            timeout=90,
        )
        facts = latest_device_facts(kafka, devices_topic, honest.final_device_facts(), slack_ms=PARAMS.stale_ms // 2)
    assert metrics.by("netdown_events_rejected_total", "reason")["clock_skew"] == 1
    assert metrics.value("netdown_events_dropped_total", reason="late") == 0
    assert metrics.value("netdown_devices_affected") == 0, "no phantom episode left open"
    assert metrics.value("netdown_episode_duration_seconds_sum") == 10.0
    (dead,) = read_topic(kafka.bootstrap, worker.dlq_topic)
    assert dict(dead.headers)["dlq.reason"] == b"clock_skew"
    assert facts["mac-jumper-0001"].last_seen_ms <= now_ms, "last seen where its honest clock put it"


def _processed(count: int, metrics: Metrics) -> bool:
    return metrics.value("netdown_events_total") == count


def _evicted(metrics: Metrics) -> float:
    return metrics.value("netdown_devices_evicted_total")


def test_devices_silent_for_the_retention_are_forgotten_and_their_counts_survive_a_restart(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    worker = StreamWorker.named(
        kafka.bootstrap,
        tmp_path,
        topic_name,
        partitions=PARTITIONS,
        extra_args=(*DETECTOR_FLAGS, "--retention=4"),
    )
    create_topics(kafka.bootstrap, [worker.events_topic], PARTITIONS)
    fleet = [_healthy_device(f"mac-silent-{index:04d}", T0_MS, failures=1) for index in range(6)]
    events = [event for device in fleet for event in device.events]
    produce(kafka.bootstrap, worker.events_topic, messages(events))
    with worker:
        before = worker.wait_for(lambda m: m.value("netdown_events_total") == len(events), timeout=90)
        assert before.value("netdown_devices_active") == 6
        gone = worker.wait_for(lambda m: _evicted(m) == 6, timeout=60)
    assert gone.value("netdown_devices_active") == 0
    assert gone.value("netdown_events_total") == len(events), "an evicted device's counts stay in the sums"
    assert gone.value("netdown_episodes_total") == 6
    with worker:  # recovery from the changelog: the tombstones forgot the devices, the counts are all there
        again = worker.wait_for(lambda m: m.value("netdown_events_total") == len(events), timeout=90)
    assert (_evicted(again), again.value("netdown_episodes_total")) == (6, 6)
    assert again.value("netdown_devices_active") == 0


def test_a_seq_jump_to_int64_max_counts_a_restart_of_the_numbering_not_quintillions_of_lost_events(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    worker = StreamWorker.named(kafka.bootstrap, tmp_path, topic_name, partitions=PARTITIONS, extra_args=DETECTOR_FLAGS)
    create_topics(kafka.bootstrap, [worker.events_topic], PARTITIONS)
    device = _healthy_device("mac-seqjump-001", T0_MS)  # seq 1, 2, 3
    device.seq = 2**63 - 3
    device.conn(T0_MS + 10_000, enetdown=True)  # seq 2^63 - 2
    device.conn(T0_MS + 20_000)
    produce(kafka.bootstrap, worker.events_topic, messages(device.events))
    with worker:
        metrics = worker.wait_for(
            lambda m: (
                m.value("netdown_events_total") == len(device.events)
                and m.value("netdown_episode_duration_seconds_count") == 1
            ),
            timeout=90,
        )
    assert metrics.value("netdown_events_lost_total") == 0
    assert metrics.value("netdown_seq_restarts_total") == 1
    assert metrics.value("netdown_episodes_total") == 1, "the new numbering's events were applied, in order"


def test_what_an_agent_reports_its_spool_lost_reaches_the_metrics_once_bounded_by_what_it_numbered(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    worker = StreamWorker.named(kafka.bootstrap, tmp_path, topic_name, partitions=PARTITIONS, extra_args=DETECTOR_FLAGS)
    create_topics(kafka.bootstrap, [worker.events_topic], PARTITIONS)
    device = Device("mac-spoolloss-01")
    device.heartbeat(T0_MS, lost=wire.SpoolLoss(bound=5))  # the baseline
    device.lose(7)  # the 7 events its spool's bound dropped: a gap too
    device.heartbeat(T0_MS + 60_000, lost=wire.SpoolLoss(bound=12, write_failed=1))  # 7 + 1 more than before
    device.heartbeat(T0_MS + 120_000, lost=wire.SpoolLoss(bound=10**12))  # absurd: one event numbered since
    produce(kafka.bootstrap, worker.events_topic, messages([*device.events, device.events[1]]))  # and a resend
    with worker:
        metrics = worker.wait_for(lambda m: m.value("netdown_events_total") == 4, timeout=90)
        metrics = worker.wait_for(lambda m: m.value("netdown_events_lost_total") == 7, timeout=30)
    # 7 + 1 grew by the second report, and of the absurd third only the one event numbered since it.
    assert metrics.by("netdown_agent_events_lost_total", "cause") == {"bound": 8.0, "corrupt": 0.0, "write_failed": 1.0}
