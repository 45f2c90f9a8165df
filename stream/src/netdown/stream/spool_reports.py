"""What agents say their spools lost: cumulative counts in each heartbeat turned into bounded increments.

An agent loses events on the device for reasons the worker cannot see as a sequence gap alone (or sees
as one without a cause): its spool's size bound dropped the oldest unsent events during a long
outage, a damaged record was removed at start-up, the disk refused a write. Each heartbeat carries
the totals since the spool was created (``spool.lost``), so a lost heartbeat loses no count: the next
one carries it. The worker keeps the last report it accepted per device and counts what grew since.

The counts are the device's word, so they are bounded by what it could have lost: an agent numbers
every event it spools (its ``seq`` is the spool's record index), so between two reports it cannot have
lost more events than it numbered, the difference of the two heartbeats' ``seq``. A report with a
lower ``seq`` than the last one is a new numbering (a reinstalled agent, a new spool) and becomes the
new baseline without counting: an agent delivers in ``seq`` order, so an older heartbeat arriving
after a newer one is far rarer than a reinstall. The first report of a device is a baseline too: its
totals may be months old, and may have been counted already before the device's record was evicted.
"""

from __future__ import annotations

from typing import Final

import msgspec

from netdown import wire

__all__ = ["LOSS_CAUSES", "SpoolReport", "reported_loss"]

# Every value the `cause` label takes: the fields of wire.SpoolLoss.
LOSS_CAUSES: Final[tuple[str, ...]] = tuple(wire.SpoolLoss.__struct_fields__)


class SpoolReport(msgspec.Struct, array_like=True, frozen=True):
    """The last ``spool.lost`` accepted from a device, and the ``seq`` of the heartbeat that carried it."""

    seq: int
    lost: tuple[int, ...]  # in LOSS_CAUSES order


def reported_loss(
    previous: SpoolReport | None, event: wire.HeartbeatEvent
) -> tuple[SpoolReport | None, dict[str, int]]:
    """The report to keep after ``event``, and the events lost since ``previous`` by cause (module docstring)."""
    lost = event.spool.lost
    if lost is None:  # an agent from before spool.lost: nothing to count
        return previous, {}
    current = SpoolReport(seq=event.seq, lost=tuple(getattr(lost, cause) for cause in LOSS_CAUSES))
    if previous is None:
        return current, {}
    if event.seq == previous.seq:  # the same heartbeat again
        return previous, {}
    if event.seq < previous.seq:  # a new numbering: a new spool, its totals a new baseline
        return current, {}
    room = event.seq - previous.seq  # events numbered since the previous report: the most that can be lost
    increments: dict[str, int] = {}
    for cause, now, before in zip(LOSS_CAUSES, current.lost, previous.lost, strict=True):
        grown = min(max(now - before, 0), room)
        if grown:
            increments[cause] = grown
            room -= grown
    return current, increments
