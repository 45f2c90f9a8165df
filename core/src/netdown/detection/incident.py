"""The incident record: one JSON object per episode state change (docs/design.md, "Incidents, device facts ...").

Written to ``netdown.incidents.v1`` by the worker and to stdout by ``netdown-stream replay``; read by
the reports. Like the wire contract, it is defined once, here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal, TypeAlias, get_args

import msgspec

from netdown import wire

__all__ = [
    "CLOSE_REASONS",
    "EPISODE_KIND",
    "CloseReason",
    "Incident",
    "decode_incident",
    "encode_incident",
    "latest_incidents",
]

EPISODE_KIND: Final = "necp_denied_healthy"
CloseReason: TypeAlias = Literal["recovered", "reboot"]
CLOSE_REASONS: Final[tuple[CloseReason, ...]] = get_args(CloseReason)  # every value, for summaries that list them


class Incident(msgspec.Struct, frozen=True, kw_only=True):
    """An episode as of one of its state changes: opened, became stuck, closed."""

    device_id: str
    app: str
    kind: str = EPISODE_KIND
    opened_ms: int
    closed_ms: int | None = None
    close_reason: CloseReason | None = None
    stuck: bool = False
    os_version: str
    os_build: str
    platform: str
    evidence: tuple[str, ...]
    facts: wire.Facts | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """What identifies the episode across its state changes: device, app, opening time."""
        return (self.device_id, self.app, self.opened_ms)


_ENCODER: Final = msgspec.json.Encoder(order="sorted")
_DECODER: Final = msgspec.json.Decoder(Incident)


def encode_incident(incident: Incident) -> bytes:
    """Canonical JSON bytes of an incident record (sorted keys, every field present)."""
    return _ENCODER.encode(incident)


def decode_incident(data: bytes) -> Incident:
    """An incident record from its JSON bytes; raises ``msgspec.DecodeError``/``ValidationError`` on bad input."""
    return _DECODER.decode(data)


def latest_incidents(records: Iterable[Incident]) -> list[Incident]:
    """One record per episode (:attr:`Incident.key`), in its furthest state: closed over stuck over open.

    The incidents topic carries every state change, and a worker restarted after a crash may write a
    change again; ranking by progress (not by position) makes the merge indifferent to both.
    """
    furthest: dict[tuple[str, str, int], Incident] = {}
    for record in records:
        known = furthest.get(record.key)
        if known is None or _progress(record) >= _progress(known):
            furthest[record.key] = record
    return sorted(furthest.values(), key=lambda incident: (incident.opened_ms, incident.device_id, incident.app))


def _progress(incident: Incident) -> tuple[bool, bool]:
    return (incident.closed_ms is not None, incident.stuck)
