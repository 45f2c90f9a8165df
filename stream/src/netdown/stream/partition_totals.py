"""What the device records of this worker's partitions add up to, kept current so a scrape costs no table scan.

Counters are summed per partition: a partition that moves to another worker after a rebalance or a
crash then continues, there, as the same cumulative series (its sum is recomputed from the same
durable records), so ``sum without (instance, partition)`` never sees a reset or a spike. The view
is rebuilt from the table after every recovery and updated with each record the worker writes, so
it always equals the sum over the records of the partitions this worker owns.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import NamedTuple

from netdown.detection.detector import is_affected, is_stuck
from netdown.stream.labels import normalise_os_version
from netdown.stream.record import Counters, DeviceRecord, is_retired_key

__all__ = ["DeviceGauges", "GaugeCounts", "PartitionTotals", "gauges_of"]


class DeviceGauges(NamedTuple):
    """What the gauges need of one device, without decoding its record at scrape time."""

    partition: int
    os_version: str  # label value
    affected: bool
    stuck: bool
    last_arrival_ms: int


class GaugeCounts(NamedTuple):
    """Devices of one (partition, os_version) with an open episode, a stuck one, and seen within S."""

    affected: int
    stuck: int
    active: int


def gauges_of(record: DeviceRecord) -> DeviceGauges:
    """The gauge facts of a record, as of its latest state."""
    state, inventory = record.detector, record.inventory
    return DeviceGauges(
        partition=record.partition,
        os_version=normalise_os_version(inventory.platform, inventory.os_version),
        affected=is_affected(state),
        stuck=is_stuck(state),
        last_arrival_ms=record.last_arrival_ms,
    )


class PartitionTotals:
    """Per-partition counter sums and per-device gauge facts of the partitions this worker owns."""

    def __init__(self) -> None:
        self.totals: dict[int, Counters] = {}
        self.devices: dict[bytes, DeviceGauges] = {}

    def update(self, key: bytes, record: DeviceRecord, delta: Counters) -> None:
        """A record was written: add the counts it gained, refresh its gauge facts."""
        totals = self.totals.get(record.partition)
        if totals is None:
            totals = self.totals[record.partition] = Counters()
        totals.add(delta)
        self.devices[key] = gauges_of(record)

    def rebuild(self, records: Iterable[tuple[bytes, DeviceRecord]], partitions: Collection[int]) -> None:
        """Start over from the stored records of the given partitions (after a recovery)."""
        self.totals = {partition: Counters() for partition in partitions}
        self.devices = {}
        for key, record in records:
            if record.partition in self.totals:
                self.totals[record.partition].add(record.counters)
                if not is_retired_key(key):
                    self.devices[key] = gauges_of(record)

    def evict(self, partition: int, keys: Iterable[bytes], delta: Counters) -> None:
        """Devices of ``partition`` were forgotten: their counts stay in its sums, their gauges go."""
        totals = self.totals.get(partition)
        if totals is not None:
            totals.add(delta)
        for key in keys:
            self.devices.pop(key, None)

    def retain(self, partitions: Collection[int]) -> None:
        """Forget the partitions this worker no longer owns (revoked in a rebalance)."""
        self.totals = {partition: totals for partition, totals in self.totals.items() if partition in partitions}
        self.devices = {key: facts for key, facts in self.devices.items() if facts.partition in partitions}

    def gauges(self, now_ms: int, stale_ms: int) -> dict[tuple[int, str], GaugeCounts]:
        """Device counts by (partition, os_version); a device is active if its last event came within S."""
        counts: dict[tuple[int, str], list[int]] = {}
        for facts in self.devices.values():
            slot = counts.setdefault((facts.partition, facts.os_version), [0, 0, 0])
            slot[0] += facts.affected
            slot[1] += facts.stuck
            slot[2] += now_ms - facts.last_arrival_ms <= stale_ms
        return {key: GaugeCounts(*values) for key, values in counts.items()}
