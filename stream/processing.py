"""What one message (or one tick of the processing clock) does to a device record. Pure: no Kafka, no clock.

The worker's agent is a thin loop around these functions: :func:`parse` a message into an event or a
rejection, :func:`apply_event` it to the device's stored record, then carry out the
:class:`Outcome` (publish incidents, store the record, count). Keeping the decisions here lets unit
tests drive them with plain bytes, and keeps the Faust module about wiring only.

Exactly-once effects: an event whose Kafka offset is at or below the record's ``last_offset`` was
already applied before a crash or a rebalance and is skipped whole, so its counts are never added
twice; a repeated ``event_id`` at a new offset (an agent resending) is the detector's to drop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netdown import wire
from netdown.stream import detector
from netdown.stream.detector import (
    DetectorParams,
    EventDropped,
    EventsLost,
    IncidentChanged,
    SignalClassified,
    Transition,
)
from netdown.stream.dlq import KEY_MISMATCH, Rejected
from netdown.stream.incident import Incident
from netdown.stream.labels import Labeler
from netdown.stream.record import Counters, DeviceRecord, decode_record, new_record

__all__ = ["Context", "Outcome", "apply_event", "apply_tick", "due_ms", "parse"]

_MAX_KEY_SHOWN = 80


@dataclass(frozen=True)
class Context:
    """What every decision needs besides the message: the detection parameters and the label bounds."""

    params: DetectorParams
    labeler: Labeler = field(default_factory=Labeler)


@dataclass
class Outcome:
    """The effects of one event or tick: the record to store, the counts it added, the incidents to publish."""

    record: DeviceRecord
    delta: Counters
    incidents: list[Incident]


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
    stored: bytes | None, event: wire.Event, *, partition: int, offset: int, now_ms: int, context: Context
) -> Outcome | None:
    """Apply one event at (partition, offset) to its device's stored record; None if it was already applied."""
    record = new_record(event.device_id, partition) if stored is None else decode_record(stored)
    if offset <= record.last_offset:
        return None
    transitions = detector.step(record.detector, event, now_ms, context.params)
    record.last_offset = offset
    record.last_arrival_ms = now_ms
    return _outcome(record, transitions, context, event_type=wire.event_type(event))


def apply_tick(stored: bytes, *, now_ms: int, context: Context) -> Outcome:
    """Let processing time alone release a device's buffered events and settle its sequence gaps."""
    record = decode_record(stored)
    return _outcome(record, detector.tick(record.detector, now_ms, context.params), context, event_type=None)


def due_ms(record: DeviceRecord, params: DetectorParams) -> int | None:
    """When processing time alone will next change the record (a buffered event or an open gap), if ever."""
    return detector.next_due_ms(record.detector, params)


def _outcome(
    record: DeviceRecord, transitions: list[Transition], context: Context, *, event_type: str | None
) -> Outcome:
    """Count the transitions into the record (and into a delta for the fleet view) and pick out the incidents."""
    delta = Counters()
    if event_type is not None:
        delta.events[event_type] = 1
    state, labeler = record.detector, context.labeler
    os_version = labeler.os_version(state.platform, state.os_version)
    incidents: list[Incident] = []
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
                signal_key = (os_version, signal_class.value)
                delta.signals[signal_key] = delta.signals.get(signal_key, 0) + 1
            case EventsLost(count=count):
                delta.lost += count
            case EventDropped(reason=reason):
                delta.dropped[reason] = delta.dropped.get(reason, 0) + 1
    record.counters.add(delta)
    return Outcome(record=record, delta=delta, incidents=incidents)
