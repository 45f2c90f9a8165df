"""What one message does to a device record: parsing, exactly-once counting, crash replays, processing time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from netdown import wire
from netdown.stream.detector import DetectorParams
from netdown.stream.dlq import KEY_MISMATCH, Rejected
from netdown.stream.incident import Incident
from netdown.stream.labels import Labeler
from netdown.stream.offline import OfflineRun
from netdown.stream.processing import Context, apply_event, apply_tick, due_ms, parse
from netdown.stream.record import Counters, DeviceRecord, decode_record, encode_record
from netdown.stream.testing import APP, T0_MS, Device, fleet, messages

PARAMS = DetectorParams(window_ms=30_000, settle_ms=10_000, stuck_ms=60_000, lateness_ms=2_000, stale_ms=900_000)
CONTEXT = Context(params=PARAMS, labeler=Labeler.from_apps([APP]))
NOW_MS = 1_900_000_000_000  # the worker's wall clock: far from the events' own time, as in production


def test_parse_returns_the_event_of_a_message_keyed_by_its_device() -> None:
    event = Device("mac-parse-0001").heartbeat(T0_MS)
    assert parse(b"mac-parse-0001", wire.encode(event)) == event


@pytest.mark.parametrize("key", [b"mac-someone-else", None])
def test_parse_rejects_a_message_keyed_by_another_device_or_by_nothing(key: bytes | None) -> None:
    event = Device("mac-parse-0001").heartbeat(T0_MS)
    rejected = parse(key, wire.encode(event))
    assert isinstance(rejected, Rejected)
    assert (rejected.reason, rejected.field) == (KEY_MISMATCH, "device_id")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"[]", "not_an_object"),
        (None, "malformed_json"),
        (b"x" * 70_000, "too_large"),
    ],
)
def test_parse_rejects_what_the_wire_contract_refuses_with_its_reason(value: bytes | None, reason: str) -> None:
    rejected = parse(b"mac-parse-0001", value)
    assert isinstance(rejected, Rejected)
    assert rejected.reason == reason


def test_an_event_at_or_below_the_records_last_offset_is_a_replay_and_changes_nothing() -> None:
    device = Device("mac-replay-0001")
    first, second = device.heartbeat(T0_MS), device.system_path(T0_MS + 1_000)
    outcome = apply_event(None, first, partition=0, offset=7, now_ms=NOW_MS, context=CONTEXT)
    assert outcome is not None
    stored = encode_record(outcome.record)
    assert apply_event(stored, first, partition=0, offset=7, now_ms=NOW_MS, context=CONTEXT) is None
    assert apply_event(stored, second, partition=0, offset=5, now_ms=NOW_MS, context=CONTEXT) is None
    later = apply_event(stored, second, partition=0, offset=8, now_ms=NOW_MS, context=CONTEXT)
    assert later is not None
    assert later.record.counters.events == {"heartbeat": 1, "path": 1}
    assert later.delta.events == {"path": 1}


def test_a_repeated_event_id_at_a_new_offset_is_counted_as_a_dropped_duplicate() -> None:
    device = Device("mac-dupe-00001")
    device.heartbeat(T0_MS)
    device.duplicate_last()
    stored: bytes | None = None
    for offset, event in enumerate(device.events):
        outcome = apply_event(stored, event, partition=0, offset=offset, now_ms=NOW_MS, context=CONTEXT)
        assert outcome is not None
        stored = encode_record(outcome.record)
    assert stored is not None
    counters = decode_record(stored).counters
    assert (counters.events, counters.dropped) == ({"heartbeat": 2}, {"duplicate": 1})


def test_an_opened_episode_is_counted_under_bounded_labels_and_its_incident_returned() -> None:
    device = Device("mac-label-0001", os_version="14.4.1")
    device.heartbeat(T0_MS)
    device.system_path(T0_MS + 1_000)
    device.conn(T0_MS + 20_000, enetdown=True, app="com.unlisted.app")
    device.conn(T0_MS + 21_000, enetdown=True)
    device.probe(T0_MS + 30_000)
    state = _Worker()
    state.feed(device.events)
    assert state.counters.episodes == {
        ("14.4", "darwin", "other", "necp_denied_healthy"): 1,
        ("14.4", "darwin", APP, "necp_denied_healthy"): 1,
    }
    assert state.counters.signals == {("14.4", "episode"): 2}
    assert {incident.app for incident in state.incidents} == {APP, "com.unlisted.app"}


def test_processing_time_alone_releases_a_quiet_devices_first_event_once_it_is_due() -> None:
    device = Device("mac-quiet-0001")
    outcome = apply_event(None, device.heartbeat(T0_MS), partition=3, offset=0, now_ms=NOW_MS, context=CONTEXT)
    assert outcome is not None
    assert due_ms(outcome.record, PARAMS) == NOW_MS + PARAMS.lateness_ms  # a first event waits for L
    early = apply_tick(encode_record(outcome.record), now_ms=NOW_MS + 1, context=CONTEXT)
    assert due_ms(early.record, PARAMS) == NOW_MS + PARAMS.lateness_ms
    due = apply_tick(encode_record(outcome.record), now_ms=NOW_MS + PARAMS.lateness_ms, context=CONTEXT)
    assert due_ms(due.record, PARAMS) is None
    assert due.record.detector.last_applied_seq == 1
    assert due.record.partition == 3


def test_a_sequence_gap_is_counted_lost_by_processing_time_alone() -> None:
    device = Device("mac-gappy-0001")
    device.heartbeat(T0_MS)
    device.lose(3)
    device.heartbeat(T0_MS + 5_000)
    worker = _Worker()
    worker.feed(device.events)
    assert worker.counters.lost == 0
    worker.tick(NOW_MS + PARAMS.lateness_ms)
    assert worker.counters.lost == 3


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_worker_path_over_a_fleet_gives_the_pure_detectors_verdict(seed: int) -> None:
    events = fleet(24, 80, seed=seed)
    worker = _Worker()
    worker.feed(events)
    worker.tick(NOW_MS + PARAMS.lateness_ms)
    _assert_same_as_offline(worker, events)


@pytest.mark.parametrize(
    ("seed", "crash_after", "committed"), [(4, 0.3, 0.1), (5, 0.5, 0.5), (6, 0.8, 0.2), (7, 0.6, 0.0)]
)
def test_a_crash_that_loses_uncommitted_work_neither_loses_nor_double_counts(
    seed: int, crash_after: float, committed: float
) -> None:
    """The table survives up to some write, offsets up to an earlier commit; the tail is processed again."""
    events = fleet(24, 80, seed=seed)
    worker = _Worker()
    crash = int(len(events) * crash_after)
    commit = int(len(events) * committed)
    worker.feed(events[:crash])
    # Writes after the commit may be lost (the producer had not delivered them); their incidents were sent.
    worker.restore(writes=len(worker.writes) - (crash - commit) // 2)
    worker.feed(events[commit:], first_offset=commit)  # the consumer resumes from the last commit
    worker.tick(NOW_MS + PARAMS.lateness_ms)
    _assert_same_as_offline(worker, events)


@dataclass
class _Worker:
    """The worker's effects without Kafka: a table, its changelog of writes, the incidents it sent."""

    table: dict[bytes, bytes] = field(default_factory=dict)
    writes: list[tuple[bytes, bytes]] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)

    def feed(self, events: list[wire.Event], first_offset: int = 0) -> None:
        for offset, (key, value) in enumerate(messages(events), start=first_offset):
            event = parse(key, value)
            assert not isinstance(event, Rejected)
            outcome = apply_event(
                self.table.get(key), event, partition=0, offset=offset, now_ms=NOW_MS, context=CONTEXT
            )
            if outcome is not None:
                self._write(key, outcome.record, outcome.incidents)

    def tick(self, now_ms: int) -> None:
        for key in list(self.table):
            outcome = apply_tick(self.table[key], now_ms=now_ms, context=CONTEXT)
            self._write(key, outcome.record, outcome.incidents)

    def restore(self, *, writes: int) -> None:
        """A restart: the table is what its changelog holds; sent incidents stay sent."""
        self.writes = self.writes[:writes]
        self.table = dict(self.writes)

    @property
    def counters(self) -> Counters:
        total = Counters()
        for value in self.table.values():
            total.add(decode_record(value).counters)
        return total

    def _write(self, key: bytes, record: DeviceRecord, incidents: list[Incident]) -> None:
        self.incidents += incidents  # delivered before the record is written
        value = encode_record(record)
        self.table[key] = value
        self.writes.append((key, value))


def _assert_same_as_offline(worker: _Worker, events: list[wire.Event]) -> None:
    truth = OfflineRun(PARAMS)
    truth.feed_all(events)
    counters = worker.counters
    assert counters.events == truth.events_by_type
    by_class: Counter[str] = Counter()
    for (_, signal_class), count in counters.signals.items():
        by_class[signal_class] += count
    assert by_class == Counter({str(cls): n for cls, n in truth.signals.items()})
    assert counters.dropped == truth.dropped
    assert counters.lost == truth.lost
    assert sum(counters.episodes.values()) == len(truth.incidents)
    latest = {incident.key: incident for incident in worker.incidents}
    assert sorted(latest.values(), key=lambda i: i.key) == sorted(truth.final_incidents(), key=lambda i: i.key)
    closed = [i for i in truth.final_incidents() if i.closed_ms is not None]
    assert sum(sum(buckets) for buckets in counters.durations.values()) == len(closed)
