"""Stamping observations into wire events: the envelope every event carries, and its ``seq``.

``seq`` is the event's index in the agent's disk spool (:attr:`~netdown.agent.spool.Spool.next_index`
seeds the stamper, and every stamped event is offered to the spool, so the two advance together). The
spool never gives out again an index whose record may have left the device, not even after its tail
was lost or damaged, so the stream job never sees one seq on two events; an event the spool lost or
the disk refused keeps its number, which the stream job counts as a gap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec

from netdown import wire
from netdown.agent.sources.base import Observation
from netdown.version import __version__

__all__ = ["DeviceIdentity", "Stamper"]


@dataclass(frozen=True)
class DeviceIdentity:
    """The envelope fields that describe the device rather than the event."""

    device_id: str
    boot_id: str
    platform: str
    os_version: str
    os_build: str


class Stamper:
    """Turns observations into validated wire events with contiguous ``seq``.

    Not locked: the caller stamps and spools under one lock, so spool order is ``seq`` order.
    """

    def __init__(self, facts: DeviceIdentity, next_seq: int) -> None:
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
