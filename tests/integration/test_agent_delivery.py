"""The agent loses nothing on the way to Kafka: not while the broker is down, not when it is killed.

Both tests run the real publisher (kafka-python) against a real broker and read the topic back.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from netdown import wire
from netdown.agent.publisher import Publisher, kafka_producer
from netdown.agent.runtime import Agent
from netdown.agent.sources.base import Observation
from netdown.agent.spool import Spool
from netdown.devstack.kafka import KafkaBroker
from netdown.stamping import DeviceIdentity

FACTS = DeviceIdentity(
    device_id="linux-delivery-test1", boot_id="boot-1", platform="linux", os_version="12", os_build=""
)
APP = "com.example.vpn.tunnel"
AnyEvent = TypeVar("AnyEvent", bound=wire.Event)


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()


def _consume(bootstrap: str, topic: str, until: int, timeout_s: float = 120) -> list[wire.Event]:
    """Every event on the topic, in partition order, once ``until`` distinct event ids have arrived."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    events: list[wire.Event] = []
    deadline = time.monotonic() + timeout_s
    while len({e.event_id for e in events}) < until and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                event = wire.decode(record.value)
                assert not isinstance(event, wire.Rejection), event
                assert record.key == event.device_id.encode()
                events.append(event)
    consumer.close()
    return events


def _first_occurrences(events: Sequence[AnyEvent]) -> list[AnyEvent]:
    """The events in arrival order with repeats (same event_id) removed, as the stream job sees them."""
    first: dict[str, AnyEvent] = {}
    for event in events:
        first.setdefault(event.event_id, event)
    return list(first.values())


def _probe(index: int) -> Observation:
    return Observation(ts_ms=1_732_540_800_000 + index, body=wire.ProbeBody(target="10.9.0.1:443", kind="tcp", ok=True))


def test_events_accepted_while_the_broker_is_down_all_arrive_in_seq_order_when_it_returns(tmp_path: Path) -> None:
    broker = KafkaBroker(data_dir=tmp_path / "kafka")
    broker.start()
    topic = "agent.delivery.down"
    _create_topic(broker.bootstrap, topic)
    broker.stop()
    spool = Spool(tmp_path / "spool", max_bytes=64 << 20)
    publisher = Publisher(spool, topic, FACTS.device_id.encode(), lambda: kafka_producer(broker.bootstrap, {}))
    agent = Agent.create(FACTS, spool, publisher, sources=[])
    stop = threading.Event()
    delivering = threading.Thread(target=publisher.run, args=(stop,))
    delivering.start()
    try:
        for index in range(10_000):
            agent.accept(_probe(index))
        assert agent.accepted == 10_000
        assert publisher.sent == 0
        broker.start()
        events = _consume(broker.bootstrap, topic, until=10_000)
    finally:
        stop.set()
        delivering.join()
        spool.close()
        broker.stop()
    first_seen = _first_occurrences(events)
    assert len(first_seen) == 10_000
    assert [e.seq for e in first_seen] == list(range(10_000)), "every event once, seq contiguous and in order"
    assert spool.pending == 0


def _agent_config(tmp_path: Path, bootstrap: str, topic: str, app_file: Path) -> Path:
    (tmp_path / "fleet.key").write_text("test-fleet-key\n")
    (tmp_path / "fleet.key").chmod(0o600)  # the agent refuses a key others can read
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[broker]
bootstrap = "{bootstrap}"
topic = "{topic}"

[identity]
key_file = "fleet.key"
state_dir = "{tmp_path / "state"}"

[heartbeat]
interval_s = 300

[[apps]]
bundle_id = "{APP}"

[sources.app_events]
path = "{app_file}"
poll_interval = 0.01
"""
    )
    return config


def _write_app_lines(app_file: Path, count: int, stop: threading.Event) -> list[str]:
    """The app writes ``count`` ENETDOWN lines, a few at a time, as an extension would."""
    ids = [f"line-{index}" for index in range(count)]
    with app_file.open("a") as handle:
        for index, line_id in enumerate(ids):
            record = {
                "type": "conn",
                "ts_ms": 1_732_540_800_000 + index,
                "id": line_id,
                "app": APP,
                "conn_id": f"C{index}",
                "endpoint": "Hostname#8c901c3c:443",
                "state": "waiting",
                "error": {"domain": "posix", "code": 50, "name": "ENETDOWN"},
            }
            handle.write(json.dumps(record) + "\n")
            if index % 50 == 0:
                handle.flush()
                if stop.wait(0.005):
                    break
    return ids


def test_an_agent_killed_while_publishing_delivers_every_accepted_event_after_restart(
    kafka: KafkaBroker, tmp_path: Path
) -> None:
    topic = f"agent.delivery.kill9.{uuid.uuid4().hex[:6]}"
    _create_topic(kafka.bootstrap, topic)
    app_file = tmp_path / "app-events.ndjson"
    app_file.touch()
    config = _agent_config(tmp_path, kafka.bootstrap, topic, app_file)
    command = [str(Path(sys.executable).parent / "netdown-agent"), "run", "--config", str(config)]
    log = (tmp_path / "agent.log").open("wb")
    agent = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    writer_stop = threading.Event()
    written: list[str] = []
    writer = threading.Thread(target=lambda: written.extend(_write_app_lines(app_file, 3_000, writer_stop)))
    writer.start()
    try:
        _consume(kafka.bootstrap, topic, until=400, timeout_s=60)  # it is publishing
        agent.send_signal(signal.SIGKILL)
        agent.wait()
        writer.join()
        agent = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        events = _consume(kafka.bootstrap, topic, until=3_001, timeout_s=120)  # 3,000 lines + a heartbeat
    finally:
        writer_stop.set()
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
        log.close()
    conn_events = [e for e in events if isinstance(e, wire.ConnEvent)]
    assert len(written) == 3_000
    first_seen = _first_occurrences(conn_events)
    assert len(first_seen) == 3_000, "every line the app wrote arrived, as exactly one distinct event"
    assert [e.conn_id for e in first_seen] == [f"C{index}" for index in range(3_000)], "in the order written"
    seqs = sorted({e.seq for e in events})
    assert seqs == list(range(len(seqs))), "no seq was skipped across the crash"
