"""A simulation on disk: the capture ``netdown-stream replay`` reads, the truth, and incidents to score.

The capture is NDJSON wire events in delivery order, one per line, exactly the bytes the agent would
publish (duplicates included, lost events absent), so a replay of it meets what a worker would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Final

import msgspec

from netdown import wire
from netdown.detection.incident import Incident, decode_incident
from netdown.sim.fleet import Delivery

__all__ = ["read_incidents", "write_capture"]

_CHUNK_LINES: Final = 4096


def write_capture(deliveries: Iterable[Delivery], stream: IO[bytes]) -> int:
    """Write the deliveries' events as NDJSON, in delivery order; how many lines were written.

    Written in chunks: few writes, and memory bounded by a chunk, not by the capture.
    """
    written = 0
    chunk: list[bytes] = []
    for delivery in deliveries:
        chunk.append(wire.encode(delivery.event))
        if len(chunk) == _CHUNK_LINES:
            written += _write_lines(chunk, stream)
    return written + _write_lines(chunk, stream)


def _write_lines(lines: list[bytes], stream: IO[bytes]) -> int:
    if lines:
        stream.write(b"\n".join(lines) + b"\n")
    count = len(lines)
    lines.clear()
    return count


def read_incidents(lines: Iterable[bytes]) -> list[Incident]:
    """Incident records from NDJSON (``netdown-stream replay``'s output, or the incidents topic's values).

    Raises ``ValueError`` naming the first line that is not an incident record.
    """
    incidents: list[Incident] = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                incidents.append(decode_incident(line))
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise ValueError(f"line {number}: not an incident record: {exc}") from None
    return incidents
