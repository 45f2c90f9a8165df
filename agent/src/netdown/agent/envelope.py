"""The agent's numbering of its events: ``seq`` is the event's index in the agent's disk spool.

:attr:`~netdown.agent.spool.Spool.next_index` seeds the stamper, and every stamped event is offered
to the spool, so the two advance together. The spool never gives out again an index whose record may
have left the device, not even after its tail was lost or damaged, so the stream job never sees one
seq on two events; an event the spool lost or the disk refused keeps its number, which the stream
job counts as a gap. The envelope itself is the core's (:mod:`netdown.stamping`).

Every event also names the latest system path numbered before it (``path_seq``): the stream job then
knows whether the path it holds is the device's current one, however many other events were lost. A
path the disk refused keeps its number there too, so the stream job, never receiving it, doubts the
path it holds, as it should.
"""

from __future__ import annotations

import uuid

from netdown import wire
from netdown.agent.sources.base import Observation
from netdown.stamping import DeviceIdentity, stamp

__all__ = ["Stamper"]


class Stamper:
    """Turns observations into validated wire events with contiguous ``seq``.

    Not locked: the caller stamps and spools under one lock, so spool order is ``seq`` order.
    """

    def __init__(self, identity: DeviceIdentity, next_seq: int) -> None:
        self.identity = identity
        self._seq = next_seq
        self._path_seq: int | None = None  # the latest system path's seq, None until this run numbers one

    def stamp(self, observation: Observation) -> wire.Event:
        """A wire event for ``observation``; raises ``msgspec.ValidationError`` if a source broke the contract.

        A refused observation uses no ``seq``: only events that exist are numbered.
        """
        event = stamp(
            self.identity,
            observation.body,
            seq=self._seq,
            ts_ms=observation.ts_ms,
            event_id=observation.event_id or str(uuid.uuid4()),
            path_seq=self._path_seq,
        )
        if isinstance(observation.body, wire.PathBody) and observation.body.observer == "system":
            self._path_seq = self._seq
        self._seq += 1
        return event
