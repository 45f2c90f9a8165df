"""What a device's messages do to its record: parsing, batches, exactly-once counting, crash replays,
processing time, internal errors, and when its facts are published."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import msgspec
import pytest

from benchmarks.replay_throughput import fleet_capture
from netdown import wire
from netdown.detection import detector
from netdown.detection.detector import DetectorParams, DeviceState
from netdown.detection.device_facts import DeviceFacts
from netdown.detection.incident import Incident
from netdown.detection.inventory import device_facts
from netdown.stream.dlq import KEY_MISMATCH, Rejected
from netdown.stream.engine import Context, Outcome, apply_each, apply_events, apply_tick, due_ms, parse
from netdown.stream.labels import Labeler
from netdown.stream.record import Counters, DeviceRecord, decode_record, encode_record
from netdown.stream.replay_run import ReplayRun
from netdown.testing import APP, T0_MS, Device, messages, simulated_fleet

PARAMS = DetectorParams(window_ms=30_000, settle_ms=10_000, stuck_ms=60_000, lateness_ms=2_000, stale_ms=900_000)
CONTEXT = Context(params=PARAMS, labeler=Labeler.from_apps([APP]))
NOW_MS = 1_900_000_000_000  # the worker's wall clock: far from the events' own time, as in production
FLEET_MS = 600_000  # ten minutes of a simulated fleet: about 100 events a device


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


def _apply(stored: bytes | None, *events: tuple[wire.Event, int]) -> Outcome | None:
    """The device's events applied to its record as the worker's table stores it (None: not yet)."""
    return apply_events(_decoded(stored), events, partition=0, now_ms=NOW_MS, context=CONTEXT)


def _decoded(stored: bytes | None) -> DeviceRecord | None:
    return None if stored is None else decode_record(stored)


def test_an_event_at_or_below_the_records_last_offset_is_a_replay_and_changes_nothing() -> None:
    device = Device("mac-replay-0001")
    first, second = device.heartbeat(T0_MS), device.system_path(T0_MS + 1_000)
    outcome = _apply(None, (first, 7))
    assert outcome is not None
    stored = encode_record(outcome.record)
    assert _apply(stored, (first, 7)) is None
    assert _apply(stored, (second, 5)) is None
    later = _apply(stored, (second, 8))
    assert later is not None
    assert later.record.counters.events == {"heartbeat": 1, "path": 1}
    assert later.delta.events == {"path": 1}


def test_a_batch_replayed_after_a_crash_applies_only_the_events_beyond_the_records_offset() -> None:
    device = Device("mac-replay-0002")
    events = [device.heartbeat(T0_MS), device.system_path(T0_MS + 1_000), device.probe(T0_MS + 2_000)]
    stored = encode_record(_outcome(_apply(None, (events[0], 10), (events[1], 12))).record)
    replayed = _outcome(_apply(stored, (events[0], 10), (events[1], 12), (events[2], 15)))
    assert replayed.delta.events == {"probe": 1}
    assert replayed.record.last_offset == 15
    assert replayed.record.counters.events == {"heartbeat": 1, "path": 1, "probe": 1}


def test_a_batch_of_a_devices_events_leaves_the_record_they_leave_one_at_a_time() -> None:
    fleet = simulated_fleet(8, FLEET_MS, seed=9, params=PARAMS)
    events = [event for event in fleet if event.device_id == fleet[0].device_id]
    batched = _outcome(_apply(None, *((event, offset) for offset, event in enumerate(events))))
    stored: bytes | None = None
    incidents: list[Incident] = []
    for offset, event in enumerate(events):
        single = _outcome(_apply(stored, (event, offset)))
        incidents += single.incidents
        stored = encode_record(single.record)
    assert stored is not None
    # The same record, but for when its facts were last published: each step decides that on its own.
    one_by_one = decode_record(stored)
    assert msgspec.structs.replace(batched.record, facts_published_seen_ms=None) == msgspec.structs.replace(
        one_by_one, facts_published_seen_ms=None
    )
    assert batched.incidents == incidents
    assert batched.delta == batched.record.counters
    assert batched.record.last_offset == len(events) - 1


def test_a_repeated_event_id_at_a_new_offset_is_counted_as_a_dropped_duplicate() -> None:
    device = Device("mac-dupe-00001")
    device.heartbeat(T0_MS)
    device.duplicate_last()
    outcome = _outcome(_apply(None, *((event, offset) for offset, event in enumerate(device.events))))
    counters = outcome.record.counters
    assert (counters.events, counters.dropped) == ({"heartbeat": 2}, {"duplicate": 1})


def test_an_event_the_detector_fails_on_is_set_aside_alone_and_the_devices_others_still_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device = Device("mac-broken-0001")
    events = [device.heartbeat(T0_MS), device.system_path(T0_MS + 1_000), device.probe(T0_MS + 2_000)]
    step = detector.step

    def failing_step(state: DeviceState, event: wire.Event, now_ms: int, params: DetectorParams) -> object:
        if event is events[1]:
            raise RuntimeError("a detector bug")
        return step(state, event, now_ms, params)

    monkeypatch.setattr(detector, "step", failing_step)
    items = [(event, offset) for offset, event in enumerate(events, start=20)]
    with pytest.raises(RuntimeError):
        apply_events(None, items, partition=0, now_ms=NOW_MS, context=CONTEXT)
    result = apply_each(None, items, partition=0, now_ms=NOW_MS, context=CONTEXT)
    assert [(index, str(error)) for index, error in result.failures] == [(1, "a detector bug")]
    outcome = _outcome(result.outcome)
    assert outcome.delta.events == {"heartbeat": 1, "probe": 1}
    assert outcome.record.counters.events == {"heartbeat": 1, "probe": 1}
    assert outcome.record.last_offset == 22


def test_a_devices_facts_are_published_first_then_on_change_and_once_its_time_moved_half_of_s() -> None:
    device = Device("mac-facts-0001")
    device.heartbeat(T0_MS)
    device.system_path(T0_MS + 1_000)
    device.probe(T0_MS + 4_000)  # L past the first two: they are applied, in order
    first = _outcome(_apply(None, *((event, offset) for offset, event in enumerate(device.events))))
    assert first.facts is not None  # the first time: always
    assert first.facts == device_facts(first.record.detector, first.record.inventory)
    assert first.record.facts_published_seen_ms == T0_MS + 4_000
    stored = encode_record(first.record)
    quiet = _outcome(_apply(stored, (device.probe(T0_MS + 5_000), 3)))
    assert quiet.facts is None  # only last_seen moved, and by less than S/2
    stored = encode_record(quiet.record)
    failed = _outcome(_apply(stored, (device.conn(T0_MS + 20_000, enetdown=True), 4)))  # healthy for 19 s > G
    assert failed.facts is not None  # an episode opened: affected, episodes and last_episode_ms changed
    assert (failed.facts.affected, failed.facts.episodes, failed.facts.last_episode_ms) == (True, 1, T0_MS + 20_000)
    stored = encode_record(failed.record)
    later = T0_MS + 20_000 + PARAMS.stale_ms // 2
    refreshed = _outcome(_apply(stored, (device.probe(later), 5)))
    assert refreshed.facts is not None  # unchanged, but last seen S/2 after the last one published
    assert refreshed.facts.last_seen_ms == later


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
    outcome = apply_events(None, [(device.heartbeat(T0_MS), 0)], partition=3, now_ms=NOW_MS, context=CONTEXT)
    assert outcome is not None
    assert outcome.facts is None  # nothing applied yet: no facts to publish
    assert due_ms(outcome.record, PARAMS) == NOW_MS + PARAMS.lateness_ms  # a first event waits for L
    stored = encode_record(outcome.record)
    early = apply_tick(decode_record(stored), now_ms=NOW_MS + 1, context=CONTEXT)
    assert due_ms(early.record, PARAMS) == NOW_MS + PARAMS.lateness_ms
    due = apply_tick(decode_record(stored), now_ms=NOW_MS + PARAMS.lateness_ms, context=CONTEXT)
    assert due_ms(due.record, PARAMS) is None
    assert due.record.detector.last_applied_seq == 1
    assert due.record.partition == 3
    assert due.facts is not None  # applied by the tick: its facts are published then


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


@pytest.mark.parametrize(("seed", "batch"), [(1, 1), (2, 7), (3, 500)])
def test_the_worker_path_over_a_fleet_gives_the_pure_detectors_verdict(seed: int, batch: int) -> None:
    events = simulated_fleet(24, FLEET_MS, seed=seed, params=PARAMS)
    worker = _Worker(batch=batch)
    worker.feed(events)
    worker.tick(NOW_MS + PARAMS.lateness_ms)
    _assert_same_as_replay(worker, events)


@pytest.mark.parametrize(
    ("seed", "crash_after", "committed", "batch"),
    [(4, 0.3, 0.1, 1), (5, 0.5, 0.5, 13), (6, 0.8, 0.2, 100), (7, 0.6, 0.0, 31)],
)
def test_a_crash_that_loses_uncommitted_work_neither_loses_nor_double_counts(
    seed: int, crash_after: float, committed: float, batch: int
) -> None:
    """The table survives up to some write, offsets up to an earlier commit; the tail is processed again."""
    events = simulated_fleet(24, FLEET_MS, seed=seed, params=PARAMS)
    worker = _Worker(batch=batch)
    crash = int(len(events) * crash_after)
    commit = int(len(events) * committed)
    worker.feed(events[:crash])
    # Writes after the commit may be lost (the producer had not delivered them); their incidents were sent.
    worker.restore(writes=len(worker.writes) - (crash - commit) // 2)
    worker.feed(events[commit:], first_offset=commit)  # the consumer resumes from the last commit
    worker.tick(NOW_MS + PARAMS.lateness_ms)
    _assert_same_as_replay(worker, events)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_worker_path_counts_and_publishes_what_the_replay_does_for_a_simulated_fleet(seed: int) -> None:
    """One engine: a simulated fleet (:mod:`netdown.sim`) through the worker's :func:`apply_events`, an event
    a batch at the processing clock the replay gives its device, adds up to the replay's very counts, in
    every label, and makes its incident changes, in order, and its devices' facts."""
    params = DetectorParams()
    events = [e for e in map(wire.decode, fleet_capture(6_000, 60, seed)) if not isinstance(e, wire.Rejection)]
    run = ReplayRun(params)
    context = Context(params=params)  # the replay's: no app allowlist
    records: dict[str, DeviceRecord] = {}
    total, incidents, published = Counters(), list[Incident](), dict[str, DeviceFacts]()
    for offset, event in enumerate(events):
        assert not isinstance(run.offer(event), Rejected)  # an honest fleet: no clock refused
        clock = run.devices[event.device_id].last_arrival_ms  # the replay's processing clock for the device
        outcome = _outcome(
            apply_events(records.get(event.device_id), [(event, offset)], partition=0, now_ms=clock, context=context)
        )
        records[event.device_id] = outcome.record
        total.add(outcome.delta)
        incidents += outcome.incidents
        if outcome.facts is not None:
            published[outcome.facts.device_id] = outcome.facts
    assert total == run.counters
    assert incidents == run.incidents
    _assert_facts_as_replay(published, run)


def _outcome(outcome: Outcome | None) -> Outcome:
    assert outcome is not None
    return outcome


@dataclass
class _Worker:
    """The worker's effects without Kafka: a table, its changelog of writes, the incidents and facts it sent."""

    batch: int = 1
    table: dict[bytes, bytes] = field(default_factory=dict)
    writes: list[tuple[bytes, bytes]] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    facts: dict[str, DeviceFacts] = field(default_factory=dict)  # the devices topic, compacted

    def feed(self, events: list[wire.Event], first_offset: int = 0) -> None:
        """Messages at consecutive offsets, ``batch`` at a time, each batch grouped by device as the worker does."""
        numbered = list(enumerate(messages(events), start=first_offset))
        for start in range(0, len(numbered), self.batch):
            by_device: dict[bytes, list[tuple[wire.Event, int]]] = {}
            for offset, (key, value) in numbered[start : start + self.batch]:
                event = parse(key, value)
                assert not isinstance(event, Rejected)
                by_device.setdefault(key, []).append((event, offset))
            for key, items in by_device.items():
                record = _decoded(self.table.get(key))
                self._write(key, apply_events(record, items, partition=0, now_ms=NOW_MS, context=CONTEXT))

    def tick(self, now_ms: int) -> None:
        for key in list(self.table):
            self._write(key, apply_tick(decode_record(self.table[key]), now_ms=now_ms, context=CONTEXT))

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

    def _write(self, key: bytes, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        self.incidents += outcome.incidents  # delivered before the record is written
        if outcome.facts is not None:
            self.facts[outcome.facts.device_id] = outcome.facts
        value = encode_record(outcome.record)
        self.table[key] = value
        self.writes.append((key, value))


def _assert_same_as_replay(worker: _Worker, events: list[wire.Event]) -> None:
    truth = ReplayRun(PARAMS)
    truth.feed_all(events)
    counters = worker.counters
    assert counters.events == truth.events_by_type
    by_class: Counter[str] = Counter()
    for (_, signal_class), count in counters.signals.items():
        by_class[signal_class] += count
    assert by_class == Counter({str(cls): n for cls, n in truth.signals.items()})
    assert counters.dropped == truth.dropped
    assert counters.lost == truth.lost
    assert sum(counters.episodes.values()) == len(truth.final_incidents())
    latest = {incident.key: incident for incident in worker.incidents}
    assert sorted(latest.values(), key=lambda i: i.key) == sorted(truth.final_incidents(), key=lambda i: i.key)
    closed = [i for i in truth.final_incidents() if i.closed_ms is not None]
    assert sum(sum(buckets) for buckets in counters.durations.values()) == len(closed)
    _assert_facts_as_replay(worker.facts, truth)


def _assert_facts_as_replay(published: dict[str, DeviceFacts], truth: ReplayRun) -> None:
    """The latest facts published per device (the compacted topic) are the pure detector's final ones,
    ``last_seen_ms`` and each source's ``last_success_ms`` up to S/2 behind (the publishing rule's slack;
    a first success may wait for that refresh too)."""
    expected = {facts.device_id: facts for facts in truth.final_device_facts()}
    assert published.keys() == expected.keys() == truth.devices.keys()
    slack = PARAMS.stale_ms // 2
    for device_id, facts in expected.items():
        latest = published[device_id]
        assert 0 <= facts.last_seen_ms - latest.last_seen_ms < slack
        for source, final in zip(latest.sources, facts.sources, strict=True):
            assert source.last_success_ms is None or 0 <= (final.last_success_ms or 0) - source.last_success_ms < slack
        sources = tuple(
            msgspec.structs.replace(source, last_success_ms=final.last_success_ms)
            for source, final in zip(latest.sources, facts.sources, strict=True)
        )
        assert msgspec.structs.replace(latest, last_seen_ms=facts.last_seen_ms, sources=sources) == facts
