"""Reading the worker's compacted devices topic back, for the integration tests."""

from __future__ import annotations

import time

import msgspec
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from netdown.detection.device_facts import DeviceFacts, decode_device_facts
from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.stream_worker import read_topic

__all__ = ["cleanup_policy", "latest_device_facts"]


def latest_device_facts(
    kafka: KafkaBroker, topic: str, expected: list[DeviceFacts], *, slack_ms: int, timeout: float = 30.0
) -> dict[str, DeviceFacts]:
    """The latest record per device on the devices topic, asserted equal to ``expected`` (waiting up to
    ``timeout`` for the worker to publish them).

    Each record is keyed by its device_id. A device's ``last_seen_ms`` is published again only once
    it has moved the worker's refresh interval (S/2), so it may lag the final one by less than that,
    ``slack_ms``; every other field is exact.
    """
    want = {facts.device_id: facts for facts in expected}
    deadline = time.monotonic() + timeout
    while True:
        latest: dict[str, DeviceFacts] = {}
        for record in read_topic(kafka.bootstrap, topic):
            assert record.value is not None
            facts = decode_device_facts(record.value)
            assert record.key == facts.device_id.encode()
            latest[facts.device_id] = facts
        problems = _mismatches(latest, want, slack_ms)
        if not problems:
            return latest
        assert time.monotonic() < deadline, "\n".join(problems[:10])
        time.sleep(0.5)


def _mismatches(latest: dict[str, DeviceFacts], want: dict[str, DeviceFacts], slack_ms: int) -> list[str]:
    problems = [f"no facts for {key}" for key in want.keys() - latest.keys()]
    problems += [f"facts for an unknown device {key}" for key in latest.keys() - want.keys()]
    for key in want.keys() & latest.keys():
        facts, truth = latest[key], want[key]
        if msgspec.structs.replace(facts, last_seen_ms=truth.last_seen_ms) != truth:
            problems.append(f"{key}: published {facts}, expected {truth}")
        elif not 0 <= truth.last_seen_ms - facts.last_seen_ms < slack_ms:
            problems.append(f"{key}: last seen {facts.last_seen_ms} published, {truth.last_seen_ms} in truth")
    return problems


def cleanup_policy(kafka: KafkaBroker, topic: str) -> str:
    """The topic's ``cleanup.policy``, as the broker reports it."""
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
    finally:
        admin.close()
    return str(described["topic"][topic]["cleanup.policy"]["value"])
