"""The detector's bounds: no input makes a device's stored record outgrow its budget (Kafka refuses messages
over 1 MB, and a changelog write that fails would stop the worker)."""

from __future__ import annotations

import itertools
import random

import msgspec

from netdown import wire
from netdown.detection import detector
from netdown.detection.detector import (
    MAX_APPS,
    MAX_BUFFER_BYTES,
    MAX_PROBES,
    MAX_SEEN_IDS,
    MAX_SYSTEM_PATHS,
    MAX_TRANSIENTS,
    DetectorParams,
    EpisodeChanged,
    EventDropped,
    EventsLost,
    SignalClassified,
    Transition,
)
from netdown.detection.device_facts import DeviceSource
from netdown.detection.incident import EPISODE_KIND
from netdown.detection.inventory import Inventory
from netdown.stream.engine import Context, apply_events
from netdown.stream.labels import OTHER, normalise_os_version, os_version_values
from netdown.stream.record import (
    RECORD_BUDGET_BYTES,
    STATE_BUDGET_BYTES,
    Counters,
    decode_record,
    encode_record,
    new_record,
)
from netdown.testing import APP, T0_MS, Device

PARAMS = DetectorParams()
_NAME = "n" * 256  # the longest name the wire contract allows (event ids, boot ids, apps)
_TEXT = "t" * 512  # the longest free text (os_version, os_build)


def _longest(event: wire.Event, index: int) -> wire.Event:
    """``event`` with every string the detector keeps as long as the wire contract allows, and a unique id."""
    event_id = f"{index:08d}".ljust(256, "x")
    return msgspec.structs.replace(event, event_id=event_id, boot_id=_NAME, os_version=_TEXT, os_build=_TEXT)


def _largest_facts() -> wire.Facts:
    """The largest facts a heartbeat within wire.MAX_EVENT_BYTES can carry."""
    extension = wire.NetworkExtension(id=_NAME, kind="packet_tunnel")
    heartbeat = _longest(Device("device-0001").heartbeat(T0_MS), 0)
    count = 1
    while True:
        facts = wire.Facts(network_extensions=(extension,) * (count + 1))
        if len(wire.encode(msgspec.structs.replace(heartbeat, facts=facts))) > wire.MAX_EVENT_BYTES:
            return wire.Facts(network_extensions=(extension,) * count)
        count += 1


def _worst_case_state() -> detector.DeviceState:
    """A state with every bounded collection full of the longest strings: what a hostile device can reach."""
    device = Device("d" * 64)
    state = detector.new_device(device.device_id)
    state.boot_id = _NAME
    state.past_boots = [f"{i}".ljust(256, "b") for i in range(detector._MAX_PAST_BOOTS)]
    state.seen = {2**64 - 1 - i: 2**63 - 1 - i for i in range(MAX_SEEN_IDS)}
    state.seq_gaps = [detector._SeqGap(2**62 + 2 * i, 2**62 + 2 * i, 2**62) for i in range(detector._MAX_SEQ_GAPS)]
    state.lost_seqs = [detector._SeqRange(2**62 + 2 * i, 2**62 + 2 * i) for i in range(detector.MAX_LOST_RANGES)]
    # The buffer as full as it may be left: one byte more would release its head.
    index = 0
    while True:
        pending = detector._Pending(2**62, 2**62, 2**62, _longest(device.conn(T0_MS, enetdown=True), index))
        detector._buffer(state, pending)
        if state.buffer_bytes > MAX_BUFFER_BYTES:
            state.buffer.pop()
            state.buffer_bytes -= pending.size
            break
        index += 1
    state.system_paths = [
        detector._SystemPath(2**62 + i, True, f"{i}".ljust(256, "p"), 2**62, 2**62) for i in range(MAX_SYSTEM_PATHS)
    ]
    state.probes = [detector._Probe(2**62 + i, False, 2**62) for i in range(MAX_PROBES)]
    transients_each = -(-MAX_TRANSIENTS // MAX_APPS)
    for app in range(MAX_APPS):
        state.apps[f"{app}".ljust(256, "a")] = detector._AppState(
            episode=detector._Episode(opened_ms=2**62, evidence=(_NAME, _NAME), stuck=True),
            last_recovery_ms=2**62,
            transients=[detector._Transient(2**62, _NAME, 2**62, 2**62) for _ in range(transients_each)],
        )
    return state


def _worst_case_inventory() -> Inventory:
    """The longest release the wire contract allows, the largest heartbeat facts, and as many sources as a
    heartbeat may report, with the longest names (a real heartbeat cannot hold both at their largest)."""
    source = DeviceSource(name=_NAME, role="system_path", running=False, last_success_ms=2**62)
    return Inventory(
        platform="darwin",
        os_version=_TEXT,
        os_build=_TEXT,
        facts=_largest_facts(),
        sources=(source,) * wire.MAX_SOURCES,
        first_seen_ms=2**62,
    )


def _worst_case_counters() -> Counters:
    """Counters under every OS release label of both platforms, for an allowlist of 16 apps of 64 characters:
    a device that reported every release and had episodes in each. They are cumulative, so not bounded
    by count, only by the label values (netdown.stream.labels)."""
    counters = Counters()
    apps = [f"com.example.app{i}".ljust(64, "a") for i in range(16)] + [OTHER]
    for platform in ("darwin", "linux"):
        releases = {normalise_os_version(platform, f"{major}.{minor}") for major in range(30) for minor in range(30)}
        for os_version, app in itertools.product(releases, apps):
            counters.episodes[(os_version, platform, app, EPISODE_KIND)] = 2**40
    for os_version in os_version_values():
        for signal_class in detector.SignalClass:
            counters.signals[(os_version, signal_class.value)] = 2**40
        counters.observe_duration(os_version, 1.5)
    counters.events = dict.fromkeys(wire.EVENT_TYPES, 2**40)
    counters.dropped = {"duplicate": 2**40, "late": 2**40}
    counters.lost = 2**40
    return counters


def test_worst_case_record_is_within_budget() -> None:
    state = _worst_case_state()
    record = new_record(state.device_id, 0)
    record.detector, record.inventory, record.counters = state, _worst_case_inventory(), _worst_case_counters()
    size = len(encode_record(record))
    state_size = len(msgspec.msgpack.encode(state))
    inventory_size = len(msgspec.msgpack.encode(record.inventory))
    print(f"worst-case record: {size} bytes, of which detector state {state_size}, inventory {inventory_size}")
    assert state_size + inventory_size <= STATE_BUDGET_BYTES  # what the detector state held before the inventory
    assert size <= RECORD_BUDGET_BYTES
    assert decode_record(encode_record(record)) == record


def _flood(count: int, seed: int) -> list[wire.Event]:
    """``count`` events of one device within L: failures, recoveries, system paths and probes across
    many apps, in shuffled order with a tenth of them repeated."""
    rng = random.Random(seed)
    device = Device("flooding-device")
    span = PARAMS.lateness_ms - 1
    events: list[wire.Event] = []
    for _ in range(count):
        ts = T0_MS + rng.randrange(span)
        kind = rng.randrange(5)
        app = f"{APP}.{rng.randrange(3 * MAX_APPS)}"
        if kind == 0:
            events.append(device.conn(ts, enetdown=True, app=app))
        elif kind == 1:
            events.append(device.conn(ts, app=app))
        elif kind == 2:
            events.append(device.system_path(ts, satisfied=rng.random() < 0.8))
        elif kind == 3:
            events.append(device.probe(ts, ok=rng.random() < 0.9))
        else:
            events.append(device.heartbeat(ts))
    rng.shuffle(events)
    repeats = rng.sample(events, count // 10)
    for event in repeats:
        events.insert(rng.randrange(len(events)), event)
    return events


def test_a_flood_within_lateness_keeps_the_record_within_budget() -> None:
    events = _flood(50_000, seed=7)
    record = new_record(events[0].device_id, 0)
    state = record.detector
    transitions: list[Transition] = []
    largest = 0
    for index, event in enumerate(events):
        transitions += detector.step(state, event, T0_MS + index, PARAMS)  # all within L of processing time
        if index % 1000 == 0:
            largest = max(largest, len(encode_record(record)))
    # After the flood, a real failure: the system healthy for longer than G, then ENETDOWN. The flooded device
    # is degraded while it floods, never broken for good: this one opens an episode.
    device = Device(events[0].device_id, seq=max(event.seq for event in events))
    after = T0_MS + 2 * PARAMS.lateness_ms
    failure = device.conn(after + PARAMS.settle_ms + 1_000, enetdown=True, app=APP)
    for event in (device.system_path(after), failure):
        transitions += detector.step(state, event, T0_MS + len(events) + PARAMS.lateness_ms, PARAMS)
    transitions += detector.flush(state, PARAMS)
    largest = max(largest, len(encode_record(record)))
    print(f"largest record during the flood: {largest} bytes")
    assert largest <= STATE_BUDGET_BYTES
    assert len(state.seen) <= MAX_SEEN_IDS
    assert not state.buffer
    assert state.buffer_bytes == 0
    assert len(state.system_paths) <= MAX_SYSTEM_PATHS
    assert len(state.probes) <= MAX_PROBES
    assert len(state.apps) <= MAX_APPS
    # Sane: each failure signal classified, once unless its repeat came after its id was forgotten (the cost
    # of MAX_SEEN_IDS); repeats otherwise dropped.
    repeats = len(events) - 50_000
    failures = {e.event_id for e in [*events, failure] if isinstance(e, wire.ConnEvent) and e.error is not None}
    classified = [t for t in transitions if isinstance(t, SignalClassified)]
    assert {t.event_id for t in classified} == failures
    assert len(classified) - len(failures) <= repeats
    assert any(isinstance(t, EventDropped) and t.reason == "duplicate" for t in transitions)
    # Shuffled over more seq gaps than are tracked, the oldest gaps are counted lost early: never more than sent.
    assert sum(t.count for t in transitions if isinstance(t, EventsLost)) < 50_000
    opened = [t for t in transitions if isinstance(t, EpisodeChanged) and t.change == "opened"]
    assert opened[-1].episode.evidence[0] == failure.event_id


def test_a_flood_through_a_batch_is_stored_within_budget() -> None:
    events = _flood(20_000, seed=11)
    context = Context(params=PARAMS)
    outcome = apply_events(
        None, [(event, offset) for offset, event in enumerate(events)], partition=0, now_ms=T0_MS, context=context
    )
    assert outcome is not None
    stored = encode_record(outcome.record)
    assert len(stored) <= STATE_BUDGET_BYTES
    assert sum(outcome.delta.events.values()) == len(events)
    assert outcome.delta.dropped.get("duplicate", 0) > 0
    # The next batch reads it back and goes on.
    more = _flood(1_000, seed=12)
    later = apply_events(
        decode_record(stored),
        [(e, len(events) + i) for i, e in enumerate(more)],
        partition=0,
        now_ms=T0_MS,
        context=context,
    )
    assert later is not None
    assert len(encode_record(later.record)) <= STATE_BUDGET_BYTES


def test_lost_ranges_stay_bounded_and_merging_them_never_hides_a_loss() -> None:
    """A device losing every other event for hours: the ranges kept are bounded, and a path before all of them
    still needs fresh evidence (the merged ranges cover every number they replaced)."""
    params = detector.DetectorParams()
    device = Device("mac-lossy-0001")
    state = detector.new_device(device.device_id)
    now = T0_MS
    for event in (device.heartbeat(T0_MS), device.system_path(T0_MS + 1_000)):
        detector.step(state, event, now, params)
    lost = 0
    for index in range(4 * detector.MAX_LOST_RANGES):
        device.seq += 1  # this number never arrives
        now = T0_MS + 2_000 + index * 1_000
        lost += sum(
            t.count
            for t in detector.step(state, device.heartbeat(now), now, params)
            if isinstance(t, detector.EventsLost)
        )
        assert len(state.lost_seqs) <= detector.MAX_LOST_RANGES
    signal = device.conn(now + 1_000, enetdown=True)  # the path is ~260 s old: older than W, younger than R
    transitions = detector.step(state, signal, now + params.lateness_ms + 1_000, params)
    transitions += detector.flush(state, params)
    lost += sum(t.count for t in transitions if isinstance(t, detector.EventsLost))
    classes = [t.signal_class for t in transitions if isinstance(t, detector.SignalClassified)]
    assert classes == [detector.SignalClass.INSUFFICIENT_EVIDENCE]
    assert lost == 4 * detector.MAX_LOST_RANGES
