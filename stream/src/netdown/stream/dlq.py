"""Rejected messages: why the worker refused one, and the dead-letter record that carries it on.

Every refused message goes to ``netdown.events.dlq`` with headers saying why and where it came from,
so it can be inspected, fixed and replayed. The source topic, partition and offset identify it: after
a crash the worker may forward the same message twice (the DLQ is at-least-once), and those headers
are what a reader deduplicates on.

The original key, bytes and headers are kept unchanged when they fit the bounds below, and cut to
them when they do not: a message the broker accepted (its limit applies to the compressed batch, so
megabytes of one repeated byte pass as a few KiB) can be far larger than the worker's producer may
send (``max_request_size``, 1 MB). Forwarded whole, it would be refused, the batch would fail, and
it would be read and refused again after every restart: one client could stop every worker for
good. A cut record says so in its headers, with the original sizes and the SHA-256 of the original
value, so nothing about the message is lost but its bytes past the bound.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from netdown import wire

__all__ = [
    "CLOCK_SKEW",
    "INTERNAL_ERROR",
    "KEY_MISMATCH",
    "MAX_FORWARDED_HEADER_BYTES",
    "MAX_FORWARDED_KEY_BYTES",
    "MAX_FORWARDED_VALUE_BYTES",
    "REJECT_REASONS",
    "REPLAY_REJECT_REASONS",
    "DeadLetter",
    "Rejected",
    "dead_letter",
]

KEY_MISMATCH: Final = "key_mismatch"  # the Kafka key is not the event's device_id: it may sit in the wrong partition
INTERNAL_ERROR: Final = "internal_error"  # the worker failed on it: a bug to fix, the message kept to replay
# The event's time is further ahead of the processing clock than any device clock can honestly be
# (netdown.stream.admission, docs/detection.md "Device clocks").
CLOCK_SKEW: Final = "clock_skew"
_WIRE_REASONS: Final[tuple[str, ...]] = tuple(reason.value for reason in wire.RejectReason)
# Every value the `reason` label and header can take.
REJECT_REASONS: Final[tuple[str, ...]] = (*_WIRE_REASONS, KEY_MISMATCH, CLOCK_SKEW, INTERNAL_ERROR)
# What a line can be refused for by `netdown-stream replay`: the contract's reasons and a clock too far ahead
# (a file has no Kafka key to mismatch, and a replay stops on an internal error rather than set a line aside).
REPLAY_REJECT_REASONS: Final[tuple[str, ...]] = (*_WIRE_REASONS, CLOCK_SKEW)
# A detail is for people; a pathological one (a huge repr) must not make the DLQ record itself too large.
_MAX_DETAIL: Final = 1024

# Bounds of a forwarded dead letter. Together (with the verdict headers, ~2 KiB) they stay far below the
# producer's 1 MB request limit whatever the message was, so a dead letter can always be sent.
MAX_FORWARDED_VALUE_BYTES: Final = wire.MAX_EVENT_BYTES
"""A value up to the contract's own limit is kept whole (it may be fixed and replayed); of a larger one,
which can never be an event, its first 64 KiB show what it was."""
MAX_FORWARDED_KEY_BYTES: Final = 1024
"""Keys are device ids of at most 64 characters; a longer one is kept to 1 KiB."""
MAX_FORWARDED_HEADER_BYTES: Final = 16 * 1024
"""Original headers (names and values) kept in order up to 16 KiB in all; the rest are counted, not sent."""


@dataclass(frozen=True)
class Rejected:
    """Why a message was refused: a reason from :data:`REJECT_REASONS`, a detail and the field at fault."""

    reason: str
    detail: str
    field: str | None = None

    @classmethod
    def from_wire(cls, rejection: wire.Rejection) -> Rejected:
        """The wire contract's own verdict on a message it could not decode."""
        return cls(reason=rejection.reason.value, detail=rejection.detail, field=rejection.field)


@dataclass(frozen=True)
class DeadLetter:
    """The record forwarded to the dead-letter topic: key, value and headers, each within its bound."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def dead_letter(
    rejected: Rejected,
    *,
    key: bytes | None,
    value: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    original: Sequence[tuple[str, bytes]] = (),
) -> DeadLetter:
    """The dead letter of a refused message: the verdict and the source position first, then what of the
    original headers fits, and a note of every cut made (module docstring)."""
    headers = [
        ("dlq.reason", rejected.reason.encode()),
        ("dlq.detail", rejected.detail[:_MAX_DETAIL].encode("utf-8", "replace")),
    ]
    if rejected.field is not None:
        headers.append(("dlq.field", rejected.field[:_MAX_DETAIL].encode("utf-8", "replace")))
    headers += [
        ("dlq.source.topic", topic.encode()),
        ("dlq.source.partition", str(partition).encode()),
        ("dlq.source.offset", str(offset).encode()),
    ]
    if value is not None and len(value) > MAX_FORWARDED_VALUE_BYTES:
        headers += [
            ("dlq.original.value_bytes", str(len(value)).encode()),
            ("dlq.original.value_sha256", hashlib.sha256(value).hexdigest().encode()),
        ]
        value = value[:MAX_FORWARDED_VALUE_BYTES]
    if key is not None and len(key) > MAX_FORWARDED_KEY_BYTES:
        headers.append(("dlq.original.key_bytes", str(len(key)).encode()))
        key = key[:MAX_FORWARDED_KEY_BYTES]
    kept, room = [], MAX_FORWARDED_HEADER_BYTES
    for name, header_value in original:
        size = len(name.encode("utf-8", "replace")) + len(header_value or b"")
        if size > room:
            break
        kept.append((name, header_value))
        room -= size
    if len(kept) < len(original):
        headers.append(("dlq.original.headers_dropped", str(len(original) - len(kept)).encode()))
    return DeadLetter(key=key, value=value, headers=headers + kept)
