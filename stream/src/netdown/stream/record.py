"""One device's durable record: the detector's memory, the inventory's, and the counters its metrics are summed from.

The worker keeps one record per device in a changelog-backed table. Because the counters live in the
same record as the detector state and the Kafka offset of the last event applied, the three always
travel together: a record restored after a crash says exactly which events it has counted, so a
replayed event is recognised and neither lost nor counted twice. Labels in the counters' keys are
already bounded (:mod:`netdown.stream.labels`) when they are recorded, so a later change of the
app allowlist starts new series instead of moving old counts (which ``increase()`` would read as a
counter reset).
"""

from __future__ import annotations

import bisect
from typing import Final, TypeVar

import msgspec

from netdown.detection.detector import DeviceState, new_device
from netdown.detection.inventory import Inventory
from netdown.stream.spool_reports import SpoolReport

__all__ = [
    "DURATION_BUCKETS_S",
    "RECORD_BUDGET_BYTES",
    "STATE_BUDGET_BYTES",
    "Counters",
    "DeviceRecord",
    "copy_record",
    "decode_record",
    "encode_record",
    "is_retired_key",
    "new_record",
    "retired_key",
]

# Upper bounds (seconds) of the episode-duration histogram: from a blip to a week-long stuck extension.
DURATION_BUCKETS_S: Final[tuple[float, ...]] = (10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400, 604800)

# A device record is one message of the table's changelog, and Kafka refuses messages over 1 MB (a failed
# write would stop the worker). The detector state's bounds (netdown.detection.detector) keep it under a
# quarter of that, whatever the device sends; the inventory holds one heartbeat's facts and source health
# (at most an event, 64 KiB) and a release; the counters are bounded by their label values only, and a device
# that reported every OS release, with episodes under each, would add up to ~430 KiB more
# (tests/unit/test_detector_bounds.py measures them all).
STATE_BUDGET_BYTES: Final = 256 * 1024
RECORD_BUDGET_BYTES: Final = 768 * 1024

EpisodeKey = tuple[str, str, str, str]  # (os_version, platform, app, kind) label values
SignalKey = tuple[str, str]  # (os_version, class) label values
_K = TypeVar("_K")


def _no_durations() -> list[int]:
    return [0] * (len(DURATION_BUCKETS_S) + 1)


class Counters(msgspec.Struct, kw_only=True):
    """Cumulative counts (never decreasing) of a device, or of all devices of a partition."""

    episodes: dict[EpisodeKey, int] = msgspec.field(default_factory=dict)
    signals: dict[SignalKey, int] = msgspec.field(default_factory=dict)
    events: dict[str, int] = msgspec.field(default_factory=dict)  # by wire type
    dropped: dict[str, int] = msgspec.field(default_factory=dict)  # valid events that changed nothing, by reason
    lost: int = 0
    seq_restarts: int = 0  # seq jumps read as a new numbering, not as loss (detector.MAX_SEQ_JUMP)
    agent_lost: dict[str, int] = msgspec.field(default_factory=dict)  # lost on the device, by cause (its heartbeats)
    evicted: int = 0  # device records forgotten after the retention (their counts stay in the partition's sums)
    # Closed episodes by normalised OS release: per duration bucket (not cumulative; the last slot is +Inf),
    # and their total seconds. By release because "how long does it last on 15.2" is a release manager's question.
    durations: dict[str, list[int]] = msgspec.field(default_factory=dict)
    duration_sum_s: dict[str, float] = msgspec.field(default_factory=dict)

    def add(self, other: Counters) -> None:
        """Add ``other``'s counts to these."""
        _merge(self.episodes, other.episodes)
        _merge(self.signals, other.signals)
        _merge(self.events, other.events)
        _merge(self.dropped, other.dropped)
        _merge(self.agent_lost, other.agent_lost)
        self.lost += other.lost
        self.seq_restarts += other.seq_restarts
        self.evicted += other.evicted
        for os_version, buckets in other.durations.items():
            mine = self.durations.setdefault(os_version, _no_durations())
            self.durations[os_version] = [a + b for a, b in zip(mine, buckets, strict=True)]
        _merge_sums(self.duration_sum_s, other.duration_sum_s)

    def observe_duration(self, os_version: str, seconds: float) -> None:
        """Count one closed episode on ``os_version`` (a label value) that lasted ``seconds``."""
        self.durations.setdefault(os_version, _no_durations())[bisect.bisect_left(DURATION_BUCKETS_S, seconds)] += 1
        self.duration_sum_s[os_version] = self.duration_sum_s.get(os_version, 0.0) + seconds


def _merge(into: dict[_K, int], counts: dict[_K, int]) -> None:
    for key, count in counts.items():
        into[key] = into.get(key, 0) + count


def _merge_sums(into: dict[str, float], sums: dict[str, float]) -> None:
    for key, total in sums.items():
        into[key] = into.get(key, 0.0) + total


class DeviceRecord(msgspec.Struct, kw_only=True):
    """Everything the worker keeps about one device, as stored in its table."""

    partition: int  # the events-topic partition that owns the device: a scrape sums only partitions it owns
    last_offset: int = -1  # offset of the last event applied: an event at or below it is a replay
    # The processing clock at its latest event: the worker's wall clock (`devices_active`), a replay's device clock
    last_arrival_ms: int = 0
    detector: DeviceState
    inventory: Inventory = msgspec.field(default_factory=Inventory)
    counters: Counters = msgspec.field(default_factory=Counters)
    # `last_seen_ms` of the device-facts record last published, None before the first: what
    # netdown.detection.device_facts.should_publish compares with
    facts_published_seen_ms: int | None = None
    spool_report: SpoolReport | None = None  # the agent's last spool-loss report accepted


def new_record(device_id: str, partition: int) -> DeviceRecord:
    """The record of a device the worker has never seen."""
    return DeviceRecord(partition=partition, detector=new_device(device_id))


# The counts of a partition's evicted devices live on in one record per partition under this key, so the
# partition's cumulative sums never go down when a device is forgotten (Prometheus would read a reset).
# No device has it: device ids are [A-Za-z0-9._-]{8,64} (netdown.wire.DEVICE_ID_PATTERN).
_RETIRED_KEY: Final = b"\x00retired.%d"


def retired_key(partition: int) -> bytes:
    """The table key of the record that keeps ``partition``'s evicted devices' counts."""
    return _RETIRED_KEY % partition


def is_retired_key(key: bytes) -> bool:
    """Whether ``key`` is a partition's record of evicted devices' counts, not a device's."""
    return key.startswith(b"\x00retired.")


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(DeviceRecord)


def encode_record(record: DeviceRecord) -> bytes:
    """The bytes stored in the table (and its changelog)."""
    return _ENCODER.encode(record)


def decode_record(data: bytes) -> DeviceRecord:
    """A record from its stored bytes."""
    return _DECODER.decode(data)


def copy_record(record: DeviceRecord) -> DeviceRecord:
    """A deep copy, to apply an event to without touching ``record`` if it fails.

    Through the codec: a record is exactly what the codec stores, so the round trip copies every part of
    it (``msgspec.structs.replace`` would share the detector's lists and dicts), about twenty times faster
    than ``copy.deepcopy``.
    """
    return _DECODER.decode(_ENCODER.encode(record))
