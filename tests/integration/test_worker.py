"""The real worker, against the real broker: a small produced scenario gives the expected incidents on the
incidents topic, the expected device facts on the compacted devices topic, the expected dead letters,
and the expected metric values scraped over HTTP.

The expected incident records are the pure detector's (``ReplayRun`` over the same events, same
parameters), and the test also states by hand what the scenario is about, so a detector change that
kept the two in step but lost the point of the scenario would still fail here.
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.detection.device_facts import DeviceSource
from netdown.detection.incident import EPISODE_KIND, Incident, encode_incident
from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.stream_worker import Metrics, Record, StreamWorker, create_topics, produce, read_topic
from netdown.stream.labels import OTHER, SOURCE_NAMES
from netdown.stream.replay_run import ReplayRun
from netdown.testing import APP, T0_MS, Device, messages, source
from tests.integration.device_facts import cleanup_policy, latest_device_facts

PARTITIONS = 3
# Small W/G/L so the scenario plays out in seconds of event time; flags in seconds, as the CLI takes them.
PARAMS = DetectorParams(window_ms=30_000, settle_ms=2_000, stuck_ms=600_000, lateness_ms=1_000, stale_ms=3_600_000)
DETECTOR_FLAGS = ("--window=30", "--settle=2", "--stuck-after=600", "--lateness=1", "--stale-after=3600")
GARBAGE = (b"mac-garbage-0001", b'{"v": 1, "type": "conn", "device_id": ')


def _scenario() -> tuple[list[wire.Event], list[tuple[bytes | None, bytes]]]:
    """Three devices (an episode that recovers, an outage, an episode still open), a duplicate, two rejects."""
    episode = Device("mac-episode-0001", os_version="14.4.1")
    episode.heartbeat(T0_MS)
    episode.system_path(T0_MS + 1_000)  # healthy on wifi from t=1 s
    episode.probe(T0_MS + 5_000)
    episode.conn(T0_MS + 10_000, enetdown=True)  # ENETDOWN while healthy for 9 s > G: an episode opens
    episode.conn(T0_MS + 12_000, enetdown=True)
    episode.duplicate_last()  # the agent resends it: dropped as a duplicate
    episode.probe(T0_MS + 20_000)
    episode.conn(T0_MS + 30_000)  # ready: the episode closes after 20 s
    episode.heartbeat(T0_MS + 40_000)

    outage = Device("mac-outage-0002", os_version="15.1")
    outage.heartbeat(T0_MS)
    outage.system_path(T0_MS + 1_000, satisfied=False)
    outage.conn(T0_MS + 10_000, enetdown=True)  # the system path is down too: an outage, not an episode
    outage.system_path(T0_MS + 20_000)
    outage.conn(T0_MS + 25_000)
    outage.heartbeat(T0_MS + 40_000)

    still_open = Device("linux-open-0003", os_version="6.8.0-45-generic", platform="linux")
    still_open.heartbeat(T0_MS)
    still_open.system_path(T0_MS + 1_000)
    still_open.conn(T0_MS + 10_000, enetdown=True)  # an episode that is still open at the end
    still_open.probe(T0_MS + 40_000)

    events = sorted([*episode.events, *outage.events, *still_open.events], key=lambda event: event.ts_ms)
    stray = Device("mac-stray-00004").heartbeat(T0_MS + 3_000)
    rejects: list[tuple[bytes | None, bytes]] = [GARBAGE, (b"mac-not-the-sender", wire.encode(stray))]
    ordered = list(messages(events))
    # The rejects arrive in the middle of the stream: the worker must carry on past them.
    return events, [*ordered[:5], rejects[0], *ordered[5:10], rejects[1], *ordered[10:]]


def _expected_incidents(events: list[wire.Event]) -> dict[bytes, list[bytes]]:
    """Per device, the incident records the pure detector writes for these events, in order."""
    run = ReplayRun(PARAMS)
    run.feed_all(events)
    expected: dict[bytes, list[bytes]] = {}
    for incident in run.incidents:  # every change, in order
        expected.setdefault(incident.device_id.encode(), []).append(encode_incident(incident))
    return expected


def test_worker_turns_a_produced_scenario_into_incidents_dead_letters_and_metrics(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    events, produced = _scenario()
    devices_topic = f"{topic_name}.devices"
    worker = StreamWorker.named(
        kafka.bootstrap,
        tmp_path,
        topic_name,
        partitions=PARTITIONS,
        extra_args=(*DETECTOR_FLAGS, f"--metric-apps={APP}", f"--devices-topic={devices_topic}"),
    )
    create_topics(kafka.bootstrap, [worker.events_topic], PARTITIONS)
    produce(kafka.bootstrap, worker.events_topic, produced)
    with worker:
        metrics = worker.wait_for(
            lambda m: (
                m.value("netdown_events_total") == len(events)
                and m.value("netdown_events_rejected_total") == 2
                and m.value("netdown_episode_duration_seconds_count") == 1
            ),
            timeout=60,
        )
        incidents = _read_until(kafka, worker.incidents_topic, count=3)
        dead = _read_until(kafka, worker.dlq_topic, count=2)
        offline = ReplayRun(PARAMS)
        offline.feed_all(events)
        facts = latest_device_facts(kafka, devices_topic, offline.final_device_facts(), slack_ms=PARAMS.stale_ms // 2)
        exit_code = worker.stop()
    assert exit_code == 0, worker.log_tail()

    # Incidents: exactly the detector's records, keyed by device, in order per device.
    written: dict[bytes, list[bytes]] = {}
    for record in incidents:
        assert record.key is not None
        assert record.value is not None
        written.setdefault(record.key, []).append(record.value)
    assert written == _expected_incidents(events)
    episode = [msgspec.json.decode(value, type=Incident) for value in written[b"mac-episode-0001"]]
    assert [(i.closed_ms, i.close_reason) for i in episode] == [(None, None), (T0_MS + 30_000, "recovered")]
    assert episode[0].kind == EPISODE_KIND
    assert episode[0].os_version == "14.4.1"
    assert [msgspec.json.decode(value, type=Incident).closed_ms for value in written[b"linux-open-0003"]] == [None]
    assert b"mac-outage-0002" not in written

    # Dead letters: the original key and bytes, the reason, the field and where each came from.
    mismatched = produced[11]
    assert mismatched[0] == b"mac-not-the-sender"
    assert sorted((record.key, record.value) for record in dead) == sorted([GARBAGE, mismatched])
    headers = {record.key: dict(record.headers) for record in dead}
    assert headers[GARBAGE[0]]["dlq.reason"] == b"malformed_json"
    assert headers[b"mac-not-the-sender"]["dlq.reason"] == b"key_mismatch"
    assert headers[b"mac-not-the-sender"]["dlq.field"] == b"device_id"
    for record in dead:
        assert dict(record.headers)["dlq.source.topic"] == worker.events_topic.encode()
        assert int(dict(record.headers)["dlq.source.offset"]) >= 0

    _assert_metrics(metrics, events)

    # Device facts: the compacted topic's latest record per device is the pure detector's final facts.
    assert cleanup_policy(kafka, devices_topic) == "compact"
    assert set(facts) == {"mac-episode-0001", "mac-outage-0002", "linux-open-0003"}
    recovered, outage, still_open = facts["mac-episode-0001"], facts["mac-outage-0002"], facts["linux-open-0003"]
    assert (recovered.episodes, recovered.affected, recovered.last_episode_ms) == (1, False, T0_MS + 10_000)
    assert (outage.episodes, outage.affected, outage.os_version) == (0, False, "15.1")
    assert (still_open.episodes, still_open.affected, still_open.platform) == (1, True, "linux")
    assert recovered.network_extensions[0].id == APP


def _assert_metrics(metrics: Metrics, events: list[wire.Event]) -> None:
    """What /metrics says about the scenario (summed over partitions, as Prometheus rules do)."""
    episodes = "netdown_episodes_total"
    assert metrics.value(episodes) == 2
    assert metrics.value(episodes, os_version="14.4", platform="darwin", app=APP, kind=EPISODE_KIND) == 1
    assert metrics.value(episodes, os_version="6.8", platform="linux", app=APP, kind=EPISODE_KIND) == 1
    assert metrics.by("netdown_failure_signals_total", "class") == {"episode": 3.0, "outage": 1.0}
    by_type: dict[str, float] = {}
    for event in events:
        by_type[wire.event_type(event)] = by_type.get(wire.event_type(event), 0) + 1
    assert metrics.by("netdown_events_total", "type") == by_type
    assert metrics.by("netdown_events_dropped_total", "reason") == {"duplicate": 1.0, "late": 0.0}
    assert metrics.value("netdown_events_lost_total") == 0
    rejected = metrics.by("netdown_events_rejected_total", "reason")
    assert rejected["malformed_json"] == 1
    assert rejected["key_mismatch"] == 1
    assert sum(rejected.values()) == 2
    assert metrics.value("netdown_episode_duration_seconds_sum") == 20.0
    assert metrics.value("netdown_episode_duration_seconds_bucket", le="30.0") == 1
    assert metrics.value("netdown_episode_duration_seconds_bucket", le="10.0") == 0
    assert metrics.by("netdown_devices_affected", "os_version") == {"14.4": 0.0, "15.1": 0.0, "6.8": 1.0}
    assert metrics.value("netdown_devices_active") == 3
    assert metrics.value("netdown_devices_stuck") == 0
    assert metrics.value("netdown_worker_info") == 1
    assert metrics.value("netdown_messages_received_total") == len(events) + 2


def _source_health_fleet() -> list[wire.Event]:
    """Heartbeats with source health: three Macs whose system path source fails, a healthy one, a hostile one
    naming made-up sources, and an older agent that reports none."""
    app_view = (source("unified_log", "app_view", last_success_ms=T0_MS), source("app_events", "app_view"))
    devices = []
    for index in range(3):  # a command macos_path polls is gone after the update to 26.1
        blind = Device(f"mac-blind-{index:04d}", os_version="26.1")
        blind.heartbeat(T0_MS, sources=(source("macos_path", "system_path", last_success_ms=T0_MS), *app_view))
        blind.heartbeat(
            T0_MS + 60_000,
            sources=(source("macos_path", "system_path", running=False, last_success_ms=T0_MS), *app_view),
        )
        devices.append(blind)
    healthy = Device("mac-healthy-0001", os_version="26.1")
    healthy.heartbeat(T0_MS, sources=(source("macos_path", "system_path"), *app_view))
    hostile = Device("mac-hostile-0001", os_version="15.5")
    made_up = tuple(source(f"evil-{index}-" + "x" * 240, "app_view", running=False) for index in range(15))
    hostile.heartbeat(T0_MS, sources=(source("macos_path", "system_path"), *made_up))
    older = Device("mac-older-00001", os_version="15.1")
    older.heartbeat(T0_MS)
    for device in (*devices, healthy, hostile, older):
        device.system_path(T0_MS + 90_000)
    events = [event for device in (*devices, healthy, hostile, older) for event in device.events]
    return sorted(events, key=lambda event: event.ts_ms)


def test_worker_counts_blind_agents_and_failing_sources_under_bounded_labels(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    events = _source_health_fleet()
    devices_topic = f"{topic_name}.devices"
    worker = StreamWorker.named(
        kafka.bootstrap,
        tmp_path,
        topic_name,
        partitions=PARTITIONS,
        extra_args=(*DETECTOR_FLAGS, f"--devices-topic={devices_topic}"),
    )
    create_topics(kafka.bootstrap, [worker.events_topic], PARTITIONS)
    produce(kafka.bootstrap, worker.events_topic, messages(events))
    with worker:
        metrics = worker.wait_for(
            lambda m: (
                m.value("netdown_events_total") == len(events)
                and m.value("netdown_devices_reporting_sources") == 5
                and m.value("netdown_devices_blind") == 4
            ),
            timeout=60,
        )
        offline = ReplayRun(PARAMS)
        offline.feed_all(events)
        facts = latest_device_facts(kafka, devices_topic, offline.final_device_facts(), slack_ms=PARAMS.stale_ms // 2)
        assert worker.stop() == 0, worker.log_tail()

    assert metrics.value("netdown_devices_active") == 6
    # The older agent is active but unknown: in neither side of the blind share.
    assert metrics.by("netdown_devices_reporting_sources", "os_version") == {"26.1": 4, "15.5": 1, "15.1": 0}
    assert metrics.by("netdown_devices_blind", "role") == {"system_path": 3, "app_view": 1}
    assert metrics.sum_by("netdown_devices_blind", "role", "os_version") == {
        ("system_path", "26.1"): 3,
        ("app_view", "26.1"): 0,
        ("system_path", "15.5"): 0,
        ("app_view", "15.5"): 1,  # every app-view source it names is down
        ("system_path", "15.1"): 0,
        ("app_view", "15.1"): 0,
    }
    # Fifteen made-up names are one `other` series, the device counted once in it.
    assert metrics.sum_by("netdown_agent_sources_failing", "source", "role", "os_version") == {
        ("macos_path", "system_path", "26.1"): 3,
        (OTHER, "app_view", "15.5"): 1,
    }
    assert {
        sample.labels["source"] for sample in metrics.samples if sample.name == "netdown_agent_sources_failing"
    } <= SOURCE_NAMES | {OTHER}

    # The devices topic names the Macs: which source failed, and when it last worked.
    assert facts["mac-blind-0000"].sources[0] == DeviceSource(
        name="macos_path", role="system_path", running=False, last_success_ms=T0_MS
    )
    assert facts["mac-older-00001"].sources == ()
    assert len(facts["mac-hostile-0001"].sources) == 16


def _read_until(kafka: KafkaBroker, topic: str, *, count: int, timeout: float = 30.0) -> list[Record]:
    """The topic's records once there are ``count`` (transactions commit every few seconds), or what there is."""
    deadline = time.monotonic() + timeout
    while True:
        records = read_topic(kafka.bootstrap, topic)
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def test_worker_refuses_an_events_topic_with_another_partition_count(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    worker = StreamWorker.named(kafka.bootstrap, tmp_path, topic_name, partitions=PARTITIONS)
    create_topics(kafka.bootstrap, [worker.events_topic], PARTITIONS - 1)
    worker.start()
    deadline = time.monotonic() + 60
    while worker.pid is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert worker.stop() == 1
    assert (
        f"has {PARTITIONS - 1} partitions, the worker was started with --partitions {PARTITIONS}" in worker.log_tail()
    )
