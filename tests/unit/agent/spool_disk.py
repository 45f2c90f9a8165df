"""The spool's disk, for its tests: the frame format read independently of the spool, and failing writes.

Tests parse segment files with this rather than with the spool's own code, so a test that says "no
torn record on disk" or "these bytes belong to record 7" does not trust what it is checking.
"""

from __future__ import annotations

import errno
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MAGIC: Final = b"\xf5NDS"
# magic, index (u64), payload length (u32), payload crc32 (u32), crc32 of the 20 bytes before it (u32)
HEADER: Final = struct.Struct(">4sQIII")
REAL_WRITE: Final = os.write


@dataclass(frozen=True)
class Frame:
    """One record as it lies in a segment file: its index, payload and byte range."""

    index: int
    payload: bytes
    start: int
    end: int


def parse_segment(path: Path) -> list[Frame]:
    """Every frame of a segment that must hold nothing but whole, intact frames (else AssertionError)."""
    data = path.read_bytes()
    frames: list[Frame] = []
    offset = 0
    while offset < len(data):
        assert offset + HEADER.size <= len(data), f"{path}: torn header at {offset}"
        magic, index, length, crc, header_crc = HEADER.unpack_from(data, offset)
        assert magic == MAGIC, f"{path}: no frame at {offset}"
        assert zlib.crc32(data[offset : offset + HEADER.size - 4]) == header_crc, f"{path}: bad header at {offset}"
        end = offset + HEADER.size + length
        assert end <= len(data), f"{path}: torn record at {offset}"
        payload = data[offset + HEADER.size : end]
        assert zlib.crc32(payload) == crc, f"{path}: bad payload at {offset}"
        frames.append(Frame(index, payload, offset, end))
        offset = end
    return frames


def segments(directory: Path) -> list[Path]:
    """The spool's segment files, oldest first."""
    return sorted(directory.glob("*.seg"))


def records_on_disk(directory: Path) -> list[Frame]:
    """Every frame of every segment, in order."""
    return [frame for path in segments(directory) for frame in parse_segment(path)]


def disk_with_room(free: int) -> Callable[[int, bytes], int]:
    """An ``os.write`` for a disk with ``free`` bytes left: a short write once they run out, then ENOSPC."""
    left = free

    def write(fd: int, data: bytes) -> int:
        nonlocal left
        if not left:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = REAL_WRITE(fd, bytes(data[:left]))
        left -= written
        return written

    return write


def no_space(_fd: int, _data: bytes) -> int:
    """An ``os.write`` for a full disk."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
