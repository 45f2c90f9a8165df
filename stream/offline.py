"""Driving the detector over a finite input: the replay command's engine and the scenario tests' runner.

Offline there is no wall clock: the processing clock is the latest event time seen in the input, so a
capture replays the same way on any day. Per-device states live in a dict; the worker keeps the same
states in a Faust table instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from netdown import wire
from netdown.stream.detector import (
    DetectorParams,
    DeviceState,
    EventDropped,
    EventsLost,
    IncidentChanged,
    SignalClassified,
    Transition,
    flush,
    new_device,
    step,
)
from netdown.stream.devices import DeviceFacts, device_facts
from netdown.stream.incident import Incident

__all__ = ["OfflineRun"]


class OfflineRun:
    """A fleet's detector states fed one input; keeps each episode's latest record and the tallies."""

    def __init__(self, params: DetectorParams) -> None:
        self.params = params
        self.devices: dict[str, DeviceState] = {}
        self.clock_ms = 0
        self.incidents: dict[tuple[str, str, int], Incident] = {}
        self.signals: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self._by_class: dict[type[wire.Event], int] = {}
        self.lost = 0

    @property
    def events_by_type(self) -> Counter[str]:
        """Events fed, by wire ``type`` (counted by class in the hot path: no tag lookup per event)."""
        return Counter({str(cls.__struct_config__.tag): n for cls, n in self._by_class.items()})

    def feed(self, event: wire.Event) -> list[Transition]:
        """One decoded event, in arrival order."""
        self.clock_ms = max(self.clock_ms, event.ts_ms)
        by_class = self._by_class
        cls = type(event)
        by_class[cls] = by_class.get(cls, 0) + 1
        state = self.devices.get(event.device_id)
        if state is None:
            state = self.devices[event.device_id] = new_device(event.device_id)
        transitions = step(state, event, self.clock_ms, self.params)
        if transitions:
            self._tally(transitions)
        return transitions

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
        """Each device's facts as the input left them, by ``device_id``."""
        facts = (device_facts(state) for _, state in sorted(self.devices.items()))
        return [device for device in facts if device is not None]

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
