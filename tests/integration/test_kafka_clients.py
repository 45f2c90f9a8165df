"""Both Kafka clients netdown uses produce, consume, join groups and create topics on our broker.

kafka-python is the agent's publisher; aiokafka is what faust-streaming runs on. Each test sends
wire-contract events keyed by device_id and checks what comes back byte for byte, and that one
device's events stay in one partition in order (the stream job's per-device state relies on it).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin import NewTopic as AIONewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from netdown import wire
from netdown.devstack.kafka import KafkaBroker

PARTITIONS = 3


def _events(devices: int, per_device: int) -> list[wire.ConnEvent]:
    """ENETDOWN connection events for a few devices, seq contiguous per device."""
    return [
        wire.ConnEvent(
            v=1,
            event_id=f"dev{d:05d}-{seq}",
            device_id=f"device-{d:05d}",
            boot_id="boot-1",
            seq=seq,
            ts_ms=1_700_000_000_000 + seq * 1000,
            platform="darwin",
            os_version="14.4.1",
            os_build="23E224",
            agent_version="0.1.0",
            app="com.example.vpn.tunnel",
            conn_id=f"C{seq}",
            endpoint="Hostname#8c901c3c:443",
            state="waiting",
            error=wire.ErrorInfo(domain="posix", code=50, name="ENETDOWN"),
            path_status="unsatisfied",
            path_reason="policy_denied",
            interface="en0",
        )
        for d in range(devices)
        for seq in range(per_device)
    ]


def _assert_same_events_per_device_in_order(
    sent: list[wire.ConnEvent], received: list[tuple[bytes, bytes, int]]
) -> None:
    """Every event came back once, unchanged; each device used one partition and kept its seq order."""
    assert sorted(value for _, value, _ in received) == sorted(wire.encode(e) for e in sent)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    seqs: dict[bytes, list[int]] = defaultdict(list)
    for key, value, partition in received:
        event = wire.decode(value)
        assert isinstance(event, wire.ConnEvent)
        assert key == event.device_id.encode()
        partitions[key].add(partition)
        seqs[key].append(event.seq)
    assert all(len(used) == 1 for used in partitions.values())
    assert all(order == sorted(order) for order in seqs.values())


def test_kafka_python_creates_topic_produces_and_consumes_in_a_group(kafka: KafkaBroker, topic_name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    admin.create_topics([NewTopic(topic_name, num_partitions=PARTITIONS, replication_factor=1)])
    described = admin.describe_topics([topic_name])
    admin.close()
    assert len(described[0]["partitions"]) == PARTITIONS

    sent = _events(devices=6, per_device=25)
    producer = KafkaProducer(
        bootstrap_servers=kafka.bootstrap, acks="all", compression_type="gzip", linger_ms=5, batch_size=64 * 1024
    )
    for event in sent:
        producer.send(topic_name, key=event.device_id.encode(), value=wire.encode(event))
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        topic_name,
        bootstrap_servers=kafka.bootstrap,
        group_id=f"group-{topic_name}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20_000,
    )
    received = [(r.key, r.value, r.partition) for _, r in zip(range(len(sent)), consumer, strict=False)]
    assert {(tp.topic, tp.partition) for tp in consumer.assignment()} == {(topic_name, p) for p in range(PARTITIONS)}
    consumer.commit()
    consumer.close()
    _assert_same_events_per_device_in_order(sent, received)


def test_aiokafka_creates_topic_produces_and_consumes_in_a_group(kafka: KafkaBroker, topic_name: str) -> None:
    sent = _events(devices=6, per_device=25)

    async def round_trip() -> tuple[int, list[tuple[bytes, bytes, int]]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([AIONewTopic(topic_name, num_partitions=PARTITIONS, replication_factor=1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", compression_type="gzip")
        await producer.start()
        try:
            for event in sent:
                await producer.send(topic_name, key=event.device_id.encode(), value=wire.encode(event))
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic_name, bootstrap_servers=kafka.bootstrap, group_id=f"group-{topic_name}", auto_offset_reset="earliest"
        )
        await consumer.start()
        received: list[tuple[bytes, bytes, int]] = []
        try:
            async with asyncio.timeout(30):
                while len(received) < len(sent):
                    batches = await consumer.getmany(timeout_ms=500)
                    received += [(r.key, r.value, r.partition) for records in batches.values() for r in records]
            assigned = len(consumer.assignment())
        finally:
            await consumer.stop()
        return assigned, received

    assigned, received = asyncio.run(round_trip())
    assert assigned == PARTITIONS
    _assert_same_events_per_device_in_order(sent, received)


def test_faust_worker_creates_its_topics_and_processes_wire_events(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    in_topic, out_topic, app_id = f"{topic_name}.in", f"{topic_name}.out", f"probe-{topic_name[-8:]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    admin.create_topics([NewTopic(out_topic, num_partitions=1, replication_factor=1)])
    environment = {
        **os.environ,
        "PROBE_APP_ID": app_id,
        "PROBE_BOOTSTRAP": kafka.bootstrap,
        "PROBE_DATADIR": str(tmp_path / "faust"),
        "PROBE_PARTITIONS": "4",
        "PROBE_IN_TOPIC": in_topic,
        "PROBE_OUT_TOPIC": out_topic,
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.faust_probe_app", "worker", "--loglevel", "info"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        created = _wait_for_topics(admin, {in_topic, f"{app_id}-events_per_device-changelog"}, worker, log_path)
        assert len(created[in_topic]) == 4
        sent = _events(devices=4, per_device=10)
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
        for event in sent:
            producer.send(in_topic, key=event.device_id.encode(), value=wire.encode(event))
        producer.flush()
        producer.close()
        consumer = KafkaConsumer(
            out_topic, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=60_000
        )
        forwarded = [r.value.decode() for _, r in zip(range(len(sent)), consumer, strict=False)]
        consumer.close()
        assert sorted(forwarded) == sorted(e.event_id for e in sent), log_path.read_text(errors="replace")[-3000:]
    finally:
        worker.terminate()
        exit_code = worker.wait(60)
        admin.close()
    assert exit_code == 0, log_path.read_text(errors="replace")[-3000:]


def _wait_for_topics(
    admin: KafkaAdminClient, names: set[str], worker: subprocess.Popen[bytes], log_path: Path
) -> dict[str, list[int]]:
    """Partitions of each named topic once all exist; fails early if the worker dies."""
    deadline = time.monotonic() + 90
    while True:
        assert worker.poll() is None, log_path.read_text(errors="replace")[-3000:]
        if names <= set(admin.list_topics()):
            return {
                t["name"]: [p["partition_index"] for p in t["partitions"]] for t in admin.describe_topics(list(names))
            }
        assert time.monotonic() < deadline, f"topics {names} not created; worker log:\n{log_path.read_text()[-3000:]}"
        time.sleep(0.2)
