"""The agent's durable disk spool: every event is written here before it counts as accepted.

Why a spool: a Mac goes offline, sleeps, roams; the broker restarts. Events must survive all of it
and reach Kafka in order, once the path is back. The publisher reads from the spool and acknowledges
what the broker confirmed; what is not acknowledged is sent again after a restart (the stream job
drops the duplicates by ``event_id``). The spool must never lie about what it holds: a record it
could not keep is counted, never silently skipped.

**Indices.** Every record gets an index, 0, 1, 2, ... for the life of the spool directory. The agent
uses it as the event's ``seq``, so a record the spool loses is a gap the stream job counts. An index
is used up even when the disk refuses the record, and never given out again once its record may
have left the device (a reused seq would be a second event under a number the worker already saw).

**Layout.** A folder of append-only segment files ``<number>.seg`` and ``ack.json``. A segment is a
run of frames, each a 24-byte big-endian header and then the payload::

    magic   4 bytes  b"\\xf5NDS": where a frame starts. 0xF5 never occurs in UTF-8, so it can never
                     appear inside the agent's JSON payloads and recovery only stops at real frames
    index   u64      the record's index
    length  u32      payload bytes
    crc     u32      crc32 of the payload
    hcrc    u32      crc32 of the 20 bytes above, so a damaged length cannot send recovery astray

The magic and the header's own CRC make frames self-synchronising: after a damaged range, the next
intact frame can be found without trusting anything in the damage.

**Writing.** A record's whole frame is written (``os.write``, to the page cache) before ``append``
returns, so it survives the process being killed. A short write is continued, since on a filling
disk the next write is the one that says why. If the disk refuses (full, quota, I/O error), what was
written of the frame is cut off again (no torn frame stays between good ones), the index is used up
and counted under ``write_failed``, and :class:`SpoolWriteError` is raised; the next ``append`` tries
again, so the spool works again as soon as space frees up.

**Durability points.** The tail segment is fsynced every ``fsync_interval`` (1 s by default: a
power loss costs at most that much of the newest events), when it fills, before any of its records is
first handed out by :meth:`Spool.read`, and at close; never per append (that would cost the agent
most of its throughput; a hand-out sync covers a whole delivery batch). Syncing before a hand-out
means a record reaches Kafka only once it survives a power loss, so its index cannot come back for
another event.

**State** (``ack.json``, replaced atomically: temporary file, fsync, rename): the acknowledged point
as an index (``next_index``: everything below it reached the broker), the high water (the next index
when the state was written), the index ranges known to hold no record (``holes``, already counted),
and the cumulative losses. It is written at every durability point, acknowledgement, size-bound drop
and refused write; best effort: when the disk is full, the totals stay in memory and the next save
writes them. Byte offsets are deliberately not kept: recovery may compact a segment, and an index
says which records were acknowledged whatever moved. The folder is synced after a rename only before
segments are deleted (one more fsync per acknowledgement would be too many), so a power loss may
bring back the previous state: what was acknowledged since is sent again (dropped downstream by
``event_id``), and refusals counted since may be forgotten with their indices (never sent: no seq
is reused).

**Recovery** at open scans every segment frame by frame; on a bad frame it searches forward for the
next magic that starts a valid frame (so a damaged range never costs the good records after it),
and the damaged bytes are removed from disk by rewriting the segment compactly and atomically.
Indices must rise through the spool, so a frame inside a damaged record's payload is not mistaken for
a record unless its index is higher (impossible for the agent: its payloads are UTF-8, without the
magic). The indices then say what was lost: every unacknowledged index below the next index (max of
last surviving + 1, acknowledged point, high water) that has no record and is not a known hole is
counted under ``corrupt``, once. Acknowledged records that are gone were delivered: no loss.

**Bounded:** when the spool's segments exceed ``max_bytes``, the oldest segment is dropped whole and
its unacknowledged records counted under ``bound`` (and in ``take_dropped`` for the heartbeat). The
defaults, 64 MiB in 1 MiB segments, hold about 200,000 events of ~300 bytes (weeks offline at a few
events a minute) in a small share of any disk, and a drop costs 1/64 of the backlog at a time.

What cannot be counted: records appended since the last state save and lost before the next one
(a power loss before their fsync, or damage to the very end of the newest segment) leave no trace.
Their indices are given out again, harmlessly: such records were never handed out for delivery
(see the durability points), so they never left the device.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Final, NoReturn

import msgspec

from netdown import wire

__all__ = ["Position", "Spool", "SpoolItem", "SpoolWriteError"]

log = logging.getLogger(__name__)

_MAGIC: Final = b"\xf5NDS"
_HEAD: Final = struct.Struct(">4sQII")  # magic, index, length, payload crc: what the header crc covers
_HCRC: Final = struct.Struct(">I")
_HEADER: Final = struct.Struct(">4sQIII")  # the whole 24-byte header, for reading it in one go
_STATE_FILE: Final = "ack.json"
_SUFFIX: Final = ".seg"
_TMP: Final = ".tmp"
# Frames are read through a buffer of this size: a delivery batch (500 records of ~300 bytes) takes a
# few reads, without loading a whole multi-megabyte segment to hand out its first records.
_READ_BUFFER: Final = 64 * 1024


class SpoolWriteError(OSError):
    """The disk refused a record (full, over quota, I/O error, short write): it was not spooled."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.errno = code  # the disk's reason (ENOSPC, EDQUOT, EIO...), None if it gave none


@dataclass(frozen=True, order=True)
class Position:
    """A place in the spool: segment number and byte offset (ordered like the records).

    ``next_index`` is the index after the last record before this place: acknowledging the position
    acknowledges every index below it. It is implied by the place, so it takes no part in comparisons.
    """

    segment: int
    offset: int
    next_index: int = field(compare=False)


@dataclass(frozen=True)
class SpoolItem:
    """One record read for delivery: its payload, its index, and the position just after it (to acknowledge)."""

    payload: bytes
    index: int
    end: Position


@dataclass(slots=True)
class _Segment:
    start: int  # no record in an earlier segment has this index or a higher one
    size: int  # bytes of whole frames: everything the spool wrote and kept


class _State(msgspec.Struct, kw_only=True):
    """What ``ack.json`` holds (see the module docstring); an older or unreadable file reads as a new spool."""

    next_index: int = 0
    high_water: int = 0
    holes: tuple[tuple[int, int], ...] = ()
    lost: wire.SpoolLoss = msgspec.field(default_factory=wire.SpoolLoss)


class _Holes:
    """Index ranges ``[start, end)`` at or above the acknowledged point that hold no record, in order.

    Each was counted as lost when it appeared (a refused write, or found missing at open); remembering
    them in the state file is what keeps the next open from counting them again.
    """

    __slots__ = ("_ranges",)

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._ranges: list[tuple[int, int]] = []
        for start, end in ranges:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        """Record ``[start, end)``, which starts at or after every range recorded so far."""
        if self._ranges and self._ranges[-1][1] >= start:
            self._ranges[-1] = (self._ranges[-1][0], max(end, self._ranges[-1][1]))
        else:
            self._ranges.append((start, end))

    def forget_below(self, index: int) -> None:
        """Drop what lies below ``index`` (now acknowledged or dropped: no longer pending)."""
        while self._ranges and self._ranges[0][1] <= index:
            self._ranges.pop(0)
        if self._ranges and self._ranges[0][0] < index:
            self._ranges[0] = (index, self._ranges[0][1])

    def count(self, low: int, high: int) -> int:
        """How many indices in ``[low, high)`` are holes."""
        return sum(max(0, min(end, high) - max(start, low)) for start, end in self._ranges)

    def ranges(self) -> tuple[tuple[int, int], ...]:
        """The ranges, for the state file."""
        return tuple(self._ranges)


class Spool:
    """A thread-safe, size-bounded, crash-safe FIFO of byte records on disk, each with a unique index."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int = 64 * 1024 * 1024,
        segment_bytes: int = 1024 * 1024,
        fsync_interval: float = 1.0,
    ) -> None:
        # Two segments at least: the bound drops whole segments and never the one being written.
        if segment_bytes * 2 > max_bytes:
            raise ValueError(f"segment_bytes ({segment_bytes}) must be at most half of max_bytes ({max_bytes})")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync_interval = fsync_interval
        self._lock = threading.Condition()
        self._dropped = 0
        self._failing: set[str] = set()
        self._last_fsync = time.monotonic()
        state = self._load_state()
        self._lost = state.lost
        self._segments, self._holes, self._next_index, self._acked, self._pending = self._recover(state)
        self._bytes = sum(segment.size for segment in self._segments.values())
        self._tail = max(self._segments)
        self._tail_fd = self._open_segment(self._tail)
        self._read = self._acked
        self._synced = 0  # every index below this one is on disk; the sync below covers what recovery found
        self._must_roll = False
        self._sync()

    # --- writing ---

    def append(self, payload: bytes) -> int:
        """Write one record and return its index; once this returns, it survives the process being killed.

        Raises :class:`SpoolWriteError` if the disk refused it (the index is then used up and counted).
        """
        with self._lock:
            index = self._next_index  # taken for good once written or refused, not before: see _roll
            head = _HEAD.pack(_MAGIC, index, len(payload), zlib.crc32(payload))
            frame = head + _HCRC.pack(zlib.crc32(head)) + payload
            if self._tail_fd < 0:
                self._refuse(index, len(frame), "the spool is closed", errno.EBADF)
            tail = self._segments[self._tail]
            if self._must_roll or (tail.size and tail.size + len(frame) > self.segment_bytes):
                try:
                    self._roll(start=index)
                except OSError as exc:
                    self._refuse(index, len(frame), exc.strerror or str(exc), exc.errno)
                tail = self._segments[self._tail]
            refused = self._write(frame)
            if refused is not None:
                self._rollback(tail)
                self._refuse(index, len(frame), *refused)
            self._next_index = index + 1
            tail.size += len(frame)
            self._bytes += len(frame)
            self._pending += 1
            if time.monotonic() - self._last_fsync >= self.fsync_interval:
                self._sync()
            self._enforce_bound()
            self._lock.notify_all()
            return index

    # --- delivering ---

    def read(self, max_records: int, timeout: float | None = None) -> list[SpoolItem]:
        """Up to ``max_records`` records after the read cursor, waiting up to ``timeout`` for one."""
        with self._lock:
            if not self._has_unread() and timeout:
                self._lock.wait(timeout)
            items = list(islice(self._records_from(self._read), max_records))
            if items:
                self._read = items[-1].end
                if items[-1].index >= self._synced:
                    self._sync()
            return items

    def ack(self, position: Position) -> None:
        """Everything up to ``position`` reached the broker: persist it and delete finished segments."""
        with self._lock:
            if position <= self._acked:
                return
            self._pending -= self._records_in(self._acked.next_index, position.next_index)
            self._holes.forget_below(position.next_index)
            self._acked = position
            self._read = max(self._read, position)
            saved = self._save()
            finished = [segment for segment in self._segments if segment < position.segment]
            self._delete_segments(finished)
            if finished and not saved:
                self._save()  # deleting may have freed the space the state needed

    def rewind(self) -> None:
        """Delivery failed: read again from the last acknowledged record."""
        with self._lock:
            self._read = self._acked

    # --- state for the agent, heartbeats and shutdown ---

    @property
    def next_index(self) -> int:
        """The index the next ``append`` gets: above that of every record that may have left the device."""
        with self._lock:
            return self._next_index

    @property
    def pending(self) -> int:
        """Records written and not yet acknowledged."""
        with self._lock:
            return self._pending

    @property
    def losses(self) -> wire.SpoolLoss:
        """Records lost before delivery, by cause, since the spool directory was created."""
        with self._lock:
            return self._lost

    def take_dropped(self) -> int:
        """Records dropped by the size bound since the last call (for the next heartbeat)."""
        with self._lock:
            dropped, self._dropped = self._dropped, 0
            return dropped

    def close(self) -> None:
        """Flush to disk, save the state and release the file (a late ``append`` is then refused)."""
        with self._lock:
            self._sync()
            os.close(self._tail_fd)
            self._tail_fd = -1  # never write into whatever file reuses the descriptor number

    # --- internals (called with the lock held) ---

    def _refuse(self, index: int, size: int, reason: str, code: int | None) -> NoReturn:
        """Use up the index of a record the disk refused, remember it as a counted hole, and raise."""
        self._next_index = index + 1
        self._holes.add(index, index + 1)
        self._lost = msgspec.structs.replace(self._lost, write_failed=self._lost.write_failed + 1)
        self._save()
        raise SpoolWriteError(f"spool {self.directory}: cannot write a {size}-byte record: {reason}", code)

    def _write(self, frame: bytes) -> tuple[str, int | None] | None:
        """Write a whole frame to the tail; why not (and the errno) if the disk refused it.

        A short write is continued: POSIX allows one without an error, and on a filling disk the
        next write is the one that says why (ENOSPC, EDQUOT, EIO), which is what the message needs.
        """
        written = 0
        while written < len(frame):
            try:
                count = os.write(self._tail_fd, memoryview(frame)[written:] if written else frame)
            except OSError as exc:
                return exc.strerror or str(exc), exc.errno
            if count == 0:
                return f"the disk took only {written} of its bytes", None
            written += count
        return None

    def _rollback(self, tail: _Segment) -> None:
        """Cut what a failed write left of its frame; if even that fails, start a new segment next time."""
        try:
            os.ftruncate(self._tail_fd, tail.size)
        except OSError:
            self._must_roll = True  # the debris stays past ``size``, unread; recovery removes it

    def _has_unread(self) -> bool:
        return self._read < Position(self._tail, self._segments[self._tail].size, 0)

    def _sync(self) -> None:
        """A durability point: fsync the tail, then save the state (its high water now covers the tail)."""
        try:
            os.fsync(self._tail_fd)
        except OSError as exc:
            self._note("fsync", exc)
        else:
            self._note("fsync", None)
            self._synced = self._next_index
        self._last_fsync = time.monotonic()
        self._save()

    def _roll(self, start: int) -> None:
        """Start the next segment with index ``start``; if the disk refuses the file, the tail stays.

        The full segment is synced before the next one exists, so only the newest can have an unsynced
        tail; ``start`` is not yet written, so the sync does not count it as durable.
        """
        self._sync()
        fd = self._open_segment(self._tail + 1)
        self._sync_directory()
        os.close(self._tail_fd)
        self._tail += 1
        self._tail_fd = fd
        self._segments[self._tail] = _Segment(start=start, size=0)
        self._must_roll = False

    def _enforce_bound(self) -> None:
        """Drop the oldest segments (never the one being written) while the spool is over its bound."""
        while self._bytes > self.max_bytes and len(self._segments) > 1:
            oldest, following = sorted(self._segments)[:2]
            if self._acked.segment <= oldest:
                after = Position(following, 0, self._segments[following].start)
                lost = self._records_in(self._acked.next_index, after.next_index)
                self._dropped += lost
                self._pending -= lost
                self._lost = msgspec.structs.replace(self._lost, bound=self._lost.bound + lost)
                self._holes.forget_below(after.next_index)
                self._acked = after
                self._read = max(self._read, after)
                self._save()  # before deleting: the count and the new acknowledged point go together
            self._delete_segments([oldest])

    def _records_in(self, low: int, high: int) -> int:
        """Records in the spool with an index in ``[low, high)``: every index there is a record or a hole."""
        return max(0, high - low) - self._holes.count(low, high)

    def _delete_segments(self, numbers: list[int]) -> None:
        """Delete segments once the state that says why (delivered, or dropped and counted) is durable.

        The state's rename is made durable first (a folder sync, once per deletion, not per save): a
        power loss must not bring back an older state without the segments it still counts on.
        """
        if numbers:
            self._sync_directory()
        for segment in numbers:
            self._bytes -= self._segments.pop(segment).size
            self._segment_path(segment).unlink(missing_ok=True)

    def _records_from(self, start: Position) -> Iterator[SpoolItem]:
        """Records after ``start``, in order; the frames were checked at open or written by this process."""
        for segment in sorted(self._segments):
            size = self._segments[segment].size
            offset = start.offset if segment == start.segment else 0
            if segment < start.segment or offset >= size:
                continue
            with self._segment_path(segment).open("rb", buffering=_READ_BUFFER) as handle:
                handle.seek(offset)
                while offset < size:
                    _magic, index, length, _crc, _hcrc = _HEADER.unpack(handle.read(_HEADER.size))
                    payload = handle.read(length)
                    offset += _HEADER.size + length
                    yield SpoolItem(payload, index, Position(segment, offset, index + 1))

    def _save(self) -> bool:
        """Write the state atomically (temporary file, fsync, rename); False if the disk refused it."""
        state = _State(
            next_index=self._acked.next_index,
            high_water=self._next_index,
            holes=self._holes.ranges(),
            lost=self._lost,
        )
        path = self.directory / _STATE_FILE
        try:
            _write_atomically(path, msgspec.json.encode(state))
        except OSError as exc:
            self._note("saving the state", exc)
            return False
        self._note("saving the state", None)
        return True

    def _note(self, operation: str, error: OSError | None) -> None:
        """Log a disk operation that starts or stops failing once per change, not once per attempt."""
        if error is not None and operation not in self._failing:
            self._failing.add(operation)
            log.warning(
                "spool %s: %s failed (%s); retrying at the next durability point", self.directory, operation, error
            )
        elif error is None and operation in self._failing:
            self._failing.discard(operation)
            log.info("spool %s: %s works again", self.directory, operation)

    def _load_state(self) -> _State:
        try:
            return msgspec.json.decode((self.directory / _STATE_FILE).read_bytes(), type=_State)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return _State()

    def _recover(self, state: _State) -> tuple[dict[int, _Segment], _Holes, int, Position, int]:
        """Check every segment, remove damage, and work out from the indices what was lost.

        Returns the segments, the holes, the next index, the acknowledged position and the pending count.
        """
        for stray in self.directory.glob(f"*{_TMP}"):
            stray.unlink()  # a rewrite or a state save a crash interrupted; the original is intact
        numbers = sorted(int(path.stem) for path in self.directory.glob(f"*{_SUFFIX}") if path.stem.isdigit())
        frames: dict[int, list[tuple[int, int]]] = {}  # segment -> (index, end offset) of each record kept
        last = -1
        for number in numbers:
            frames[number] = kept = self._recover_segment(number, after=last)
            if kept:
                last = kept[-1][0]
        acked = state.next_index
        newest = max(numbers, default=0)
        for number in [n for n in numbers if n != newest and (not frames[n] or frames[n][-1][0] < acked)]:
            del frames[number]
            self._segment_path(number).unlink()  # every record in it was delivered
        frames.setdefault(newest, [])
        next_index = max(last + 1, acked, state.high_water)

        known = _Holes(state.holes)
        holes = _Holes()
        pending = 0
        expected = acked
        acked_at: Position | None = None
        segments: dict[int, _Segment] = {}
        for number, kept in frames.items():
            segments[number] = _Segment(start=kept[0][0] if kept else next_index, size=kept[-1][1] if kept else 0)
            offset = 0
            for index, end in kept:
                if index >= acked:
                    acked_at = acked_at or Position(number, offset, acked)
                    pending += 1
                    if index > expected:
                        holes.add(expected, index)
                    expected = index + 1
                offset = end
        if next_index > expected:
            holes.add(expected, next_index)
        corrupt = sum(end - start - known.count(start, end) for start, end in holes.ranges())
        if corrupt:
            self._lost = msgspec.structs.replace(self._lost, corrupt=self._lost.corrupt + corrupt)
        acked_at = acked_at or Position(newest, segments[newest].size, acked)
        return segments, holes, next_index, acked_at, pending

    def _recover_segment(self, number: int, after: int) -> list[tuple[int, int]]:
        """The index and end offset of each valid frame of one segment (indices above ``after``, rising).

        A frame that fails a check is skipped by searching for the next magic; if anything was skipped,
        the segment is rewritten with the valid frames only, so the damage is gone from disk too.
        """
        path = self._segment_path(number)
        raw = path.read_bytes()
        data = memoryview(raw)
        kept: list[tuple[int, int, int]] = []  # (index, start, end) in the file as found
        offset = 0
        while offset < len(raw):
            frame = _valid_frame(data, offset)
            if frame is not None and frame[0] > after:
                after, end = frame
                kept.append((after, offset, end))
                offset = end
            else:
                offset = raw.find(_MAGIC, offset + 1)
                if offset < 0:
                    break
        if sum(end - start for _index, start, end in kept) != len(raw):
            _write_atomically(path, b"".join(data[start:end] for _index, start, end in kept))
            self._sync_directory()
        compacted: list[tuple[int, int]] = []
        size = 0
        for index, start, end in kept:
            size += end - start
            compacted.append((index, size))
        return compacted

    def _sync_directory(self) -> None:
        """Make a new or replaced file's name durable: the file survives a power loss only with its name."""
        try:
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            self._note("syncing the folder", exc)  # the file works; only its name's durability is in doubt
        else:
            self._note("syncing the folder", None)

    def _open_segment(self, segment: int) -> int:
        return os.open(self._segment_path(segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _segment_path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}{_SUFFIX}"


def _valid_frame(data: memoryview, offset: int) -> tuple[int, int] | None:
    """The index and end offset of the frame at ``offset`` if it is whole and intact, else None."""
    if offset + _HEADER.size > len(data):
        return None
    magic, index, length, crc, hcrc = _HEADER.unpack_from(data, offset)
    end = offset + _HEADER.size + length
    if magic != _MAGIC or zlib.crc32(data[offset : offset + _HEAD.size]) != hcrc or end > len(data):
        return None
    if zlib.crc32(data[offset + _HEADER.size : end]) != crc:
        return None
    return index, end


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` so that a crash leaves either the old or the new file, whole."""
    tmp = path.with_name(path.name + _TMP)
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
