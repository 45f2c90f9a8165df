"""Driving the detector over a finite input: the replay command's engine and the scenario tests' runner.

Offline there is no wall clock. Each device's processing clock is the latest time of its own events,
so a capture replays the same way on any day, and no device's clock (however wrong) changes when
another device's buffered events are released or its gaps counted lost. Events are judged for clock
skew against the latest time of the other devices (:class:`~netdown.stream.admission.FleetClock`);
devices silent for the retention, by that fleet clock, are flushed and forgotten, their final facts
kept. Per-device states live in a dict; the worker keeps the same states in a Faust table instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from netdown import wire
from netdown.detection.detector import (
    DetectorParams,
    DeviceState,
    EventDropped,
    EventsLost,
    IncidentChanged,
    SeqRestarted,
    SignalClassified,
    Transition,
    flush,
    new_device,
    step,
)
from netdown.detection.incident import Incident
from netdown.stream.admission import FleetClock, check_clock
from netdown.stream.devices import DeviceFacts, device_facts
from netdown.stream.dlq import Rejected

__all__ = ["OfflineRun"]

# Evicting is a scan of every device: done each time the fleet clock moves on by this share of the retention.
_SWEEPS_PER_RETENTION = 30


class OfflineRun:
    """A fleet's detector states fed one input; keeps each episode's latest record and the tallies."""

    def __init__(self, params: DetectorParams) -> None:
        self.params = params
        self.devices: dict[str, DeviceState] = {}
        self.clock = FleetClock()
        self.incidents: dict[tuple[str, str, int], Incident] = {}
        self.signals: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self._by_class: dict[type[wire.Event], int] = {}
        self._device_clock: dict[str, int] = {}
        self._evicted: dict[str, DeviceFacts] = {}
        self._next_sweep_ms = 0  # the first event sweeps (nothing to evict yet) and sets the next sweep
        self.lost = 0
        self.seq_restarts = 0

    @property
    def events_by_type(self) -> Counter[str]:
        """Events fed, by wire ``type`` (counted by class in the hot path: no tag lookup per event)."""
        return Counter({str(cls.__struct_config__.tag): n for cls, n in self._by_class.items()})

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
        by_class = self._by_class
        cls = type(event)
        by_class[cls] = by_class.get(cls, 0) + 1
        state = self.devices.get(device_id)
        if state is None:
            state = self.devices[device_id] = new_device(device_id)
        device_clock = self._device_clock
        now_ms = device_clock.get(device_id, -1)
        if ts_ms > now_ms:
            now_ms = device_clock[device_id] = ts_ms
        transitions = step(state, event, now_ms, self.params)
        if transitions:
            self._tally(transitions)
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
        transitions = [t for state in self.devices.values() for t in flush(state, self.params)]
        self._tally(transitions)
        return transitions

    def final_incidents(self) -> list[Incident]:
        """Each episode's latest record, in opening order."""
        return sorted(self.incidents.values(), key=lambda i: (i.opened_ms, i.device_id, i.app))

    def final_device_facts(self) -> list[DeviceFacts]:
        """Each device's facts as the input left them (an evicted device's as of its eviction), by ``device_id``."""
        facts = dict(self._evicted)
        for device_id, state in self.devices.items():
            current = device_facts(state)
            if current is not None:
                facts[device_id] = current
        return [facts[device_id] for device_id in sorted(facts)]

    def _sweep(self) -> None:
        """Flush and forget the devices whose own clock is the retention behind the fleet's (amortised)."""
        now_ms = self.clock.now_ms or 0  # set: the event that called for the sweep was admitted
        self._next_sweep_ms = now_ms + self.params.retention_ms // _SWEEPS_PER_RETENTION
        horizon = now_ms - self.params.retention_ms
        for device_id in [d for d, seen_ms in self._device_clock.items() if seen_ms < horizon]:
            state = self.devices.pop(device_id)
            del self._device_clock[device_id]
            self._tally(flush(state, self.params))
            facts = device_facts(state)
            if facts is not None:
                self._evicted[device_id] = facts

    def _tally(self, transitions: list[Transition]) -> None:
        for transition in transitions:
            match transition:
                case IncidentChanged(incident=incident):
                    self.incidents[incident.key] = incident
                case SignalClassified(signal_class=signal_class):
                    self.signals[signal_class] += 1
                case EventsLost(count=count):
                    self.lost += count
                case EventDropped(reason=reason):
                    self.dropped[reason] += 1
                case SeqRestarted():
                    self.seq_restarts += 1
