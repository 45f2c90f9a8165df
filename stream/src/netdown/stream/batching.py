"""Faust's Kafka transport, with its consumer handing one topic's messages to a handler a batch at a time.

Faust delivers every message on its own: its fetch loop wraps each in four asyncio tasks, then the
conductor decodes it into an event on a channel queue, and a stream iterator takes it from there with
sensors at every hop. Measured on the worker's two-core machine, an agent that does nothing with its
messages uses about 70 µs of CPU per message (14k messages per CPU-second), so no Faust agent could
reach the 15k events/s the worker must sustain, whatever it did with them. A batch handler costs
about 10 µs per message on the same machine.

So for the topics registered with :meth:`BatchingTransport.deliver_batches` this consumer replaces
only the last step: the messages of each fetch go to the handler as one list. Everything around it is
Faust's, unchanged: group membership and assignment, table recovery, flow control during rebalances,
offset tracking and commits. Each message is acked after the handler returns, so Faust commits an
offset only once its message has been handled; while the handler runs, the batch counts as in flight,
so a rebalance or a stop waits for it. Messages of other topics (table changelogs while recovering)
take Faust's own path.

The fetch loop itself overrides a private method of Faust's consumer, ``_drain_messages``: it is in
:mod:`netdown.stream.faust_private` (:class:`~netdown.stream.faust_private.BatchFetchConsumer`), with
every other private name of Faust's, mode's and aiokafka's the worker uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Container, Sequence

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import AppT, Message
from yarl import URL

from netdown.stream.faust_private import BatchFetchConsumer, mark_in_flight, unmark_in_flight

__all__ = ["BatchHandler", "BatchingConsumer", "BatchingTransport"]

BatchHandler = Callable[[Sequence[Message]], Awaitable[None]]


class BatchingConsumer(BatchFetchConsumer):
    """Faust's aiokafka consumer, delivering the messages of registered topics in batches (module docstring)."""

    def batch_topics(self) -> Container[str]:
        """The topics registered with the transport."""
        return self.batch_handlers

    @property
    def batch_handlers(self) -> dict[str, BatchHandler]:
        """The handlers registered with the transport, by topic."""
        transport = self.transport
        return transport.batch_handlers if isinstance(transport, BatchingTransport) else {}

    async def deliver_batch(self, topic: str, messages: list[Message]) -> None:
        """Hand the messages still current to ``topic``'s handler: in flight while handled, acked (committable) after.

        Fetched before a rebalance began, or in an earlier consumer generation, they belong to
        partitions that may have moved: they are dropped unacked, and read again from the last commit
        by whichever worker owns the partition now (as a Faust stream skips them).
        """
        handler = self.batch_handlers[topic]
        app = self.app
        if not app.flow_control.is_active():
            return
        generation = app.consumer_generation_id
        current = [message for message in messages if message.generation_id == generation]
        if not current:
            return
        # In flight: a rebalance or a stop waits (Consumer.wait_empty) until no message is unacked. One
        # stands for the batch, all acked together: Faust's track_message for each costs 3 µs a message.
        mark_in_flight(self, current[-1])
        # Shielded: stopping the worker cancels this fetch loop, then waits for the messages in flight to
        # be acked. The batch finishes (and acks) in its own task instead of being cut off half-done.
        await asyncio.shield(self._handle(handler, current))

    async def _handle(self, handler: BatchHandler, messages: list[Message]) -> None:
        """Ack the messages once handled; if not, take the batch out of flight, so no rebalance or stop waits.

        A batch that failed is never acked, so never committed: after the restart its messages are read
        again from the last commit.
        """
        try:
            await handler(messages)
        except BaseException:
            unmark_in_flight(self, messages[-1])
            raise
        for message in messages:
            self.ack(message)


class BatchingTransport(aiokafka_driver.Transport):
    """Faust's aiokafka transport with a :class:`BatchingConsumer`; assign it to ``app.transport`` first thing."""

    Consumer = BatchingConsumer

    def __init__(self, url: list[URL], app: AppT, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(url, app, loop)
        self.batch_handlers: dict[str, BatchHandler] = {}

    def deliver_batches(self, topic: str, handler: BatchHandler) -> None:
        """Give ``topic``'s messages to ``handler``, a list per fetch, instead of to Faust's streams."""
        self.batch_handlers[topic] = handler
