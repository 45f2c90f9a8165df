"""``kill -9`` the real worker mid-stream, restart it, and nothing is lost or counted twice; nor when
workers join and leave and partitions move between them.

The ground truth is the pure detector over the same events with the same parameters
(:class:`~netdown.stream.replay_run.ReplayRun`): every counter on the restarted worker's ``/metrics``,
the final state of every episode on the incidents topic and every device's latest facts on the
devices topic must equal it. The fleet
(:func:`netdown.testing.simulated_fleet`) has recovering, stuck and rebooted episodes, outages,
transients, late, lost and duplicated events; the kill lands after the worker has counted part of it and
before its next offset commit could cover everything, so the restarted worker reprocesses events
whose effects are already in its table.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from netdown.detection.detector import DetectorParams
from netdown.detection.incident import Incident
from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.stream_worker import Metrics, StreamWorker, create_topics, produce, read_topic
from netdown.stream.labels import normalise_os_version
from netdown.stream.replay_run import ReplayRun
from netdown.testing import APP, messages, simulated_fleet
from tests.integration.device_facts import latest_device_facts

PARTITIONS = 4
DEVICES, FLEET_MS = 48, 2_000_000  # about 15k events: a few seconds of work, so the kill lands mid-stream
PARAMS = DetectorParams(window_ms=30_000, settle_ms=10_000, stuck_ms=60_000, lateness_ms=2_000, stale_ms=3_600_000)
# The kill test's L is longer than its restart takes (a 6 s session timeout, a few seconds of start-up): gaps age
# in processing time, so an outage longer than L counts the gaps open at the kill as lost even while the missing
# events wait in the backlog, where the replay (event time) sees them filled. Exactly-once counts hold for an
# outage shorter than L (docs/worker.md, "Batches, and what a crash or a rebalance does").
KILL_PARAMS = dataclasses.replace(PARAMS, lateness_ms=20_000)
# Small batches (--batch-max): dozens of them, so the kill lands between two and partitions move mid-stream.
FLAGS = (
    "--window=30",
    "--settle=10",
    "--stuck-after=60",
    "--lateness=2",
    "--stale-after=3600",
    f"--metric-apps={APP}",
    "--batch-max=500",
)


def test_worker_killed_mid_stream_and_restarted_counts_every_episode_once(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    events = simulated_fleet(DEVICES, FLEET_MS, seed=11, params=KILL_PARAMS)
    truth = ReplayRun(KILL_PARAMS)
    truth.feed_all(events)
    # A short session timeout: the group hands the dead worker's partitions over in seconds, not 30.
    devices_topic = f"{topic_name}.devices"
    worker = StreamWorker.named(
        kafka.bootstrap,
        tmp_path,
        topic_name,
        partitions=PARTITIONS,
        extra_args=(*FLAGS, "--lateness=20", "--session-timeout=6", f"--devices-topic={devices_topic}"),
    )
    create_topics(kafka.bootstrap, [worker.events_topic], PARTITIONS)
    produce(kafka.bootstrap, worker.events_topic, messages(events))

    worker.start()
    try:
        at_kill = worker.wait_for(lambda m: m.value("netdown_events_total") >= len(events) * 0.3, timeout=90, every=0.1)
        worker.kill()
        assert at_kill.value("netdown_events_total") < len(events), "the kill came too late to be mid-stream"
        worker.start()  # same app id, same data dir, as a supervisor restarts it
        final = worker.wait_for(
            lambda m: (
                m.value("netdown_events_total") >= len(events) and m.value("netdown_events_lost_total") >= truth.lost
            ),
            timeout=90,
        )
        latest = _latest_incidents(kafka, worker.incidents_topic, expected=len(truth.incidents))
        latest_device_facts(kafka, devices_topic, truth.final_device_facts(), slack_ms=PARAMS.stale_ms // 2)
    finally:
        exit_code = worker.stop()
    assert exit_code == 0, worker.log_tail()

    # The restarted worker read again events its table already held (the crash lost uncommitted offsets).
    received = final.value("netdown_messages_received_total")
    assert received > len(events) - at_kill.value("netdown_events_total")
    _assert_counts_equal_truth(final, truth)
    assert sorted(latest.values(), key=_order) == sorted(truth.final_incidents(), key=_order)


def test_partitions_moving_between_workers_keep_every_count_exact(
    kafka: KafkaBroker, topic_name: str, tmp_path: Path
) -> None:
    events = simulated_fleet(DEVICES, FLEET_MS // 2, seed=12, params=PARAMS)
    truth = ReplayRun(PARAMS)
    truth.feed_all(events)
    first = StreamWorker.named(kafka.bootstrap, tmp_path / "first", topic_name, partitions=PARTITIONS, extra_args=FLAGS)
    second = StreamWorker.named(
        kafka.bootstrap, tmp_path / "second", topic_name, partitions=PARTITIONS, extra_args=FLAGS
    )
    create_topics(kafka.bootstrap, [first.events_topic], PARTITIONS)
    produce(kafka.bootstrap, first.events_topic, messages(events))

    def done(metrics: Metrics) -> bool:
        return (
            metrics.value("netdown_events_total") >= len(events)
            and metrics.value("netdown_events_lost_total") >= truth.lost
        )

    with first:
        first.wait_for(lambda m: m.value("netdown_events_total") >= len(events) * 0.2, timeout=90, every=0.1)
        with second:  # joins: the group rebalances, the two split the partitions
            second.wait_for(lambda m: _owned(m) > 0, timeout=90)
            both = _wait_together(first, second, done)
            assert _owned(both) == PARTITIONS  # each partition exported by exactly one worker
            _assert_counts_equal_truth(both, truth)
        alone = first.wait_for(lambda m: _owned(m) == PARTITIONS, timeout=90)  # second left: first takes all
        _assert_counts_equal_truth(alone, truth)


def _owned(metrics: Metrics) -> int:
    """How many partitions a scrape exports (each partition's lost-events series, one per owner)."""
    return len(metrics.sum_by("netdown_events_lost_total", "partition"))


def _wait_together(first: StreamWorker, second: StreamWorker, condition: Callable[[Metrics], bool]) -> Metrics:
    deadline = time.monotonic() + 90
    while True:
        one, other = first.scrape(), second.scrape()
        if one is not None and other is not None:
            together = Metrics.together(one, other)
            if condition(together):
                return together
        assert time.monotonic() < deadline, f"not done in time: {first.log_tail()}\n{second.log_tail()}"
        time.sleep(0.2)


def _assert_counts_equal_truth(metrics: Metrics, truth: ReplayRun) -> None:
    """Every durable counter and gauge, summed over partitions, equals the pure detector's tally."""
    assert metrics.by("netdown_events_total", "type") == truth.events_by_type
    assert metrics.by("netdown_failure_signals_total", "class") == {str(k): v for k, v in truth.signals.items()}
    assert metrics.by("netdown_events_dropped_total", "reason") == {"duplicate": 0, "late": 0, **truth.dropped}
    assert metrics.value("netdown_events_lost_total") == truth.lost
    episodes = Counter(
        (normalise_os_version(i.platform, i.os_version), i.platform, i.app, i.kind) for i in truth.final_incidents()
    )
    assert metrics.sum_by("netdown_episodes_total", "os_version", "platform", "app", "kind") == episodes
    final = truth.final_incidents()
    still_open = [i for i in final if i.closed_ms is None]
    closed = [i for i in final if i.closed_ms is not None]
    assert metrics.value("netdown_devices_affected") == len({i.device_id for i in still_open})
    assert metrics.value("netdown_devices_stuck") == len({i.device_id for i in still_open if i.stuck})
    assert metrics.value("netdown_episode_duration_seconds_count") == len(closed)
    durations = sum((i.closed_ms or 0) - i.opened_ms for i in closed) / 1000
    assert metrics.value("netdown_episode_duration_seconds_sum") == pytest.approx(durations)
    assert metrics.value("netdown_devices_active") == DEVICES


def _latest_incidents(
    kafka: KafkaBroker, topic: str, *, expected: int, timeout: float = 30.0
) -> dict[tuple[str, str, int], Incident]:
    """The last record of each episode on the incidents topic (repeats after a crash are the same bytes)."""
    deadline = time.monotonic() + timeout
    while True:
        latest: dict[tuple[str, str, int], Incident] = {}
        for record in read_topic(kafka.bootstrap, topic):
            assert record.value is not None
            incident = msgspec.json.decode(record.value, type=Incident)
            assert record.key == incident.device_id.encode()
            latest[incident.key] = incident
        # Under exactly_once the last records become visible when their transaction commits.
        if len(latest) >= expected or time.monotonic() > deadline:
            return latest
        time.sleep(0.5)


def _order(incident: Incident) -> tuple[int, str, str]:
    return (incident.opened_ms, incident.device_id, incident.app)
