"""The incident record: one JSON object per episode state change (design brief, "Incident record").

Written to ``netdown.incidents.v1`` by the worker and to stdout by ``netdown-stream replay``; read by
the reports. Like the wire contract, it is defined once, here.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

import msgspec

from netdown import wire

__all__ = ["EPISODE_KIND", "CloseReason", "Incident", "encode_incident"]

EPISODE_KIND: Final = "necp_denied_healthy"
CloseReason: TypeAlias = Literal["recovered", "reboot"]


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


def encode_incident(incident: Incident) -> bytes:
    """Canonical JSON bytes of an incident record (sorted keys, every field present)."""
    return _ENCODER.encode(incident)
