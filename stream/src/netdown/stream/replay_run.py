"""Driving the worker's engine over a finite input: the replay command's run and the scenario tests' runner.

Every event goes through :func:`netdown.stream.engine.apply_event`, the function the worker's
batches run, into one :class:`~netdown.stream.record.Counters` for the whole input: the replay's
summary is read from the same counts the worker's metrics are summed from. The device records live
in a dict where the worker keeps them in a Faust table; there are no offsets and no partitions.

Offline there is no wall clock. Each device's processing clock is the latest time of its own events
(kept in its record's ``last_arrival_ms``), so a capture replays the same way on any day, and no
device's clock (however wrong) changes when another device's buffered events are released or its
gaps counted lost. Events are judged for clock skew against the latest time of the other devices
(:class:`~netdown.stream.admission.FleetClock`); devices silent for the retention, by that fleet
clock, are flushed and forgotten, their final facts kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from netdown import wire
from netdown.detection.detector import DetectorParams, Transition
from netdown.detection.device_facts import DeviceFacts
from netdown.detection.incident import Incident
from netdown.detection.inventory import device_facts
from netdown.stream.admission import FleetClock, check_clock
from netdown.stream.dlq import Rejected
from netdown.stream.engine import Context, apply_event, apply_flush
from netdown.stream.record import Counters, DeviceRecord, new_record

__all__ = ["ReplayRun"]

# Evicting is a scan of every device: done each time the fleet clock moves on by this share of the retention.
_SWEEPS_PER_RETENTION = 30


class ReplayRun:
    """A fleet's device records fed one input; keeps every incident change and the input's counts."""

    def __init__(self, params: DetectorParams) -> None:
        self.params = params
        self.context = Context(params=params)  # no app allowlist: the counts are read by class and reason
        self.devices: dict[str, DeviceRecord] = {}
        self.clock = FleetClock()
        self.counters = Counters()
        self.incidents: list[Incident] = []  # every change of every episode, in the order it happened
        self.rejected: Counter[str] = Counter()
        self._evicted: dict[str, DeviceFacts] = {}
        self._next_sweep_ms = 0  # the first event sweeps (nothing to evict yet) and sets the next sweep

    @property
    def events_by_type(self) -> Counter[str]:
        """Events fed, by wire ``type``."""
        return Counter(self.counters.events)

    @property
    def signals(self) -> Counter[str]:
        """Failure signals by class, over every release."""
        by_class: Counter[str] = Counter()
        for (_, signal_class), count in self.counters.signals.items():
            by_class[signal_class] += count
        return by_class

    @property
    def dropped(self) -> Counter[str]:
        """Valid events that changed nothing, by reason."""
        return Counter(self.counters.dropped)

    @property
    def lost(self) -> int:
        """Events lost to sequence gaps."""
        return self.counters.lost

    @property
    def seq_restarts(self) -> int:
        """Sequence jumps read as a new numbering."""
        return self.counters.seq_restarts

    def offer(self, event: wire.Event) -> list[Transition] | Rejected:
        """One decoded event, in arrival order: its transitions, or why it was refused.

        The hot loop of a replay: the clock check and the fleet clock are skipped for the common event,
        one no later than the fleet clock's floor (:attr:`FleetClock.floor_ms`).
        """
        device_id, ts_ms = event.device_id, event.ts_ms
        clock = self.clock
        floor = clock.floor_ms
        if floor is None or ts_ms > floor:  # an event at or below the floor is admitted, and changes no reference
            rejected = check_clock(event, clock.reference_for(device_id), self.params.max_skew_ms)
            if rejected is not None:
                self.rejected[rejected.reason] += 1
                return rejected
            clock.admit(device_id, ts_ms)
        record = self.devices.get(device_id)
        if record is None:
            record = self.devices[device_id] = new_record(device_id, 0)
        now_ms = record.last_arrival_ms
        if ts_ms > now_ms:
            now_ms = record.last_arrival_ms = ts_ms
        transitions = apply_event(record, event, now_ms, self.context, self.counters, self.incidents)
        if ts_ms >= self._next_sweep_ms:
            self._sweep()
        return transitions

    def feed(self, event: wire.Event) -> list[Transition]:
        """One decoded event, in arrival order; a refused one (counted in ``rejected``) causes nothing."""
        result = self.offer(event)
        return [] if isinstance(result, Rejected) else result

    def feed_all(self, events: Iterable[wire.Event]) -> None:
        """Every event of an input, then the end of input."""
        for event in events:
            self.feed(event)
        self.finish()

    def finish(self) -> list[Transition]:
        """End of input: every device's buffered events are applied and open gaps counted lost."""
        return [t for record in self.devices.values() for t in self._flush(record)]

    def final_incidents(self) -> list[Incident]:
        """Each episode's latest record, in opening order."""
        latest = {incident.key: incident for incident in self.incidents}
        return sorted(latest.values(), key=lambda i: (i.opened_ms, i.device_id, i.app))

    def final_device_facts(self) -> list[DeviceFacts]:
        """Each device's facts as the input left them (an evicted device's as of its eviction), by ``device_id``."""
        facts = dict(self._evicted)
        for device_id, record in self.devices.items():
            current = device_facts(record.detector, record.inventory)
            if current is not None:
                facts[device_id] = current
        return [facts[device_id] for device_id in sorted(facts)]

    def _flush(self, record: DeviceRecord) -> list[Transition]:
        return apply_flush(record, self.context, self.counters, self.incidents)

    def _sweep(self) -> None:
        """Flush and forget the devices whose own clock is the retention behind the fleet's (amortised)."""
        now_ms = self.clock.now_ms or 0  # set: the event that called for the sweep was admitted
        self._next_sweep_ms = now_ms + self.params.retention_ms // _SWEEPS_PER_RETENTION
        horizon = now_ms - self.params.retention_ms
        for device_id in [d for d, record in self.devices.items() if record.last_arrival_ms < horizon]:
            record = self.devices.pop(device_id)
            self._flush(record)
            facts = device_facts(record.detector, record.inventory)
            if facts is not None:
                self._evicted[device_id] = facts
