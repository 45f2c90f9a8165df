"""The agent's footprint and throughput on this machine, against a real local broker (not a test).

    python -m benchmarks.agent_footprint [--idle-seconds 60] [--events 100000] [--json OUT]

1. Idle: ``netdown-agent run`` with the Linux path source, TCP and DNS probes every 30 s and
   heartbeats, against a real broker; after a warm-up, CPU time over ``--idle-seconds`` (as % of one
   core) and resident memory (VmRSS, VmHWM) from /proc.
2. Throughput: the agent's own path (stamp -> spool -> kafka-python publisher) for ``--events``
   events: how fast they are accepted into the spool, and how fast they are acknowledged by Kafka.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from benchmarks.proc import cpu_seconds, memory_kib
from netdown import wire
from netdown.agent.publisher import Producer, Publisher, kafka_producer
from netdown.agent.runtime import Agent
from netdown.agent.sources.base import Observation
from netdown.agent.spool import Spool
from netdown.cli_args import positive_int, positive_number
from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.stream_worker import create_topics
from netdown.stamping import DeviceIdentity
from netdown.topics import EVENTS_TOPIC

__all__ = [
    "PROBE",
    "TOPIC",
    "Idle",
    "Throughput",
    "create_topic",
    "measure_idle",
    "measure_throughput",
    "running_agent",
]

TOPIC: Final = EVENTS_TOPIC
PARTITIONS: Final = 6
# A probe's body as the agent's probe source reports it: the observation the throughput runs repeat.
PROBE: Final = wire.ProbeBody(target="10.0.0.1:443", kind="tcp", ok=True, latency_ms=12.5, interface="en0")


@dataclass(frozen=True)
class Idle:
    """A running agent with nothing to report: CPU as % of one core, resident memory now and at its peak."""

    idle_cpu_percent_of_one_core: float
    rss_mib: float
    peak_rss_mib: float
    idle_seconds: float


@dataclass(frozen=True)
class Throughput:
    """Events/s the agent's path accepts into its spool, and events/s Kafka acknowledges."""

    events: int
    accepted_per_s: float
    delivered_per_s: float


def create_topic(bootstrap: str) -> None:
    """The events topic the agent publishes to (the broker does not create topics on first use)."""
    create_topics(bootstrap, [TOPIC], PARTITIONS)


def measure_idle(bootstrap: str, work: Path, seconds: float) -> Idle:
    """CPU and memory of a running agent with probes on and nothing else happening."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    (work / "fleet.key").write_text("benchmark-fleet-key\n")
    (work / "fleet.key").chmod(0o600)  # the agent refuses a key others can read
    config = work / "agent.toml"
    config.write_text(
        f"""
[broker]
bootstrap = "{bootstrap}"
topic = "{TOPIC}"
[identity]
key_file = "fleet.key"
state_dir = "{work / "state"}"
[sources.linux_path]
[sources.probes]
targets = ["tcp:127.0.0.1:{port}", "dns:localhost"]
interval_s = 30.0
"""
    )
    agent = subprocess.Popen(
        [str(Path(sys.executable).parent / "netdown-agent"), "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(10)  # start-up, first heartbeat, first probe round
        cpu_before, started = cpu_seconds(agent.pid), time.monotonic()
        time.sleep(seconds)
        cpu_used, elapsed = cpu_seconds(agent.pid) - cpu_before, time.monotonic() - started
        memory = memory_kib(agent.pid)
    finally:
        agent.terminate()
        agent.wait(30)
        listener.close()
    return Idle(
        idle_cpu_percent_of_one_core=round(100 * cpu_used / elapsed, 3),
        rss_mib=round(memory["VmRSS"] / 1024, 1),
        peak_rss_mib=round(memory["VmHWM"] / 1024, 1),
        idle_seconds=round(elapsed, 1),
    )


@contextlib.contextmanager
def running_agent(
    bootstrap: str,
    spool_dir: Path,
    topic: str = TOPIC,
    wrap: Callable[[Producer], Producer] = lambda producer: producer,
) -> Iterator[tuple[Agent, Publisher]]:
    """The agent's own path (stamp -> spool -> kafka-python publisher), its publisher thread delivering.

    ``wrap`` may stand between the publisher and its producer (to time the sends); on exit the
    publisher stops and the spool closes, delivered or not.
    """
    facts = DeviceIdentity(device_id="linux-benchmark-001", boot_id="b", platform="linux", os_version="12", os_build="")
    spool = Spool(spool_dir, max_bytes=1 << 30, segment_bytes=4 << 20)
    publisher = Publisher(spool, topic, facts.device_id.encode(), lambda: wrap(kafka_producer(bootstrap, {})))
    stop = threading.Event()
    delivering = threading.Thread(target=publisher.run, args=(stop,), name="publisher")
    delivering.start()
    try:
        yield Agent.create(facts, spool, publisher, sources=[]), publisher
    finally:
        stop.set()
        delivering.join()
        spool.close()


def measure_throughput(bootstrap: str, work: Path, events: int) -> Throughput:
    """Events/s into the spool and events/s acknowledged by Kafka, through the agent's real path."""
    with running_agent(bootstrap, work / "spool") as (agent, publisher):
        started = time.perf_counter()
        for index in range(events):
            agent.accept(Observation(ts_ms=1_732_540_800_000 + index, body=PROBE))
        accepted_s = time.perf_counter() - started
        while publisher.sent < events:
            time.sleep(0.01)
        delivered_s = time.perf_counter() - started
    return Throughput(
        events=events,
        accepted_per_s=round(events / accepted_s),
        delivered_per_s=round(events / delivered_s),
    )


def main() -> None:
    """Run both measurements and print a Markdown table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-seconds", type=positive_number, default=60.0)
    parser.add_argument("--events", type=positive_int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, KafkaBroker(data_dir=Path(tmp) / "kafka") as broker:
        create_topic(broker.bootstrap)
        idle = measure_idle(broker.bootstrap, Path(tmp), args.idle_seconds)
        throughput = measure_throughput(broker.bootstrap, Path(tmp), args.events)
    figures = {**asdict(idle), **asdict(throughput)}
    print("| figure | value |\n| --- | ---: |")
    for key, value in figures.items():
        print(f"| {key} | {value} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
