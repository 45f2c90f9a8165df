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

    Each record is keyed by its device_id. A device's ``last_seen_ms`` (and its sources' ``last_success_ms``)
    is published again only once it has moved the worker's refresh interval (S/2), so it may lag the final
    one by less than that, ``slack_ms``; every other field is exact.
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
        if _without_clocks(facts) != _without_clocks(truth):
            problems.append(f"{key}: published {facts}, expected {truth}")
        elif not 0 <= truth.last_seen_ms - facts.last_seen_ms < slack_ms:
            problems.append(f"{key}: last seen {facts.last_seen_ms} published, {truth.last_seen_ms} in truth")
        elif not all(
            _lags(published.last_success_ms, known.last_success_ms, slack_ms)
            for published, known in zip(facts.sources, truth.sources, strict=True)
        ):
            problems.append(f"{key}: sources {facts.sources} published, {truth.sources} in truth")
    return problems


def _lags(published_ms: int | None, truth_ms: int | None, slack_ms: int) -> bool:
    """Whether a published source's last success is the true one or behind it by less than ``slack_ms``
    (a success published as none yet is behind too)."""
    if published_ms is None or truth_ms is None:
        return published_ms is None
    return 0 <= truth_ms - published_ms < slack_ms


def _without_clocks(facts: DeviceFacts) -> DeviceFacts:
    """The record less what is republished only with the refresh: last seen, and each source's last success."""
    sources = tuple(msgspec.structs.replace(source, last_success_ms=None) for source in facts.sources)
    return msgspec.structs.replace(facts, last_seen_ms=0, sources=sources)


def cleanup_policy(kafka: KafkaBroker, topic: str) -> str:
    """The topic's ``cleanup.policy``, as the broker reports it."""
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
    finally:
        admin.close()
    return str(described["topic"][topic]["cleanup.policy"]["value"])
