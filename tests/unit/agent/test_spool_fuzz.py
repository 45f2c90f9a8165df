"""The spool under random appends, refused writes, reads, acks, crashes, power losses and damage on disk.

A state machine keeps a model: the records appended successfully and not acknowledged (``live``),
the indices handed out by ``read``, the refused appends. After every crash it reopens the spool and
checks, with L the live records that can no longer be read and N the reopened ``next_index``:

1. Nothing but damage loses a record: every record in L had a byte changed or cut off by the crash;
   the other live records come back exactly once, in index order (as ``read`` always returns them).
2. Every loss is counted, exactly: ``losses.corrupt`` grows by ``|{r in L : r.index < N}|``; at
   every step ``losses.write_failed`` is the number of refused appends, ``losses.bound`` the number
   of records the size bound dropped (the oldest live ones, which then never come back), and
   ``pending`` the number of live records. So ``corrupt + bound + write_failed`` equals the refused
   appends plus the records appended successfully, never acknowledged, that can no longer be read,
   less only those of 3.
3. An index that may have left the device is never reused: N is above every index ever handed out,
   acknowledged or refused. The indices from N up to the old ``next_index`` are exactly those of the
   records of L with ``index >= N``, and none of those was ever handed out: they were appended since
   the spool last saved its state and lost (a power loss before their fsync, or damage at the very
   end of the newest segment) with no trace left to count, and never left the device.
4. A record is handed out only once a power loss cannot take it: the power-loss cut never removes a
   record ``read`` returned, and with ``fsync_interval`` 0 it removes nothing at all.

A crash is the process dying without ``close`` (every write kept); optionally a power loss (the
newest segment cut at any byte the spool never fsynced; ``os.fsync`` is wrapped to know which); and
optionally damage to any byte range of any segment file (every byte flipped, so every record it
touches is damaged for certain).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from netdown.agent.spool import Spool, SpoolItem, SpoolWriteError
from tests.unit.agent.spool_disk import disk_with_room, parse_segment, segments

# fsync is free on a RAM disk; the machine models power loss itself, from the fsync calls it sees.
SCRATCH = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
REAL_FSYNC = os.fsync


class SpoolMachine(RuleBasedStateMachine):
    """One spool directory, driven by Hypothesis, checked against a model of what it must hold."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="spool-fuzz-", dir=SCRATCH))
        self.synced: dict[tuple[int, int], int] = {}  # (device, inode) -> file size at its last fsync
        self.fsync = mock.patch("netdown.agent.spool.os.fsync", self._fsync)
        self.fsync.start()
        self.spool: Spool | None = None
        self.options: dict[str, Any] = {}
        self.live: dict[int, bytes] = {}  # index -> payload, in index order
        self.handed_out: set[int] = set()
        self.refused: list[int] = []
        self.acked_below = 0
        self.read_from = 0
        self.unacked: list[SpoolItem] = []
        self.bound = 0
        self.corrupt = 0
        self.appended = 0

    def _fsync(self, fd: int) -> None:
        REAL_FSYNC(fd)
        status = os.fstat(fd)
        self.synced[status.st_dev, status.st_ino] = status.st_size

    def _durable_size(self, path: Path) -> int:
        status = path.stat()
        return min(self.synced.get((status.st_dev, status.st_ino), 0), status.st_size)

    @property
    def opened(self) -> Spool:
        assert self.spool is not None
        return self.spool

    @initialize(
        segment_bytes=st.integers(128, 1024),
        segments_in_bound=st.integers(2, 6),
        fsync_interval=st.sampled_from([0.0, 3600.0]),
    )
    def open_spool(self, segment_bytes: int, segments_in_bound: int, fsync_interval: float) -> None:
        """A new spool, its bound a few segments so that the bound drops records too."""
        self.options = {
            "max_bytes": segment_bytes * segments_in_bound,
            "segment_bytes": segment_bytes,
            "fsync_interval": fsync_interval,
        }
        self.spool = Spool(self.directory, **self.options)

    @rule(fillers=st.lists(st.binary(max_size=300), min_size=1, max_size=25))
    def append(self, fillers: list[bytes]) -> None:
        """Each record is taken with the next index; records the bound drops are the oldest live ones."""
        dropped_before = self.bound
        for filler in fillers:
            payload = b"%08d|" % self.appended + filler
            self.appended += 1
            expected, bound = self.opened.next_index, self.opened.losses.bound
            assert self.opened.append(payload) == expected
            self.live[expected] = payload
            dropped = self.opened.losses.bound - bound
            for index in list(self.live)[:dropped]:
                del self.live[index]
            self.bound += dropped
        if self.bound > dropped_before:
            event("the bound dropped records")

    @rule(room=st.integers(0, 30))
    def append_refused(self, room: int) -> None:
        """On a full disk (short write, then ENOSPC) a record uses up its index and leaves nothing on disk."""
        expected = self.opened.next_index
        with mock.patch("netdown.agent.spool.os.write", disk_with_room(room)), pytest.raises(SpoolWriteError):
            self.opened.append(b"refused")  # a 31-byte frame: the disk has less room
        assert self.opened.next_index == expected + 1
        self.refused.append(expected)
        event("refused")

    @rule(count=st.integers(1, 40))
    def read(self, count: int) -> None:
        """The next live records after the read cursor, in order, each once."""
        items = self.opened.read(count)
        expected = [(index, payload) for index, payload in self.live.items() if index >= self.read_from][:count]
        assert [(item.index, item.payload) for item in items] == expected
        if items:
            self.read_from = items[-1].index + 1
            self.handed_out.update(item.index for item in items)
            self.unacked += items

    @precondition(lambda self: self.unacked)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        """Acknowledge up to one of the records read (as the publisher does after the broker confirmed)."""
        which = data.draw(st.integers(0, len(self.unacked) - 1))
        item = self.unacked[which]
        del self.unacked[: which + 1]
        self.opened.ack(item.end)
        for index in [index for index in self.live if index <= item.index]:
            del self.live[index]
        self.acked_below = max(self.acked_below, item.index + 1)

    @rule()
    def rewind(self) -> None:
        """Read again from the acknowledged point."""
        self.opened.rewind()
        self.read_from = self.acked_below

    @rule()
    def restart(self) -> None:
        """A clean stop and start loses nothing."""
        self.opened.close()
        self._reopen(damaged=set())

    @rule(
        power_loss=st.none() | st.floats(0, 1),
        damage=st.none() | st.tuples(st.integers(0, 1 << 16), st.floats(0, 1), st.integers(1, 300)),
    )
    def crash(self, power_loss: float | None, damage: tuple[int, float, int] | None) -> None:
        """The process dies; maybe the power goes (an unsynced tail is cut); maybe a byte range is damaged."""
        os.close(self.opened._tail_fd)  # the process died: nothing else of it is released
        files = segments(self.directory)
        frames = {path: parse_segment(path) for path in files}  # only whole frames: refused ones left nothing
        damaged: set[int] = set()
        if power_loss is not None:
            tail = files[-1]
            durable, size = self._durable_size(tail), tail.stat().st_size
            assert durable == size or self.options["fsync_interval"] > 0, "fsync_interval 0: every record synced"
            cut = durable + round((size - durable) * power_loss)
            os.truncate(tail, cut)
            cut_off = {frame.index for frame in frames[tail] if frame.end > cut}
            assert not cut_off & self.handed_out, "a record is handed out only once a power loss cannot take it"
            damaged |= cut_off
        if damage is not None:
            which, where, length = damage
            path = files[which % len(files)]
            data = bytearray(path.read_bytes())
            if data:
                start = round(where * (len(data) - 1))
                end = min(len(data), start + length)
                for at in range(start, end):
                    data[at] ^= 0xFF
                path.write_bytes(data)
                damaged |= {frame.index for frame in frames[path] if frame.start < end and frame.end > start}
        self._reopen(damaged)

    def _reopen(self, damaged: set[int]) -> None:
        """Open the spool again and check properties 1-3 of the module docstring."""
        before, corrupt = self.opened.next_index, self.opened.losses.corrupt
        self.spool = Spool(self.directory, **self.options)
        after = self.spool.next_index
        survivors: list[SpoolItem] = []
        while batch := self.spool.read(100):
            survivors += batch
        self.spool.rewind()
        indices = [item.index for item in survivors]
        assert indices == sorted(set(indices)), "each record once, in order"
        assert all(self.live.get(item.index) == item.payload for item in survivors), "only live records"
        lost = [index for index in self.live if index not in set(indices)]
        assert set(lost) <= damaged, f"lost {sorted(set(lost) - damaged)}, which nothing damaged"
        counted = [index for index in lost if index < after]
        forgotten = [index for index in lost if index >= after]
        assert self.spool.losses.corrupt - corrupt == len(counted), "every loss counted, once"
        assert forgotten == list(range(after, before)), "only lost records' indices are given out again"
        assert not set(forgotten) & self.handed_out, "and none of them ever left the device"
        assert after > max([*self.handed_out, *self.refused, self.acked_below - 1], default=-1)
        event(f"reopened: survivors {bool(survivors)}, counted lost {bool(counted)}, forgotten lost {bool(forgotten)}")
        for index in lost:
            del self.live[index]
        self.corrupt += len(counted)
        self.handed_out.update(indices)
        self.read_from = self.acked_below
        self.unacked = []

    @invariant()
    def counts(self) -> None:
        """What is pending and what was lost, by cause, agree with the model at every step."""
        if self.spool is None:
            return
        losses = self.spool.losses
        assert self.spool.pending == len(self.live)
        assert (losses.bound, losses.corrupt, losses.write_failed) == (self.bound, self.corrupt, len(self.refused))

    def teardown(self) -> None:
        """Release the spool, its folder and the fsync wrapper."""
        if self.spool is not None:
            self.spool.close()
        self.fsync.stop()
        shutil.rmtree(self.directory)


TestSpoolUnderCrashesAndDamage = SpoolMachine.TestCase
TestSpoolUnderCrashesAndDamage.settings = settings(max_examples=600, stateful_step_count=60, deadline=None)
