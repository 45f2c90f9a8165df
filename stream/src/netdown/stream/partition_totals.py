"""What the device records of this worker's partitions add up to, kept current so a scrape costs no table scan.

Counters are summed per partition: a partition that moves to another worker after a rebalance or a
crash then continues, there, as the same cumulative series (its sum is recomputed from the same
durable records), so ``sum without (instance, partition)`` never sees a reset or a spike. The view
is rebuilt from the table after every recovery and updated with each record the worker writes, so
it always equals the sum over the records of the partitions this worker owns.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from netdown import wire
from netdown.detection.detector import is_affected, is_stuck
from netdown.detection.device_facts import DeviceSource
from netdown.stream.labels import normalise_os_version, source_label
from netdown.stream.record import Counters, DeviceRecord, is_retired_key

__all__ = ["BLIND_ROLES", "DeviceGauges", "GaugeCounts", "PartitionTotals", "gauges_of"]

# The roles without which a device can never be detected: an episode is the app's view failing while the system
# path is healthy, so a device that sees only one of the two cannot have one. Probes only corroborate.
BLIND_ROLES: Final[tuple[wire.SourceRole, ...]] = ("system_path", "app_view")


class DeviceGauges(NamedTuple):
    """What the gauges need of one device, without decoding its record at scrape time."""

    partition: int
    os_version: str  # label value
    affected: bool
    stuck: bool
    last_arrival_ms: int
    # Whether its latest heartbeat reported source health (agents older than 0.2 do not: unknown, not blind).
    reports_sources: bool
    # (source label, role) of each source not running, without repeats: several hostile names are one `other`.
    failing: tuple[tuple[str, str], ...]
    blind: tuple[str, ...]  # the BLIND_ROLES it has no running source of


@dataclass
class GaugeCounts:
    """Devices of one (partition, os_version): with an open episode, a stuck one, seen within S, and of those
    seen within S, reporting source health, failing a source and blind on a role."""

    affected: int = 0
    stuck: int = 0
    active: int = 0
    reporting: int = 0
    failing: dict[tuple[str, str], int] = field(default_factory=dict)  # by (source label, role)
    blind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BLIND_ROLES, 0))  # by role


def gauges_of(record: DeviceRecord) -> DeviceGauges:
    """The gauge facts of a record, as of its latest state."""
    state, inventory = record.detector, record.inventory
    sources = inventory.sources
    return DeviceGauges(
        partition=record.partition,
        os_version=normalise_os_version(inventory.platform, inventory.os_version),
        affected=is_affected(state),
        stuck=is_stuck(state),
        last_arrival_ms=record.last_arrival_ms,
        reports_sources=bool(sources),
        failing=_failing(sources),
        blind=_blind(sources),
    )


def _failing(sources: tuple[DeviceSource, ...]) -> tuple[tuple[str, str], ...]:
    """The sources not running, as bounded (source, role) label pairs, each once."""
    return tuple(sorted({(source_label(source.name), source.role) for source in sources if not source.running}))


def _blind(sources: tuple[DeviceSource, ...]) -> tuple[str, ...]:
    """The blind roles without a running source; none for a device that does not report its sources."""
    if not sources:
        return ()
    running = {source.role for source in sources if source.running}
    return tuple(role for role in BLIND_ROLES if role not in running)


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
        """Device counts by (partition, os_version); a device is active if its last event came within S.

        Source health counts active devices only: a Mac that stopped sending is stale, not blind, and its last
        word on its sources is no longer news.
        """
        counts: dict[tuple[int, str], GaugeCounts] = {}
        for facts in self.devices.values():
            slot = counts.get(key := (facts.partition, facts.os_version))
            if slot is None:
                slot = counts[key] = GaugeCounts()
            slot.affected += facts.affected
            slot.stuck += facts.stuck
            if now_ms - facts.last_arrival_ms > stale_ms:
                continue
            slot.active += 1
            slot.reporting += facts.reports_sources
            for pair in facts.failing:
                slot.failing[pair] = slot.failing.get(pair, 0) + 1
            for role in facts.blind:
                slot.blind[role] += 1
        return counts
