"""A device record keeps its counters with its detector state, in bytes the table can store."""

from __future__ import annotations

import pytest

from netdown.detection import detector
from netdown.stream.record import DURATION_BUCKETS_S, Counters, decode_record, encode_record, new_record
from netdown.testing import T0_MS, Device


def test_counters_add_sums_every_count_and_keeps_keys_of_both() -> None:
    mine = Counters(episodes={("14.4", "darwin", "other", "k"): 1}, events={"conn": 2}, lost=1)
    mine.observe_duration("14.4", 5)
    theirs = Counters(episodes={("14.4", "darwin", "other", "k"): 2, ("6.8", "linux", "other", "k"): 1})
    theirs.signals[("14.4", "episode")] = 3
    theirs.dropped["late"] = 4
    theirs.observe_duration("14.4", 45)
    theirs.observe_duration("6.8", 100)
    mine.add(theirs)
    assert mine.episodes == {("14.4", "darwin", "other", "k"): 3, ("6.8", "linux", "other", "k"): 1}
    assert (mine.signals, mine.events, mine.dropped, mine.lost) == (
        {("14.4", "episode"): 3},
        {"conn": 2},
        {"late": 4},
        1,
    )
    assert {version: sum(buckets) for version, buckets in mine.durations.items()} == {"14.4": 2, "6.8": 1}
    assert mine.duration_sum_s == {"14.4": 50, "6.8": 100}


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0, 0), (10, 0), (10.001, 1), (3600, DURATION_BUCKETS_S.index(3600)), (10**7, len(DURATION_BUCKETS_S))],
)
def test_a_duration_lands_in_the_first_bucket_whose_bound_it_does_not_exceed(seconds: float, bucket: int) -> None:
    counters = Counters()
    counters.observe_duration("15.1", seconds)
    assert counters.durations["15.1"].index(1) == bucket


def test_a_record_round_trips_through_its_stored_bytes_with_the_detector_state() -> None:
    device = Device("mac-round-0001")
    record = new_record(device.device_id, partition=5)
    params = detector.DetectorParams()
    for event in (device.heartbeat(T0_MS), device.system_path(T0_MS + 1), device.conn(T0_MS + 20_000, enetdown=True)):
        detector.step(record.detector, event, T0_MS, params)
    record.counters.events["conn"] = 1
    record.last_offset = 41
    restored = decode_record(encode_record(record))
    assert restored == record
    assert restored.partition == 5
