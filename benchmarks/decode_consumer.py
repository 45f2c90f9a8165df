"""The yardstick for the worker: a plain aiokafka consumer that only decodes each message of a topic.

The worker consumes with aiokafka (under Faust) and decodes with :func:`netdown.wire.decode` before it
does anything of its own. A consumer that does just those two things, with aiokafka's defaults, is the
most a Python worker on this client could reach on this machine; the worker's throughput divided by
this one's is the share its own work (detector, table, changelog, metrics, Faust) leaves. Timed from the
first message received to the last, like the worker, so group join and connection set-up are left out.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from benchmarks.proc import CpuMeter, CpuShare
from netdown import wire

__all__ = ["DecodeResult", "measure"]


@dataclass(frozen=True)
class DecodeResult:
    """One pass over a topic: how many messages, how many the contract refused, how fast."""

    events: int
    rejected: int
    startup_s: float
    process_s: float
    events_per_s: float
    cpu: CpuShare  # this process, over the timed pass


def measure(bootstrap: str, topic: str, *, events: int, timeout: float) -> DecodeResult:
    """Read ``events`` messages of ``topic`` from its start, decoding each; fail after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(_consume(bootstrap, topic, events), timeout))


async def _consume(bootstrap: str, topic: str, events: int) -> DecodeResult:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    launched = time.perf_counter()
    await consumer.start()
    try:
        seen = rejected = 0
        first = 0.0
        meter = CpuMeter(os.getpid())
        while seen < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not first and batches:
                first = time.perf_counter()
                meter.start()
            for records in batches.values():
                for record in records:
                    rejected += isinstance(wire.decode(record.value), wire.Rejection)
                seen += len(records)
        last = time.perf_counter()
        [cpu] = meter.stop()
    finally:
        await consumer.stop()
    return DecodeResult(
        events=seen,
        rejected=rejected,
        startup_s=round(first - launched, 2),
        process_s=round(last - first, 2),
        events_per_s=round(seen / (last - first)),
        cpu=cpu,
    )
