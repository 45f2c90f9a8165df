"""What a device's events (or a tick of the processing clock) do to its record: the one engine of the
worker and of the replay. Pure: no Kafka, no clock, no codec.

Records go in and come out typed (:class:`~netdown.stream.record.DeviceRecord`), changed in place. The
worker is a thin loop around these functions: :func:`parse` each message of a batch into an event or a
rejection, decode each device's stored record, :func:`apply_events` its events to it, then carry out the
:class:`Outcome` (publish incidents and device facts, encode and store the record, count); it alone owns
the codec. The replay (:class:`~netdown.stream.replay_run.ReplayRun`) keeps its records in a dict and feeds
them one event at a time through :func:`apply_event`, the same function the worker's batches run, into
the same :class:`~netdown.stream.record.Counters`: what the two count cannot drift apart.

Each step is the detector's (:mod:`netdown.detection.detector`), followed by the inventory's
(:mod:`netdown.detection.inventory`: the incident records and the device's facts) and counted under
bounded labels (:mod:`netdown.stream.labels`).

A device's record is decoded once and encoded once per batch, however many of its events the batch
holds: after a broker outage, a catching-up worker sees many events per device in every batch.

Exactly-once effects: an event whose Kafka offset is at or below the record's ``last_offset`` was
already applied before a crash or a rebalance and is skipped whole, so its counts are never added
twice; a repeated ``event_id`` at a new offset (an agent resending) is the detector's to drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from netdown import wire
from netdown.detection import detector, inventory
from netdown.detection.detector import (
    DetectorParams,
    EpisodeChanged,
    EventApplied,
    EventDropped,
    EventsLost,
    SeqRestarted,
    SignalClassified,
    Transition,
)
from netdown.detection.device_facts import DeviceFacts, should_publish
from netdown.detection.incident import Incident
from netdown.detection.inventory import IncidentChanged, device_facts
from netdown.stream.dlq import KEY_MISMATCH, Rejected
from netdown.stream.labels import Labeler
from netdown.stream.record import Counters, DeviceRecord, copy_record, new_record
from netdown.stream.spool_reports import reported_loss

__all__ = [
    "Context",
    "DeviceResult",
    "Outcome",
    "apply_each",
    "apply_event",
    "apply_events",
    "apply_flush",
    "apply_tick",
    "due_ms",
    "parse",
]

_MAX_KEY_SHOWN = 80


@dataclass(frozen=True)
class Context:
    """What every decision needs besides the messages: the detection parameters and the label bounds."""

    params: DetectorParams
    labeler: Labeler = field(default_factory=Labeler)

    @property
    def facts_refresh_ms(self) -> int:
        """How far a device's own time moves before its unchanged facts are published again: S/2, so a
        reader of the devices topic tells a device seen within S (active) from a stale one."""
        return self.params.stale_ms // 2


@dataclass
class Outcome:
    """The effects of a device's events or of a tick: the record to store, the counts it added, the
    incidents to publish, and its facts when they are due on the devices topic."""

    record: DeviceRecord
    delta: Counters
    incidents: list[Incident]
    facts: DeviceFacts | None = None

    def then(self, later: Outcome) -> Outcome:
        """This outcome followed by ``later``, one computed from the record the other left."""
        self.delta.add(later.delta)
        return Outcome(
            record=later.record,
            delta=self.delta,
            incidents=self.incidents + later.incidents,
            facts=later.facts if later.facts is not None else self.facts,
        )


@dataclass
class DeviceResult:
    """:func:`apply_each`'s result: the outcome of the events that went through, and those that failed."""

    outcome: Outcome | None
    failures: list[tuple[int, Exception]]  # (index in the events given, what the detector raised)


def parse(key: bytes | None, value: bytes | None) -> wire.Event | Rejected:
    """Decode a message and check it is keyed by its own device (so it sits in the partition owning the device)."""
    event = wire.decode(value if value is not None else b"")
    if isinstance(event, wire.Rejection):
        return Rejected.from_wire(event)
    if key != event.device_id.encode():
        shown = repr(key)[:_MAX_KEY_SHOWN]
        return Rejected(KEY_MISMATCH, f"message key {shown} is not the event's device_id", "device_id")
    return event


def apply_event(
    record: DeviceRecord,
    event: wire.Event,
    now_ms: int,
    context: Context,
    delta: Counters,
    incidents: list[Incident],
) -> list[Transition]:
    """One decoded event of the record's device, at processing time ``now_ms``: the detector's step,
    followed by the inventory, counted into ``delta``; the incident records it changed are appended to
    ``incidents``. The hot loop of the worker's batches and of the replay alike; its transitions returned.
    """
    transitions = detector.step(record.detector, event, now_ms, context.params)
    counts = delta.events
    event_type = wire.EVENT_TYPE_OF[type(event)]
    counts[event_type] = counts.get(event_type, 0) + 1
    if isinstance(event, wire.HeartbeatEvent) and not _duplicate(transitions):
        # A resent heartbeat can arrive after newer ones (the agent resends from its last acknowledgement):
        # read again, it would set the loss baseline back and its growth would be counted twice.
        record.spool_report, lost = reported_loss(record.spool_report, event)
        if lost:
            delta.add(Counters(agent_lost=lost))
    if len(transitions) == 1 and type(first := transitions[0]) is EventApplied:
        # The common step, an event applied and nothing else: nothing to count, no incident. Most steps, so
        # the inventory is told directly, without the walk over transitions.
        inventory.applied(record.inventory, first.event)
    elif transitions:
        _follow(record, transitions, context, delta, incidents)
    return transitions


def apply_flush(record: DeviceRecord, context: Context, delta: Counters, incidents: list[Incident]) -> list[Transition]:
    """The end of the record's input (a replay's end, an evicted device): everything buffered applied, open
    gaps counted lost, followed and counted as :func:`apply_event` does; its transitions returned."""
    transitions = detector.flush(record.detector, context.params)
    _follow(record, transitions, context, delta, incidents)
    return transitions


def apply_events(
    record: DeviceRecord | None,
    events: Sequence[tuple[wire.Event, int]],
    *,
    partition: int,
    now_ms: int,
    context: Context,
) -> Outcome | None:
    """Apply one device's events, each with its offset in ``partition`` (in offset order), to its record
    (changed in place; None for a device never seen, whose record is created).

    None if every one was already applied (a replay after a crash): the record is unchanged. The record's
    ``last_offset`` becomes the offset of the last event applied. A record the detector raised on is
    half-applied: the caller drops it (and may go round the event with :func:`apply_each`).
    """
    record = new_record(events[0][0].device_id, partition) if record is None else record
    before = device_facts(record.detector, record.inventory)
    delta = Counters()
    incidents: list[Incident] = []
    applied = False
    for event, offset in events:
        if offset <= record.last_offset:
            continue
        apply_event(record, event, now_ms, context, delta, incidents)
        record.last_offset = offset
        applied = True
    if not applied:
        return None
    record.last_arrival_ms = now_ms
    return _finish(record, before, delta, incidents, context)


def apply_each(
    record: DeviceRecord | None,
    events: Sequence[tuple[wire.Event, int]],
    *,
    partition: int,
    now_ms: int,
    context: Context,
) -> DeviceResult:
    """:func:`apply_events` one event at a time, each to a copy of the record the last one left: the way
    round an event the detector fails on. The failing event is set aside alone, with its copy, so no
    half-applied state survives it, and the device's other events still count. Slower (a deep copy per
    event, :func:`~netdown.stream.record.copy_record`): for the rare batch in which :func:`apply_events`
    raised. ``record`` is as stored before that batch, and is not changed.
    """
    outcome: Outcome | None = None
    failures: list[tuple[int, Exception]] = []
    for index, item in enumerate(events):
        trial = None if record is None else copy_record(record)
        try:
            step = apply_events(trial, [item], partition=partition, now_ms=now_ms, context=context)
        except Exception as exc:  # any input, however broken, must not stop the device's other events
            failures.append((index, exc))
            continue
        if step is not None:
            outcome = step if outcome is None else outcome.then(step)
            record = step.record
    return DeviceResult(outcome=outcome, failures=failures)


def apply_tick(record: DeviceRecord, *, now_ms: int, context: Context) -> Outcome:
    """Let processing time alone release a device's buffered events and settle its sequence gaps."""
    before = device_facts(record.detector, record.inventory)
    delta = Counters()
    incidents: list[Incident] = []
    transitions = detector.tick(record.detector, now_ms, context.params)
    _follow(record, transitions, context, delta, incidents)
    return _finish(record, before, delta, incidents, context)


def due_ms(record: DeviceRecord, params: DetectorParams) -> int | None:
    """When processing time alone will next change the record (a buffered event or an open gap), if ever."""
    return detector.next_due_ms(record.detector, params)


def _follow(
    record: DeviceRecord,
    transitions: list[Transition],
    context: Context,
    delta: Counters,
    incidents: list[Incident],
) -> None:
    """One step's transitions, in order, through the inventory and counted into ``delta`` under bounded labels.

    One pass, dispatched on the exact class (most transitions are EventApplied): the inventory must see them
    in order, so that each incident record carries the release as of its own change.
    """
    labeler = context.labeler
    inv = record.inventory
    signals: list[str] = []
    for transition in transitions:
        if type(transition) is EventApplied:
            inventory.applied(inv, transition.event)
        elif type(transition) is EpisodeChanged:
            change = inventory.changed(inv, record.detector.device_id, transition)
            incidents.append(change.incident)
            _count_change(change, labeler, delta)
        elif type(transition) is SignalClassified:
            signals.append(transition.signal_class.value)
        elif type(transition) is EventsLost:
            delta.lost += transition.count
        elif type(transition) is EventDropped:
            delta.dropped[transition.reason] = delta.dropped.get(transition.reason, 0) + 1
        elif type(transition) is SeqRestarted:
            delta.seq_restarts += 1
    if signals:
        # The release as of the end of the step: a batch may hold a device's upgrade (a reboot onto a new version).
        os_version = labeler.os_version(inv.platform, inv.os_version)
        for signal_class in signals:
            delta.signals[(os_version, signal_class)] = delta.signals.get((os_version, signal_class), 0) + 1


def _count_change(change: IncidentChanged, labeler: Labeler, delta: Counters) -> None:
    """An opened episode counted under its release, app and kind; a closed one's duration observed."""
    incident = change.incident
    if change.change == "opened":
        key = (
            labeler.os_version(incident.platform, incident.os_version),
            labeler.platform(incident.platform),
            labeler.app(incident.app),
            incident.kind,
        )
        delta.episodes[key] = delta.episodes.get(key, 0) + 1
    elif change.change == "closed" and incident.closed_ms is not None:
        duration_s = max(incident.closed_ms - incident.opened_ms, 0) / 1000
        delta.observe_duration(labeler.os_version(incident.platform, incident.os_version), duration_s)


def _duplicate(transitions: list[Transition]) -> bool:
    """Whether the step dropped its event as a repeated ``event_id``."""
    return any(type(t) is EventDropped and t.reason == "duplicate" for t in transitions)


def _finish(
    record: DeviceRecord, before: DeviceFacts | None, delta: Counters, incidents: list[Incident], context: Context
) -> Outcome:
    """Add the counts to the record and decide whether its facts are due on the devices topic."""
    record.counters.add(delta)
    facts = device_facts(record.detector, record.inventory)
    if facts is None or not should_publish(
        before, facts, published_seen_ms=record.facts_published_seen_ms, refresh_ms=context.facts_refresh_ms
    ):
        return Outcome(record=record, delta=delta, incidents=incidents)
    record.facts_published_seen_ms = facts.last_seen_ms
    return Outcome(record=record, delta=delta, incidents=incidents, facts=facts)
