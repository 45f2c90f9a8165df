"""The spool keeps every accepted record, in order, across restarts, torn writes and its size bound.

And it never lies: a record it cannot keep (a full disk, damage on disk, the size bound) is counted,
its index is never given to another record that may leave the device, and the good records around
a damaged range survive.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from netdown import wire
from netdown.agent.spool import Spool, SpoolWriteError
from tests.unit.agent.spool_disk import (
    HEADER,
    REAL_WRITE,
    disk_with_room,
    no_space,
    parse_segment,
    records_on_disk,
    segments,
)


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
    assert reopened.next_index == 40, "the next record continues after the newest one"


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
    assert spool.losses == wire.SpoolLoss(bound=dropped), "and counted for good"
    assert sum(p.stat().st_size for p in tmp_path.glob("*.seg")) <= 1024
    spool.close()
    assert Spool(tmp_path, max_bytes=1024, segment_bytes=256).losses == wire.SpoolLoss(bound=dropped)


def test_segment_size_must_leave_room_under_the_bound(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="segment_bytes"):
        Spool(tmp_path, max_bytes=1000, segment_bytes=600)


def _fill(spool: Spool, count: int, start: int = 0) -> list[int]:
    return [spool.append(record) for record in _records(count, start)]


def test_each_record_is_one_self_checking_frame_carrying_its_index(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert [spool.append(payload) for payload in (b"first", b"", b"third")] == [0, 1, 2]
    spool.close()
    (segment,) = segments(tmp_path)
    frames = parse_segment(segment)  # magic, index, length, payload crc, header crc: as documented
    assert [(frame.index, frame.payload) for frame in frames] == [(0, b"first"), (1, b""), (2, b"third")]
    assert frames[-1].end == 3 * HEADER.size + len(b"firstthird")


def _half_then_nothing() -> Callable[[int, bytes], int]:
    """A disk that takes half of a write and then nothing, without an error (a write returning 0)."""
    calls = 0

    def write(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        return REAL_WRITE(fd, bytes(data[: len(data) // 2])) if calls == 1 else 0

    return write


@pytest.mark.parametrize(
    ("disk", "reason"),
    [
        (lambda: disk_with_room(18), "No space left on device"),  # half a frame fits; the rest: ENOSPC
        (_half_then_nothing, "the disk took only 18 of its bytes"),
    ],
    ids=["full", "stuck"],
)
def test_a_short_write_is_rolled_back_refused_and_counted_and_its_index_stays_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, disk: Callable[[], Callable[[int, bytes], int]], reason: str
) -> None:
    spool = Spool(tmp_path)
    _fill(spool, 3)
    (segment,) = segments(tmp_path)
    size = segment.stat().st_size
    with monkeypatch.context() as patched:
        patched.setattr("netdown.agent.spool.os.write", disk())
        message = f"^spool {re.escape(str(tmp_path))}: cannot write a 37-byte record: {reason}$"
        with pytest.raises(SpoolWriteError, match=message):
            spool.append(b"record-000003")
    assert segment.stat().st_size == size, "no torn frame is left between good ones"
    assert spool.append(b"record-000004") == 4, "the refused record used up index 3: a gap the worker counts"
    assert spool.losses == wire.SpoolLoss(write_failed=1)
    assert spool.pending == 4
    assert [(item.index, item.payload) for item in spool.read(10)] == [
        *enumerate(_records(3)),
        (4, b"record-000004"),
    ]
    del spool  # killed
    reopened = Spool(tmp_path)
    assert [frame.index for frame in records_on_disk(tmp_path)] == [0, 1, 2, 4]
    assert reopened.losses == wire.SpoolLoss(write_failed=1), "the refused index is known: not counted again"
    assert reopened.next_index == 5
    reopened.close()


def test_a_full_disk_refuses_records_with_a_clear_error_and_they_are_taken_again_once_space_frees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    _fill(spool, 2)
    with monkeypatch.context() as patched:
        patched.setattr("netdown.agent.spool.os.write", no_space)
        for _ in range(3):
            with pytest.raises(
                SpoolWriteError, match=r"cannot write a 37-byte record: No space left on device$"
            ) as error:
                spool.append(b"record-000002")
            assert error.value.errno == errno.ENOSPC
    assert spool.append(b"record-000005") == 5
    assert spool.losses == wire.SpoolLoss(write_failed=3)
    assert [item.index for item in spool.read(10)] == [0, 1, 5]
    spool.close()
    assert Spool(tmp_path).losses == wire.SpoolLoss(write_failed=3), "the count outlives the process"


def test_a_damaged_range_costs_only_the_records_in_it_and_they_are_counted_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=1 << 16)
    _fill(spool, 30)
    spool.ack(spool.read(5)[-1].end)  # 0-4 reached the broker
    spool.close()
    (segment,) = segments(tmp_path)
    frames = parse_segment(segment)
    data = bytearray(segment.read_bytes())
    damaged = [*range(frames[2].start + 3, frames[2].start + 5), *range(frames[10].end - 5, frames[13].start + 14)]
    for at in damaged:  # a delivered record's magic; the tail of 10's payload to 13's length field
        data[at] ^= 0xFF
    segment.write_bytes(data)

    reopened = Spool(tmp_path, segment_bytes=1 << 16)
    expected = [*range(5, 10), *range(14, 30)]
    assert [item.index for item in reopened.read(100)] == expected, "everything after the damage survives"
    assert reopened.losses == wire.SpoolLoss(corrupt=4), "10-13 were unsent; 2 was delivered, no loss"
    assert reopened.pending == len(expected)
    assert [frame.index for frame in parse_segment(segment)] == [0, 1, 3, 4, *expected], "damage gone from disk"
    reopened.close()
    again = Spool(tmp_path, segment_bytes=1 << 16)
    assert again.losses == wire.SpoolLoss(corrupt=4), "a loss is counted once, not at every start"
    assert again.next_index == 30
    again.close()


def test_a_tail_lost_after_delivery_never_gives_its_indices_out_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    _fill(spool, 10)
    spool.ack(spool.read(10)[-1].end)  # all ten reached Kafka
    del spool  # power loss: the disk lost the tail, 6-9
    (segment,) = segments(tmp_path)
    with segment.open("r+b") as handle:
        handle.truncate(parse_segment(segment)[6].start)
    reopened = Spool(tmp_path)
    assert reopened.next_index == 10
    assert reopened.append(b"new") == 10, "seq 6-9 are in Kafka already: never reused"
    assert reopened.losses == wire.SpoolLoss(), "delivered records that are gone are no loss"
    assert reopened.pending == 1
    reopened.close()


def test_unsent_records_lost_from_the_tail_are_counted_and_their_indices_stay_used(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync_interval=3600)
    _fill(spool, 10)
    spool.ack(spool.read(4)[-1].end)
    del spool
    (segment,) = segments(tmp_path)
    with segment.open("r+b") as handle:
        handle.truncate(parse_segment(segment)[7].start + 5)  # 7-9 gone, 7 torn
    reopened = Spool(tmp_path, fsync_interval=3600)
    assert [item.index for item in reopened.read(10)] == [4, 5, 6]
    assert reopened.losses == wire.SpoolLoss(corrupt=3)
    assert reopened.next_index == 10
    reopened.close()


def test_records_are_on_disk_before_they_are_handed_out_for_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path, fsync_interval=3600)
    _fill(spool, 5)
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr("netdown.agent.spool.os.fsync", fsync)
    size = segments(tmp_path)[0].stat().st_size
    items = spool.read(2)
    assert size in synced, "handing out a record first makes the tail durable: a power loss cannot reuse its seq"
    synced.clear()
    spool.rewind()
    assert spool.read(2) == items
    assert synced == [], "records already durable are handed out without another fsync"


def test_a_state_the_disk_refuses_to_save_is_kept_and_saved_at_the_next_chance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    _fill(spool, 4)
    with monkeypatch.context() as patched:
        patched.setattr("netdown.agent.spool.os.write", no_space)
        patched.setattr("netdown.agent.spool.os.replace", lambda _src, _dst: no_space(0, b""))
        with pytest.raises(SpoolWriteError):
            spool.append(b"refused")
        spool.ack(spool.read(2)[-1].end)  # the publisher thread must not die of a full disk
    assert msgspec.json.decode((tmp_path / "ack.json").read_bytes())["next_index"] == 0, "not saved yet"
    assert list(tmp_path.glob("*.tmp")) == [], "no half-written state is left behind"
    spool.close()
    reopened = Spool(tmp_path)
    assert reopened.losses == wire.SpoolLoss(write_failed=1)
    assert [item.index for item in reopened.read(10)] == [2, 3]
    reopened.close()


def test_a_frame_inside_a_damaged_record_is_not_taken_for_a_record(tmp_path: Path) -> None:
    inner = Spool(tmp_path / "inner")
    inner.append(b"hidden")  # index 0: a valid frame, as a payload
    inner.close()
    disguised = segments(tmp_path / "inner")[0].read_bytes()
    spool = Spool(tmp_path / "spool")
    _fill(spool, 2)
    spool.append(disguised)
    spool.append(b"after")
    spool.close()
    (segment,) = segments(tmp_path / "spool")
    data = bytearray(segment.read_bytes())
    data[parse_segment(segment)[2].start] ^= 0xFF  # the outer frame's magic: recovery searches on, into it
    segment.write_bytes(data)
    reopened = Spool(tmp_path / "spool")
    assert [(item.index, item.payload) for item in reopened.read(10)] == [*enumerate(_records(2)), (3, b"after")]
    assert reopened.losses == wire.SpoolLoss(corrupt=1), "indices only rise: the stale frame inside is skipped"
    reopened.close()


def test_debris_a_failed_rollback_leaves_is_never_read_and_is_removed_at_the_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_truncate(_fd: int, _length: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    spool = Spool(tmp_path)
    _fill(spool, 2)
    with monkeypatch.context() as patched:
        patched.setattr("netdown.agent.spool.os.write", disk_with_room(18))
        patched.setattr("netdown.agent.spool.os.ftruncate", broken_truncate)
        with pytest.raises(SpoolWriteError):
            spool.append(b"record-000002")  # 18 bytes of it stay in the file
    assert spool.append(b"record-000003") == 3
    assert len(segments(tmp_path)) == 2, "the next record went to a new segment, not after the debris"
    assert [item.index for item in spool.read(10)] == [0, 1, 3]
    del spool  # killed
    reopened = Spool(tmp_path)
    assert [frame.index for frame in records_on_disk(tmp_path)] == [0, 1, 3], "the debris is gone from disk"
    assert [item.index for item in reopened.read(10)] == [0, 1, 3]
    assert reopened.losses == wire.SpoolLoss(write_failed=1)
    reopened.close()


def test_an_append_after_close_is_refused_and_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"before")
    spool.close()
    with pytest.raises(SpoolWriteError, match=r"the spool is closed$"):
        spool.append(b"late")  # a source thread still running at shutdown
    assert spool.losses == wire.SpoolLoss(write_failed=1)
    reopened = Spool(tmp_path)
    assert reopened.next_index == 2
    reopened.close()
