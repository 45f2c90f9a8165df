"""What a device's messages (or a tick of the processing clock) do to its record. Pure: no Kafka, no clock.

The worker is a thin loop around these functions: :func:`parse` each message of a batch into an event
or a rejection, :func:`apply_events` each device's events to its stored record, then carry out the
:class:`Outcome` (publish incidents and device facts, store the record, count). Keeping the decisions
here lets unit tests drive them with plain bytes, and keeps the Faust module about wiring only.

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
from netdown.detection import detector
from netdown.detection.detector import (
    DetectorParams,
    EventDropped,
    EventsLost,
    IncidentChanged,
    SeqRestarted,
    SignalClassified,
    Transition,
)
from netdown.detection.incident import Incident
from netdown.stream.devices import DeviceFacts, device_facts, should_publish
from netdown.stream.dlq import KEY_MISMATCH, Rejected
from netdown.stream.labels import Labeler
from netdown.stream.record import Counters, DeviceRecord, decode_record, encode_record, new_record
from netdown.stream.spool_reports import reported_loss

__all__ = ["Context", "DeviceResult", "Outcome", "apply_each", "apply_events", "apply_tick", "due_ms", "parse"]

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


def apply_events(
    stored: bytes | None,
    events: Sequence[tuple[wire.Event, int]],
    *,
    partition: int,
    now_ms: int,
    context: Context,
) -> Outcome | None:
    """Apply one device's events, each with its offset in ``partition`` (in offset order), to its stored record.

    None if every one was already applied (a replay after a crash). The record's ``last_offset``
    becomes the offset of the last event applied.
    """
    record = new_record(events[0][0].device_id, partition) if stored is None else decode_record(stored)
    before = device_facts(record.detector)
    delta = Counters()
    incidents: list[Incident] = []
    state, params, counts = record.detector, context.params, delta.events
    applied = False
    for event, offset in events:
        if offset <= record.last_offset:
            continue
        transitions = detector.step(state, event, now_ms, params)
        record.last_offset = offset
        applied = True
        event_type = wire.event_type(event)
        counts[event_type] = counts.get(event_type, 0) + 1
        if event_type == "heartbeat" and not _duplicate(transitions):
            # A resent heartbeat can arrive after newer ones (the agent resends from its last acknowledgement):
            # read again, it would set the loss baseline back and its growth would be counted twice.
            assert isinstance(event, wire.HeartbeatEvent)
            record.spool_report, lost = reported_loss(record.spool_report, event)
            if lost:
                delta.add(Counters(agent_lost=lost))
        if transitions:
            _count(record, transitions, context, delta, incidents)
    if not applied:
        return None
    record.last_arrival_ms = now_ms
    return _finish(record, before, delta, incidents, context)


def apply_each(
    stored: bytes | None,
    events: Sequence[tuple[wire.Event, int]],
    *,
    partition: int,
    now_ms: int,
    context: Context,
) -> DeviceResult:
    """:func:`apply_events` one event at a time, from the stored bytes each left: the way round an event
    the detector fails on. The failing event is set aside alone, with no half-applied state, and the
    device's other events still count. Slow (a decode and an encode per event): for the rare batch in
    which :func:`apply_events` raised.
    """
    outcome: Outcome | None = None
    failures: list[tuple[int, Exception]] = []
    for index, item in enumerate(events):
        try:
            step = apply_events(stored, [item], partition=partition, now_ms=now_ms, context=context)
        except Exception as exc:  # any input, however broken, must not stop the device's other events
            failures.append((index, exc))
            continue
        if step is not None:
            outcome = step if outcome is None else outcome.then(step)
            stored = encode_record(step.record)
    return DeviceResult(outcome=outcome, failures=failures)


def apply_tick(stored: bytes, *, now_ms: int, context: Context) -> Outcome:
    """Let processing time alone release a device's buffered events and settle its sequence gaps."""
    record = decode_record(stored)
    before = device_facts(record.detector)
    delta = Counters()
    incidents: list[Incident] = []
    transitions = detector.tick(record.detector, now_ms, context.params)
    _count(record, transitions, context, delta, incidents)
    return _finish(record, before, delta, incidents, context)


def due_ms(record: DeviceRecord, params: DetectorParams) -> int | None:
    """When processing time alone will next change the record (a buffered event or an open gap), if ever."""
    return detector.next_due_ms(record.detector, params)


def _count(
    record: DeviceRecord,
    transitions: list[Transition],
    context: Context,
    delta: Counters,
    incidents: list[Incident],
) -> None:
    """Count one step's transitions into ``delta`` (under bounded labels) and pick out its incidents."""
    labeler = context.labeler
    for transition in transitions:
        match transition:
            case IncidentChanged(change=change, incident=incident):
                incidents.append(incident)
                if change == "opened":
                    key = (
                        labeler.os_version(incident.platform, incident.os_version),
                        labeler.platform(incident.platform),
                        labeler.app(incident.app),
                        incident.kind,
                    )
                    delta.episodes[key] = delta.episodes.get(key, 0) + 1
                elif change == "closed" and incident.closed_ms is not None:
                    duration_s = max(incident.closed_ms - incident.opened_ms, 0) / 1000
                    delta.observe_duration(labeler.os_version(incident.platform, incident.os_version), duration_s)
            case SignalClassified(signal_class=signal_class):
                # The release as of this step: a batch may hold a device's upgrade (a reboot onto a new version).
                state = record.detector
                signal_key = (labeler.os_version(state.platform, state.os_version), signal_class.value)
                delta.signals[signal_key] = delta.signals.get(signal_key, 0) + 1
            case EventsLost(count=count):
                delta.lost += count
            case EventDropped(reason=reason):
                delta.dropped[reason] = delta.dropped.get(reason, 0) + 1
            case SeqRestarted():
                delta.seq_restarts += 1


def _duplicate(transitions: list[Transition]) -> bool:
    """Whether the step dropped its event as a repeated ``event_id``."""
    return any(type(t) is EventDropped and t.reason == "duplicate" for t in transitions)


def _finish(
    record: DeviceRecord, before: DeviceFacts | None, delta: Counters, incidents: list[Incident], context: Context
) -> Outcome:
    """Add the counts to the record and decide whether its facts are due on the devices topic."""
    record.counters.add(delta)
    facts = device_facts(record.detector)
    if facts is None or not should_publish(
        before, facts, published_seen_ms=record.facts_published_seen_ms, refresh_ms=context.facts_refresh_ms
    ):
        return Outcome(record=record, delta=delta, incidents=incidents)
    record.facts_published_seen_ms = facts.last_seen_ms
    return Outcome(record=record, delta=delta, incidents=incidents, facts=facts)
