"""Stamping observations into wire events: the envelope every event carries, and its ``seq``.

``seq`` must survive agent restarts without gaps (a gap is counted as lost by the stream job): it
resumes from the newest record in the spool, which holds every event ever accepted that the size
bound has not dropped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec

from netdown import __version__, wire
from netdown.agent.sources.base import Observation

__all__ = ["DeviceFacts", "Stamper", "next_seq_after"]


@dataclass(frozen=True)
class DeviceFacts:
    """The envelope fields that describe the device rather than the event."""

    device_id: str
    boot_id: str
    platform: str
    os_version: str
    os_build: str


def next_seq_after(last_payload: bytes | None) -> int:
    """The ``seq`` to continue with, given the newest spooled record (0 for a new agent)."""
    if last_payload is None:
        return 0
    event = wire.decode(last_payload)
    if isinstance(event, wire.Rejection):
        raise ValueError(f"the newest spooled record is not a wire event: {event.detail}")
    return event.seq + 1


class Stamper:
    """Turns observations into validated wire events with contiguous ``seq``.

    Not locked: the caller stamps and spools under one lock, so spool order is ``seq`` order.
    """

    def __init__(self, facts: DeviceFacts, next_seq: int) -> None:
        self.facts = facts
        self._seq = next_seq

    def stamp(self, observation: Observation) -> wire.Event:
        """A wire event for ``observation``; raises ``msgspec.ValidationError`` if a source broke the contract."""
        event: wire.Event = msgspec.convert(
            {
                **observation.body,
                "type": observation.type,
                "v": wire.SCHEMA_VERSION,
                "event_id": observation.event_id or str(uuid.uuid4()),
                "device_id": self.facts.device_id,
                "boot_id": self.facts.boot_id,
                "seq": self._seq,
                "ts_ms": observation.ts_ms,
                "platform": self.facts.platform,
                "os_version": self.facts.os_version,
                "os_build": self.facts.os_build,
                "agent_version": __version__,
            },
            wire.Event,
        )
        self._seq += 1
        return event
