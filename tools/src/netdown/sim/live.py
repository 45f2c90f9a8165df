"""Publishing a simulation in real time through the agent's own spool and publisher.

The events take the path a real Mac's take: each is written to a disk :class:`~netdown.agent.spool.Spool`
when it is due, and a :class:`~netdown.agent.publisher.Publisher` drains the spool to the events topic
with the agent's producer settings (:func:`~netdown.agent.publisher.kafka_producer`: idempotent,
``acks=all``, gzip). One spool, one publisher and one producer carry the whole simulated fleet, so
hundreds of devices cost one thread and one connection, not hundreds; the only difference from an
agent is the message key, which the agent takes from its own ``device_id`` and the fleet's publisher
reads from each record's ``device_id`` (the same bytes).

Delivery faults are the simulation's own: a device's offline stretch was already held back and is
written to the spool all at once when the device is back (the late spool replay), duplicates are
written twice and lost events never. A delivery is due at its ``at_ms`` mapped onto the wall clock
from the run's start, compressed by ``speed``; simulate with ``start_ms`` = now and ``speed`` 1 for
event times that track the wall clock, as a worker and Prometheus expect.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from netdown import wire
from netdown.agent.publisher import Producer, Publisher, kafka_producer
from netdown.agent.spool import Spool
from netdown.sim.fleet import Simulation
from netdown.topics import EVENTS_TOPIC

__all__ = ["KeyedByDevice", "LiveProgress", "LivePublisher"]

_DRAIN_TIMEOUT_S: Final = 60.0
_RATE_WINDOW_S: Final = 3.0


class LiveProgress(msgspec.Struct, frozen=True, kw_only=True):
    """Where a live run stands: what was due and spooled, what the broker confirmed, and how fast."""

    total: int  # deliveries in the simulation
    spooled: int  # written to the spool so far (due by the simulated clock)
    sent: int  # confirmed by the broker
    events_per_s: float  # broker-confirmed events per second over the last few seconds
    sim_ms: int  # the simulated processing time reached
    done: bool  # every delivery was spooled and confirmed, or the run was stopped


class KeyedByDevice:
    """A producer that keys each record by its own ``device_id``, as each device's agent would.

    One spool and one producer carry a whole simulated fleet (the simulator and the latency benchmark);
    the agent's publisher keys every record by its one device, so this wrapper puts the right key back.
    """

    def __init__(self, producer: Producer) -> None:
        self._producer = producer

    def send(self, topic: str, value: bytes, key: bytes) -> Any:
        return self._producer.send(topic, value=value, key=_device_key(value))

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        self._producer.close(timeout=timeout)


class _DeviceId(msgspec.Struct):
    device_id: str


_DEVICE_ID: Final = msgspec.json.Decoder(_DeviceId)


def _device_key(payload: bytes) -> bytes:
    return _DEVICE_ID.decode(payload).device_id.encode()


@dataclass
class LivePublisher:
    """Publishes a :class:`Simulation`'s deliveries to a broker, each at its time, through one spool.

    ``spool_dir`` should be new or empty: like an agent's, a spool still holding records sends them first.
    """

    simulation: Simulation
    bootstrap: str
    spool_dir: Path
    topic: str = EVENTS_TOPIC
    speed: float = 1.0
    producer_settings: Mapping[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    _spooled: int = field(default=0, init=False)
    _sim_ms: int = field(default=0, init=False)
    _done: bool = field(default=False, init=False)
    _samples: collections.deque[tuple[float, int]] = field(default_factory=collections.deque, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _publisher: Publisher | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, got {self.speed}")

    def progress(self) -> LiveProgress:
        """A snapshot, safe to take from another thread (a TUI's refresh)."""
        sent = self._publisher.sent if self._publisher is not None else 0
        now = self.clock()
        with self._lock:  # the rate over the last few seconds, whoever asks and how often
            samples = self._samples
            samples.append((now, sent))
            while len(samples) > 2 and now - samples[1][0] >= _RATE_WINDOW_S:
                samples.popleft()
            then, sent_then = samples[0]
        rate = (sent - sent_then) / (now - then) if now > then else 0.0
        return LiveProgress(
            total=len(self.simulation.deliveries),
            spooled=self._spooled,
            sent=sent,
            events_per_s=rate,
            sim_ms=self._sim_ms,
            done=self._done,
        )

    def run(
        self,
        stop: threading.Event,
        on_progress: Callable[[LiveProgress], None] | None = None,
        every_s: float = 1.0,
    ) -> LiveProgress:
        """Spool every delivery when due and publish it; return once all are confirmed or ``stop`` is set."""
        spool = Spool(self.spool_dir)
        settings = {"client_id": "netdown-sim", **self.producer_settings}
        self._publisher = publisher = Publisher(
            spool, self.topic, b"", lambda: KeyedByDevice(kafka_producer(self.bootstrap, settings))
        )
        publishing = threading.Event()
        thread = threading.Thread(target=publisher.run, args=(publishing,), name="sim-publisher", daemon=True)
        thread.start()
        self._samples.append((self.clock(), 0))
        started = self.clock()
        next_report = started + every_s
        start_ms = self.simulation.start_ms
        try:
            for at_ms, event in self.simulation.deliveries:
                due = started + (at_ms - start_ms) / 1000 / self.speed
                while (now := self.clock()) < due:
                    if stop.wait(min(due - now, max(next_report - now, 0.0))):
                        return self._finish(on_progress)
                    next_report = self._report(on_progress, next_report, every_s)
                spool.append(wire.encode(event))
                self._spooled += 1
                self._sim_ms = at_ms
                next_report = self._report(on_progress, next_report, every_s)
            deadline = self.clock() + _DRAIN_TIMEOUT_S
            while publisher.sent < self._spooled and self.clock() < deadline and not stop.wait(0.05):
                next_report = self._report(on_progress, next_report, every_s)
            return self._finish(on_progress)
        finally:
            publishing.set()
            thread.join(timeout=30)
            spool.close()

    def _report(self, on_progress: Callable[[LiveProgress], None] | None, next_report: float, every_s: float) -> float:
        """Report if a report is due; when the next one is."""
        now = self.clock()
        if now < next_report:
            return next_report
        if on_progress is not None:
            on_progress(self.progress())
        return now + every_s

    def _finish(self, on_progress: Callable[[LiveProgress], None] | None) -> LiveProgress:
        self._done = True
        progress = self.progress()
        if on_progress is not None:
            on_progress(progress)
        return progress
