"""Every use of faust-streaming's, mode's and aiokafka's private API, in this one module.

The worker relies on a few names these libraries do not publish: underscored attributes and
methods, and one override of a private method. Each has a named function here (the override, a
class), so no other module touches a private name, and ``tests/unit/test_faust_private.py`` checks
that every one still exists, with the shape used here, in the installed versions: an upgrade that
changes one fails that test, naming the attribute, instead of failing the worker at run time or,
for the override, leaving it a stale copy of Faust's code. Checked on faust-streaming 0.15.3,
mode-streaming 0.7.1 and aiokafka 0.14.0.

The hooks, and why each is used:

* ``Consumer._drain_messages(fetcher)`` (``faust.transport.consumer.Consumer``), overridden by
  :class:`BatchFetchConsumer`. It is Faust's fetch loop, run by its ``Fetcher`` service, and the only
  place where the messages of a fetch are together. Faust delivers every message on its own: the loop
  wraps each in four asyncio tasks, then the conductor decodes it into an event on a channel queue,
  and a stream iterator takes it from there, with sensors at every hop. Measured on the worker's
  two-core machine, that path costs about 70 µs of CPU per message (an agent that does nothing with
  its messages tops out near 14,000 messages per CPU-second), so no Faust agent could sustain the
  15,000 events/s the worker must; a batch handler costs about 10 µs per message. With the override
  handing each fetch of the events topic to the pipeline as one list (:mod:`netdown.stream.batching`),
  the worker went from 3,300-3,700 to 39,000-51,000 events/s (docs/worker.md, docs/benchmarks.md).
  The override is an adapted copy of Faust's loop: :data:`DRAIN_MESSAGES_SHA256` pins the source it
  was adapted from, and the test fails, asking for the override to be re-checked, when it changes.
* ``Consumer._read_offset`` (:func:`read_offsets`): the offset last read of each partition, which
  the loop keeps as Faust's does. Faust's seeks and revocations reset it; messages below it (read
  before a seek) are dropped, and a jump past it is a gap.
* ``Consumer._add_gap(tp, offset_from, offset_to)`` (:func:`add_gap`): offsets never delivered
  (compaction, transaction markers) are counted as acked, so the committed offset moves past them.
* ``Consumer._unacked_messages`` (:func:`mark_in_flight`, :func:`unmark_in_flight`): the messages
  in flight, the set ``Consumer.wait_empty`` waits to see empty before a rebalance or a stop goes
  on. Faust's ``track_message`` adds each message it delivers, and costs 3 µs a message doing more;
  one message of a batch, added while the batch is handled, stands for all of them.
* ``Service._stopped`` (mode, :func:`stop_check`): the event set once a service is told to stop. The
  fetch loop polls the consumer's and the fetcher's, as Faust's does.
* ``Producer._ensure_producer()`` (``faust.transport.drivers.aiokafka.Producer``) and aiokafka's
  ``AIOKafkaProducer.client`` (:func:`kafka_client`): the aiokafka client under Faust's producer,
  whose ``add_topic`` the worker calls to work around an aiokafka bug in tracking topic metadata
  (explained where the workaround is: ``Pipeline._declare_outputs`` in :mod:`netdown.stream.worker`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container, MutableMapping
from typing import Any, Final, cast

from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message, ProducerT
from mode import Service, ServiceT

__all__ = [
    "DRAIN_MESSAGES_CHECKED_ON",
    "DRAIN_MESSAGES_SHA256",
    "BatchFetchConsumer",
    "add_gap",
    "kafka_client",
    "mark_in_flight",
    "read_offsets",
    "stop_check",
    "unmark_in_flight",
]

# SHA-256 of inspect.getsource(faust.transport.drivers.aiokafka.Consumer._drain_messages) (UTF-8), the
# source BatchFetchConsumer._drain_messages was adapted from, as of this faust-streaming version.
DRAIN_MESSAGES_SHA256: Final = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"
DRAIN_MESSAGES_CHECKED_ON: Final = "0.15.3"


def read_offsets(consumer: faust_consumer.Consumer) -> MutableMapping[TP, int | None]:
    """The offset last read of each partition (None for a partition not read since assigned or sought)."""
    return consumer._read_offset


async def add_gap(consumer: faust_consumer.Consumer, tp: TP, offset_from: int, offset_to: int) -> None:
    """Count the offsets ``offset_from`` to ``offset_to`` (inclusive) of ``tp``, never delivered, as acked."""
    await consumer._add_gap(tp, offset_from, offset_to)


def mark_in_flight(consumer: faust_consumer.Consumer, message: Message) -> None:
    """Make a rebalance or a stop wait (``Consumer.wait_empty``) until ``message`` is acked or unmarked."""
    consumer._unacked_messages.add(message)


def unmark_in_flight(consumer: faust_consumer.Consumer, message: Message) -> None:
    """Take ``message`` out of flight unacked: a rebalance or a stop no longer waits for it."""
    consumer._unacked_messages.discard(message)


def stop_check(service: ServiceT) -> Callable[[], bool]:
    """A function telling whether ``service`` was told to stop (``should_stop`` also counts a crash)."""
    return cast(Service, service)._stopped.is_set


def kafka_client(producer: ProducerT) -> Any:
    """The ``aiokafka.AIOKafkaClient`` of Faust's started aiokafka producer (``NotReady`` before it starts)."""
    return cast(aiokafka_driver.Producer, producer)._ensure_producer().client


class BatchFetchConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer whose fetch loop hands the messages of some topics over a fetch at a time.

    A subclass names the topics (:meth:`batch_topics`) and takes each fetch's messages of one of them
    (:meth:`deliver_batch`); the messages of other topics take Faust's path, one at a time.
    """

    def batch_topics(self) -> Container[str]:
        """The topics whose messages go to :meth:`deliver_batch`; read once, when the fetch loop starts."""
        return ()

    async def deliver_batch(self, topic: str, messages: list[Message]) -> None:
        """Take the messages of ``topic`` in one fetch, in offset order per partition."""
        raise NotImplementedError

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust's ``Consumer._drain_messages``, handing the messages of each fetch in :meth:`batch_topics`
        to :meth:`deliver_batch` as one list per topic, after the fetch.

        Kept from Faust's loop (the source :data:`DRAIN_MESSAGES_SHA256` pins): the stop checks, a
        ``sleep(0)`` per fetch, messages below the read offset dropped, gaps counted as acked on topics
        with acks, Faust's callback for other topics' messages (or a flow-control suspension), the read
        offset set after each message, and stop errors and cancellation ignored once the app stops.
        Left out: the ``sleep(0)`` every 100 messages, the commit every ``broker_commit_every`` acks
        (commits run every ``broker_commit_interval``), the diagnostic flags and the logs.
        """
        topics = self.batch_topics()
        read_offset = read_offsets(self)
        acks_enabled_for = self.app.topics.acks_enabled_for
        consumer_stopped = stop_check(self)
        fetcher_stopped = stop_check(fetcher)
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                batches: dict[str, list[Message]] = {}
                await self.sleep(0)  # getmany can return at once, again and again: let the loop breathe
                async for tp, message in self.getmany(timeout=1.0):
                    offset, last = message.offset, read_offset[tp]
                    if last is not None and offset < last:
                        continue  # read already, before a seek: Faust drops these too
                    if last and offset - last > 1 and acks_enabled_for(tp.topic):
                        # Offsets never delivered (compaction, transaction markers) count as acked, as in Faust.
                        await add_gap(self, tp, last + 1, offset)
                    batch = batches.get(tp.topic)
                    if batch is not None:
                        batch.append(message)
                    elif tp.topic in topics:
                        batches[tp.topic] = [message]
                    else:
                        await self.wait_first(self.callback(message), self.suspend_flow.wait())
                    read_offset[tp] = offset
                for topic, messages in batches.items():
                    await self.deliver_batch(topic, messages)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
