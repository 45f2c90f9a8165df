"""One pre-filled events topic, and how fast a ``netdown-stream worker`` catches up on it.

:func:`fill` publishes a simulated fleet (:func:`benchmarks.replay_throughput.fleet_events`: the simulator's
fleet at the agent's real cadence, 300-600 byte events) the
way the agent does (kafka-python, ``acks=all``, gzip, keyed by device) and writes the same events, one
per line, to a capture file, so the worker, the decode-only consumer, Kafka's consumer tool and the
replay command all read the very same events. The fleet is generated a slice of devices at a time, so
a million events never sit in memory at once.

:func:`time_worker` starts one worker on the topic and times it from its first processed event to its
last, as read from its own ``/metrics`` (``netdown_events_total``): the catch-up rate after an outage,
the worst case a worker meets. The CPU the worker and the broker used meanwhile says which of them
was the limit.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from benchmarks.proc import CpuMeter, CpuShare
from benchmarks.replay_throughput import fleet_events
from netdown.devstack.stream_worker import StreamWorker, create_topics, produce
from netdown.testing import messages

__all__ = ["Fill", "WorkerRun", "fill", "time_worker"]

_DEVICES_PER_SLICE = 200


@dataclass(frozen=True)
class Fill:
    """The pre-filled topic: what it holds, how long publishing took, and where the same events are as lines."""

    name: str  # the worker's name: its events topic is ``<name>.events``
    topic: str
    partitions: int
    events: int
    devices: int
    produce_s: float
    produced_per_s: float
    min_bytes: int
    median_bytes: int
    max_bytes: int
    capture: Path


@dataclass(frozen=True)
class WorkerRun:
    """One worker catching up on the whole topic."""

    events: int
    startup_s: float
    process_s: float
    events_per_s: float
    worker_cpu: CpuShare  # over the timed run
    broker_cpu: CpuShare
    episodes: float


def fill(bootstrap: str, workdir: Path, *, events: int, devices: int, partitions: int) -> Fill:
    """Publish about ``events`` events of ``devices`` devices to a new topic; the same events to a capture file."""
    name = f"bench-catch-up.{uuid.uuid4().hex[:8]}"
    topic = f"{name}.events"
    create_topics(bootstrap, [topic], partitions)
    capture = workdir / "capture.ndjson"
    sizes: list[int] = []
    started = time.perf_counter()
    with capture.open("wb") as lines:
        produced = produce(bootstrap, topic, _fleet_messages(events, devices, sizes, lines))
    produce_s = time.perf_counter() - started
    return Fill(
        name=name,
        topic=topic,
        partitions=partitions,
        events=produced,
        devices=devices,
        produce_s=round(produce_s, 1),
        produced_per_s=round(produced / produce_s),
        min_bytes=min(sizes),
        median_bytes=round(statistics.median(sizes)),
        max_bytes=max(sizes),
        capture=capture,
    )


def _fleet_messages(events: int, devices: int, sizes: list[int], lines: BinaryIO) -> Iterator[tuple[bytes, bytes]]:
    """The fleet's (key, value) messages, generated a slice of devices at a time (each slice its own seed)."""
    slices, rest = divmod(devices, _DEVICES_PER_SLICE)
    for seed, size in enumerate([_DEVICES_PER_SLICE] * slices + ([rest] if rest else []), start=1):
        for key, value in messages(fleet_events(max(events * size // devices, 1), size, seed=seed)):
            sizes.append(len(value))
            lines.write(value + b"\n")
            yield key, value


def time_worker(bootstrap: str, workdir: Path, topic: Fill, *, broker_pid: int | None) -> WorkerRun:
    """Start one worker on the filled topic; time it from its first processed event to its last."""
    worker = StreamWorker.named(
        bootstrap, workdir / topic.name, topic.name, partitions=topic.partitions, extra_args=("--log-level=warning",)
    )
    with worker:
        launched = time.perf_counter()
        worker.wait_for(lambda m: m.value("netdown_events_total") > 0, timeout=120, every=0.05)
        first = time.perf_counter()
        assert worker.pid is not None
        assert broker_pid is not None
        meter = CpuMeter(worker.pid, broker_pid)
        meter.start()
        final = worker.wait_for(
            lambda m: m.value("netdown_events_total") >= topic.events, timeout=max(120, topic.events / 1000), every=0.25
        )
        last = time.perf_counter()
        worker_cpu, broker_cpu = meter.stop()
    return WorkerRun(
        events=topic.events,
        startup_s=round(first - launched, 2),
        process_s=round(last - first, 2),
        events_per_s=round(topic.events / (last - first)),
        worker_cpu=worker_cpu,
        broker_cpu=broker_cpu,
        episodes=final.value("netdown_episodes_total"),
    )
