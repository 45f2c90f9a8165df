"""The agent's durable disk spool: every event is written here before it counts as accepted.

Why a spool: a Mac goes offline, sleeps, roams; the broker restarts. Events must survive all of it
and reach Kafka in order, once the path is back. The publisher reads from the spool and acknowledges
what the broker confirmed; what is not acknowledged is sent again after a restart (the stream job
drops the duplicates by ``event_id``).

Layout: a folder of append-only segment files ``<number>.seg`` holding records framed as
``length (u32) | crc32 (u32) | payload``, and ``ack.json`` saying how far delivery got. A record is
written with one ``os.write`` before ``append`` returns, so it survives the process being killed; the
file is fsynced at most every ``fsync_interval`` (a power loss may cost that much). A torn record at
the tail (killed mid-write) fails its CRC and is cut off at the next open.

Bounded: when the unacknowledged records exceed ``max_bytes``, the oldest segment is dropped whole
and its records counted (reported in the next heartbeat's ``spool.dropped``).
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

__all__ = ["Position", "Spool", "SpoolItem"]

_HEADER: Final = struct.Struct(">II")
_ACK_FILE: Final = "ack.json"
_SUFFIX: Final = ".seg"


@dataclass(frozen=True, order=True)
class Position:
    """A place in the spool: segment number and byte offset within it (ordered like the records)."""

    segment: int
    offset: int


@dataclass(frozen=True)
class SpoolItem:
    """One record read for delivery, and the position just after it (what to acknowledge)."""

    payload: bytes
    end: Position


class _AckState(msgspec.Struct):
    segment: int
    offset: int


class Spool:
    """A thread-safe, size-bounded, crash-safe FIFO of byte records on disk."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int = 64 * 1024 * 1024,
        segment_bytes: int = 1024 * 1024,
        fsync_interval: float = 1.0,
    ) -> None:
        if segment_bytes * 2 > max_bytes:
            raise ValueError(f"segment_bytes ({segment_bytes}) must be at most half of max_bytes ({max_bytes})")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync_interval = fsync_interval
        self._lock = threading.Condition()
        self._dropped = 0
        self._last_fsync = time.monotonic()
        self._acked = self._load_ack()
        self._sizes = self._recover_segments()
        self._read = self._acked
        self._pending = sum(1 for _ in self._records_from(self._acked, None))
        tail = max(self._sizes, default=self._acked.segment)
        self._tail_fd = os.open(self._segment_path(tail), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._tail = tail
        self._sizes.setdefault(tail, 0)

    # --- writing ---

    def append(self, payload: bytes) -> None:
        """Write one record; when this returns, the record survives the process being killed."""
        frame = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._sizes[self._tail] and self._sizes[self._tail] + len(frame) > self.segment_bytes:
                self._roll()
            os.write(self._tail_fd, frame)
            self._sizes[self._tail] += len(frame)
            self._pending += 1
            if time.monotonic() - self._last_fsync >= self.fsync_interval:
                os.fsync(self._tail_fd)
                self._last_fsync = time.monotonic()
            self._enforce_bound()
            self._lock.notify_all()

    def last_payload(self) -> bytes | None:
        """The newest record still in the spool (how the agent resumes ``seq`` after a restart)."""
        with self._lock:
            last = None
            for segment in sorted(self._sizes, reverse=True):
                for item in self._records_from(Position(segment, 0), segment):
                    last = item.payload
                if last is not None:
                    return last
            return None

    # --- delivering ---

    def read(self, max_records: int, timeout: float | None = None) -> list[SpoolItem]:
        """Up to ``max_records`` records after the read cursor, waiting up to ``timeout`` for one."""
        with self._lock:
            if not self._has_unread() and timeout:
                self._lock.wait(timeout)
            items: list[SpoolItem] = []
            for item in self._records_from(self._read, None):
                items.append(item)
                if len(items) >= max_records:
                    break
            if items:
                self._read = items[-1].end
            return items

    def ack(self, position: Position) -> None:
        """Everything up to ``position`` reached the broker: persist it and delete finished segments."""
        with self._lock:
            if position <= self._acked:
                return
            self._pending -= sum(1 for _ in self._records_between(self._acked, position))
            self._acked = position
            self._read = max(self._read, position)
            tmp = self.directory / f"{_ACK_FILE}.tmp"
            tmp.write_bytes(msgspec.json.encode(_AckState(position.segment, position.offset)))
            os.replace(tmp, self.directory / _ACK_FILE)
            for segment in [s for s in self._sizes if s < position.segment]:
                self._delete_segment(segment)

    def rewind(self) -> None:
        """Delivery failed: read again from the last acknowledged record."""
        with self._lock:
            self._read = self._acked

    # --- state for heartbeats and shutdown ---

    @property
    def pending(self) -> int:
        """Records written and not yet acknowledged."""
        with self._lock:
            return self._pending

    def take_dropped(self) -> int:
        """Records dropped by the size bound since the last call (for the next heartbeat)."""
        with self._lock:
            dropped, self._dropped = self._dropped, 0
            return dropped

    def close(self) -> None:
        """Flush to disk and release the file."""
        with self._lock:
            os.fsync(self._tail_fd)
            os.close(self._tail_fd)

    # --- internals (called with the lock held) ---

    def _has_unread(self) -> bool:
        return self._read < Position(self._tail, self._sizes.get(self._tail, 0))

    def _roll(self) -> None:
        os.fsync(self._tail_fd)
        os.close(self._tail_fd)
        self._tail += 1
        self._sizes[self._tail] = 0
        self._tail_fd = os.open(self._segment_path(self._tail), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _enforce_bound(self) -> None:
        """Drop the oldest segments (never the one being written) while the spool is over its bound."""
        while sum(self._sizes.values()) > self.max_bytes and len(self._sizes) > 1:
            oldest = min(self._sizes)
            start = max(self._acked, Position(oldest, 0))
            lost = sum(1 for _ in self._records_from(start, oldest))
            self._dropped += lost
            self._pending -= lost
            self._delete_segment(oldest)
            after = Position(min(self._sizes), 0)
            self._acked = max(self._acked, after)
            self._read = max(self._read, after)

    def _delete_segment(self, segment: int) -> None:
        self._sizes.pop(segment, None)
        self._segment_path(segment).unlink(missing_ok=True)

    def _records_between(self, start: Position, end: Position) -> Iterator[SpoolItem]:
        for item in self._records_from(start, None):
            if item.end > end:
                return
            yield item

    def _records_from(self, start: Position, only_segment: int | None) -> Iterator[SpoolItem]:
        """Records after ``start`` in order (within one segment when ``only_segment`` is given)."""
        for segment in sorted(self._sizes):
            if segment < start.segment or (only_segment is not None and segment != only_segment):
                continue
            offset = start.offset if segment == start.segment else 0
            data = self._segment_path(segment).read_bytes()[: self._sizes[segment]]
            while offset + _HEADER.size <= len(data):
                length, _crc = _HEADER.unpack_from(data, offset)
                end = offset + _HEADER.size + length
                yield SpoolItem(data[offset + _HEADER.size : end], Position(segment, end))
                offset = end

    def _load_ack(self) -> Position:
        try:
            state = msgspec.json.decode((self.directory / _ACK_FILE).read_bytes(), type=_AckState)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return Position(0, 0)
        return Position(state.segment, state.offset)

    def _recover_segments(self) -> dict[int, int]:
        """Sizes of the segments on disk, each cut after its last whole record (a torn tail is dropped)."""
        sizes: dict[int, int] = {}
        for path in self.directory.glob(f"*{_SUFFIX}"):
            if not path.stem.isdigit():
                continue
            data = path.read_bytes()
            good = 0
            while good + _HEADER.size <= len(data):
                length, crc = _HEADER.unpack_from(data, good)
                end = good + _HEADER.size + length
                if end > len(data) or zlib.crc32(data[good + _HEADER.size : end]) != crc:
                    break
                good = end
            if good < len(data):
                with path.open("r+b") as handle:
                    handle.truncate(good)
            sizes[int(path.stem)] = good
        return sizes

    def _segment_path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}{_SUFFIX}"
