"""The spool keeps every accepted record, in order, across restarts, torn writes and its size bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdown.agent.spool import Spool


def _records(count: int, start: int = 0) -> list[bytes]:
    return [b"record-%06d" % i for i in range(start, start + count)]


def test_records_come_back_in_order_and_acknowledged_ones_are_not_sent_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=256)
    for record in _records(50):
        spool.append(record)
    first = spool.read(20)
    assert [item.payload for item in first] == _records(20)
    spool.ack(first[-1].end)
    assert spool.pending == 30
    rest = spool.read(100)
    assert [item.payload for item in rest] == _records(30, start=20)
    spool.close()


def test_unacknowledged_records_survive_a_restart_and_acknowledged_ones_do_not(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=256)
    for record in _records(40):
        spool.append(record)
    delivered = spool.read(15)
    spool.ack(delivered[-1].end)
    spool.read(10)  # in flight when the process dies: not acknowledged
    del spool  # no close(): as if killed
    reopened = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=256)
    assert reopened.pending == 25
    assert [item.payload for item in reopened.read(100)] == _records(25, start=15)
    assert reopened.last_payload() == b"record-000039"


def test_a_torn_record_at_the_tail_is_cut_off_at_the_next_open(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16)
    for record in _records(3):
        spool.append(record)
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    with segment.open("ab") as handle:
        handle.write(b"\x00\x00\x00\x20\x12\x34")  # header of a record the kill interrupted
    reopened = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16)
    assert [item.payload for item in reopened.read(10)] == _records(3)
    reopened.append(b"after")
    assert [item.payload for item in reopened.read(10)] == [b"after"]


def test_rewind_resends_everything_not_acknowledged(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=256)
    for record in _records(10):
        spool.append(record)
    spool.ack(spool.read(4)[-1].end)
    spool.read(3)
    spool.rewind()
    assert [item.payload for item in spool.read(100)] == _records(6, start=4)


def test_over_its_bound_the_spool_drops_the_oldest_records_and_counts_them(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1024, segment_bytes=256)
    records = _records(200)  # 200 x (8 + 13) bytes = 4200 bytes, four times the bound
    for record in records:
        spool.append(record)
    kept = [item.payload for item in spool.read(1000)]
    dropped = spool.take_dropped()
    assert dropped + len(kept) == len(records)
    assert dropped > 0
    assert kept == records[dropped:], "what is kept is the newest, contiguous and in order"
    assert spool.take_dropped() == 0, "a count is reported once"
    assert sum(p.stat().st_size for p in tmp_path.glob("*.seg")) <= 1024


def test_segment_size_must_leave_room_under_the_bound(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="segment_bytes"):
        Spool(tmp_path, max_bytes=1000, segment_bytes=600)
