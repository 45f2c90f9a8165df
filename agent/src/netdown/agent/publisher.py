"""Delivers the spool to Kafka with kafka-python, in order, acknowledging only what the broker confirmed.

The producer is idempotent with ``acks=all`` (kafka-python 3's defaults, stated explicitly here), keyed
by ``device_id`` so one partition holds a device's whole history. A batch is sent, flushed, and the
spool acknowledged up to the last record of the unbroken run of successes; on any failure the spool
rewinds and the batch is sent again after a capped exponential back-off. A record can therefore
reach Kafka twice (sent, then the agent died before acknowledging), never zero times; the stream job
drops the repeat by ``event_id``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from netdown.agent.spool import Spool

__all__ = ["Publisher", "kafka_producer"]

log = logging.getLogger(__name__)

_MAX_BACKOFF_S: Final = 30.0


class _Future(Protocol):
    def succeeded(self) -> bool: ...


class Producer(Protocol):
    """What the publisher needs of a Kafka producer (kafka-python's ``KafkaProducer`` has it)."""

    def send(self, topic: str, value: bytes, key: bytes) -> _Future: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


def kafka_producer(bootstrap: str, settings: Mapping[str, Any]) -> Producer:
    """A kafka-python producer tuned for an endpoint: durable, ordered, batched, compressed, patient."""
    from kafka import KafkaProducer  # noqa: PLC0415 - kafka-python is the agent extra's, imported on use

    options: dict[str, Any] = {
        "acks": "all",
        "enable_idempotence": True,  # ordered and without broker-side duplicates across retries
        "compression_type": "gzip",  # in the standard library: no native dependency on the endpoint
        "linger_ms": 50,
        "batch_size": 64 * 1024,
        "max_block_ms": 10_000,  # an unreachable broker fails a send fast; the spool keeps the event
        "request_timeout_ms": 15_000,
        "delivery_timeout_ms": 30_000,
        "client_id": "netdown-agent",
        **settings,
    }
    producer: Producer = KafkaProducer(bootstrap_servers=bootstrap, **options)
    return producer


@dataclass
class Publisher:
    """Moves records from the spool to one Kafka topic until stopped; ``sent`` counts what Kafka confirmed."""

    spool: Spool
    topic: str
    key: bytes
    connect: Callable[[], Producer]
    batch_size: int = 500
    flush_timeout_s: float = 30.0
    sent: int = field(default=0, init=False)

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; never raises for a broker problem, only waits and retries."""
        producer: Producer | None = None
        backoff = 0.5
        while not stop.is_set():
            items = self.spool.read(self.batch_size, timeout=0.5)
            if not items:
                continue
            try:
                producer = producer or self.connect()
                futures = [producer.send(self.topic, value=item.payload, key=self.key) for item in items]
                producer.flush(timeout=self.flush_timeout_s)
            except Exception as exc:  # any client failure means: keep the records, retry later
                log.warning("delivery to %s failed (%s); retrying in %.1fs", self.topic, exc, backoff)
                self.spool.rewind()
                _closed(producer)
                producer = None
                stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            delivered = 0
            for future in futures:
                if not future.succeeded():
                    break
                delivered += 1
            if delivered:
                self.spool.ack(items[delivered - 1].end)
                self.sent += delivered
            if delivered < len(items):
                self.spool.rewind()
                stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
            else:
                backoff = 0.5
        _closed(producer)


def _closed(producer: Producer | None) -> None:
    """Close a producer that failed or is no longer needed, whatever state it is in."""
    if producer is not None:
        try:
            producer.close(timeout=5)
        except Exception:  # closing a broken client may fail; it is being discarded anyway
            log.debug("closing the Kafka producer failed", exc_info=True)
