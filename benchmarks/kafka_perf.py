"""The broker's own ceiling on this machine: Kafka's producer and consumer perf tools, from the broker's jars.

What the worker achieves means little without what Kafka itself achieves here: the same JVM, the same
disk, the same two cores. Kafka ships ``kafka-producer-perf-test`` and ``kafka-consumer-perf-test``
(``org.apache.kafka.tools.ProducerPerformance`` and ``ConsumerPerformance`` in ``kafka-tools``), and the
jars netdown fetches for its broker include them, so they run with ``java -cp 'libs/*'`` exactly like
the broker, at the broker's version. Each prints one summary line, parsed here into records/s and MB/s.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Final

from netdown.devstack.kafka import _tied_to_parent, ensure_jars

__all__ = ["ConsumerPerf", "ProducerPerf", "consumer_perf", "parse_consumer", "parse_producer", "producer_perf"]

_HEAP: Final = "-Xmx512m"
# "200000 records sent, 53319.11 records/sec (20.34 MB/sec), 1109.74 ms avg latency, 1972.00 ms max latency,
#  1085 ms 50th, 1644 ms 95th, 1894 ms 99th, 1966 ms 99.9th."
_PRODUCER_SUMMARY: Final = re.compile(
    r"(?P<records>\d+) records sent, (?P<per_s>[\d.]+) records/sec \((?P<mb_s>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th, "
    r"(?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th"
)


@dataclass(frozen=True)
class ProducerPerf:
    """``ProducerPerformance``'s summary: throughput, and the send-to-acknowledgement latency of its records."""

    records: int
    record_size: int
    records_per_s: float
    mb_per_s: float
    avg_latency_ms: float
    p99_latency_ms: float


@dataclass(frozen=True)
class ConsumerPerf:
    """``ConsumerPerformance``'s summary; the fetch rates leave out the group join (``rebalance.time.ms``)."""

    topic: str
    records: int
    mb: float
    fetch_records_per_s: float
    fetch_mb_per_s: float
    rebalance_ms: float


def parse_producer(output: str, record_size: int) -> ProducerPerf:
    """The final summary line of ``ProducerPerformance`` (the progress lines before it have no percentiles)."""
    found = _PRODUCER_SUMMARY.findall(output)
    if not found:
        raise ValueError(f"no ProducerPerformance summary in:\n{output}")
    records, per_s, mb_s, avg, _max, _p50, _p95, p99 = found[-1]
    return ProducerPerf(
        records=int(records),
        record_size=record_size,
        records_per_s=float(per_s),
        mb_per_s=float(mb_s),
        avg_latency_ms=float(avg),
        p99_latency_ms=float(p99),
    )


def parse_consumer(output: str, topic: str) -> ConsumerPerf:
    """``ConsumerPerformance``'s header line and the comma-separated line of values after it."""
    lines = [line for line in output.splitlines() if line.strip()]
    for header, values in itertools.pairwise(lines):
        if header.startswith("start.time"):
            row = dict(zip(header.split(", "), values.split(", "), strict=True))
            return ConsumerPerf(
                topic=topic,
                records=int(row["data.consumed.in.nMsg"]),
                mb=float(row["data.consumed.in.MB"]),
                fetch_records_per_s=float(row["fetch.nMsg.sec"]),
                fetch_mb_per_s=float(row["fetch.MB.sec"]),
                rebalance_ms=float(row["rebalance.time.ms"]),
            )
    raise ValueError(f"no ConsumerPerformance summary in:\n{output}")


def producer_perf(bootstrap: str, topic: str, *, records: int, record_size: int, timeout: float) -> ProducerPerf:
    """Produce ``records`` records of ``record_size`` bytes as fast as the broker takes them (client defaults)."""
    output = _run_tool(
        "ProducerPerformance",
        [*_common(bootstrap, topic, records), "--record-size", str(record_size), "--throughput", "-1"],
        timeout=timeout,
    )
    return parse_producer(output, record_size)


def consumer_perf(bootstrap: str, topic: str, *, records: int, timeout: float) -> ConsumerPerf:
    """Consume ``records`` records of ``topic`` from the start, in a fresh group, as fast as they come."""
    output = _run_tool(
        "ConsumerPerformance",
        [*_common(bootstrap, topic, records), "--timeout", "30000"],
        timeout=timeout,
    )
    return parse_consumer(output, topic)


def _common(bootstrap: str, topic: str, records: int) -> list[str]:
    return ["--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records)]


def _run_tool(tool: str, arguments: list[str], *, timeout: float) -> str:
    """Run ``org.apache.kafka.tools.<tool>`` from the broker's jars; its stdout (killed at ``timeout``)."""
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("`java` is not on PATH (`make setup` installs it)")
    libs = ensure_jars()
    command = [java, _HEAP, "-cp", f"{libs}/*", f"org.apache.kafka.tools.{tool}", *arguments]
    done = subprocess.run(
        _tied_to_parent(command), capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tool} exited with {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout
