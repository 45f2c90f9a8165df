"""How far a device's clock is trusted: the check an event passes before the detector sees it.

Event time comes from the device's own clock, and nothing bounds it but the contract's 64-bit range.
One event a year ahead would move the device's event-time frontier a year on: every later event of the
device would then be dropped as late, a failure signal sent during the jump would open an episode no
recovery could close, and the device would read as last seen a year from now. So an event further
ahead of the processing clock than ``max_skew_ms`` is refused (``clock_skew``, counted, to the DLQ)
and never reaches the detector's state: the device's frontier stays where its honest events put it,
and its next event with a sane clock is applied as if the refused ones had never been sent.

The processing clock is the worker's wall clock. Replay has no wall clock, so it judges each event
against the latest event time of the *other* devices of the input (:class:`FleetClock`): no single
device, however far its clock runs ahead, can move the reference it is judged by. The bound and its
reasons are in docs/detection.md ("Device clocks").
"""

from __future__ import annotations

from netdown import wire
from netdown.stream.dlq import CLOCK_SKEW, Rejected

__all__ = ["FleetClock", "check_clock"]


def check_clock(event: wire.Event, reference_ms: int | None, max_skew_ms: int) -> Rejected | None:
    """The ``clock_skew`` rejection of an event more than ``max_skew_ms`` ahead of ``reference_ms``, if it is."""
    if reference_ms is None or event.ts_ms <= reference_ms + max_skew_ms:
        return None
    ahead_s = (event.ts_ms - reference_ms) / 1000
    return Rejected(
        CLOCK_SKEW,
        f"ts_ms={event.ts_ms} is {ahead_s:,.0f} s ahead of the processing clock ({reference_ms}), "
        f"the bound is {max_skew_ms / 1000:g} s",
        "ts_ms",
    )


class FleetClock:
    """The latest event time of an input's devices, as a reference no single device can move for itself.

    It keeps the two devices with the latest event times; a device is judged against the latest time of
    the others (None while it is the only device seen, when there is nothing to judge it against).
    """

    def __init__(self) -> None:
        self._first: tuple[str, int] | None = None  # (device_id, latest ts) of the device furthest ahead
        self._second: tuple[str, int] | None = None  # the same for the furthest ahead of every other device
        # A time no device's reference is below: an event no later is admitted whoever sent it, and noting it
        # changes nothing (the replay's fast path; an attribute, not a property, since it is read per event).
        self.floor_ms: int | None = None

    @property
    def now_ms(self) -> int | None:
        """The latest event time admitted from any device: the input's processing clock."""
        return self._first[1] if self._first is not None else None

    def reference_for(self, device_id: str) -> int | None:
        """The latest event time admitted from the devices other than ``device_id``."""
        first, second = self._first, self._second
        if first is not None and first[0] != device_id:
            return first[1]
        return second[1] if second is not None else None

    def admit(self, device_id: str, ts_ms: int) -> None:
        """Note an admitted event's time."""
        first, second = self._first, self._second
        if first is None or first[0] == device_id:
            if first is None or ts_ms > first[1]:
                self._first = (device_id, ts_ms)
        elif ts_ms > first[1]:
            self._first, self._second = (device_id, ts_ms), first
            self.floor_ms = first[1]
        elif second is None or ts_ms > second[1]:
            self._second = (device_id, ts_ms)  # the latest of the others than the first: all a reference needs
            self.floor_ms = ts_ms
