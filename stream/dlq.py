"""Rejected messages: why the worker refused one, and the dead-letter record that carries it on.

Every refused message goes to ``netdown.events.dlq`` unchanged (original key, original bytes, original
headers) with headers saying why and where it came from, so it can be inspected, fixed and replayed.
The source topic, partition and offset identify it: after a crash the worker may forward the same
message twice (the DLQ is at-least-once), and those headers are what a reader deduplicates on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from netdown import wire

__all__ = [
    "DLQ_TOPIC",
    "INTERNAL_ERROR",
    "KEY_MISMATCH",
    "REJECT_REASONS",
    "Rejected",
    "dlq_headers",
]

DLQ_TOPIC: Final = "netdown.events.dlq"  # the worker's --dlq-topic default
KEY_MISMATCH: Final = "key_mismatch"  # the Kafka key is not the event's device_id: it may sit in the wrong partition
INTERNAL_ERROR: Final = "internal_error"  # the worker failed on it: a bug to fix, the message kept to replay
# Every value the `reason` label and header can take.
REJECT_REASONS: Final[tuple[str, ...]] = (*(reason.value for reason in wire.RejectReason), KEY_MISMATCH, INTERNAL_ERROR)
# A detail is for people; a pathological one (a huge repr) must not make the DLQ record itself too large.
_MAX_DETAIL: Final = 1024


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


def dlq_headers(
    rejected: Rejected,
    *,
    topic: str,
    partition: int,
    offset: int,
    original: Sequence[tuple[str, bytes]] = (),
) -> list[tuple[str, bytes]]:
    """The dead-letter record's headers: the verdict and the source position first, then the original headers."""
    headers = [
        ("dlq.reason", rejected.reason.encode()),
        ("dlq.detail", rejected.detail[:_MAX_DETAIL].encode("utf-8", "replace")),
    ]
    if rejected.field is not None:
        headers.append(("dlq.field", rejected.field.encode("utf-8", "replace")))
    headers += [
        ("dlq.source.topic", topic.encode()),
        ("dlq.source.partition", str(partition).encode()),
        ("dlq.source.offset", str(offset).encode()),
    ]
    return headers + list(original)
