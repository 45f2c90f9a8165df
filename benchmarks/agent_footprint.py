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
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic

from netdown.agent.envelope import DeviceFacts
from netdown.agent.publisher import Publisher, kafka_producer
from netdown.agent.runtime import Agent
from netdown.agent.sources.base import Observation
from netdown.agent.spool import Spool
from netdown.devstack.kafka import KafkaBroker

TOPIC = "netdown.events.v1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _memory_kib(pid: int) -> dict[str, int]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(status[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def measure_idle(bootstrap: str, work: Path, seconds: float) -> dict[str, Any]:
    """CPU and memory of a running agent with probes on and nothing else happening."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    (work / "fleet.key").write_text("benchmark-fleet-key\n")
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
        cpu_before, started = _cpu_seconds(agent.pid), time.monotonic()
        time.sleep(seconds)
        cpu_used, elapsed = _cpu_seconds(agent.pid) - cpu_before, time.monotonic() - started
        memory = _memory_kib(agent.pid)
    finally:
        agent.terminate()
        agent.wait(30)
        listener.close()
    return {
        "idle_cpu_percent_of_one_core": round(100 * cpu_used / elapsed, 3),
        "rss_mib": round(memory["VmRSS"] / 1024, 1),
        "peak_rss_mib": round(memory["VmHWM"] / 1024, 1),
        "idle_seconds": round(elapsed, 1),
    }


def measure_throughput(bootstrap: str, work: Path, events: int) -> dict[str, Any]:
    """Events/s into the spool and events/s acknowledged by Kafka, through the agent's real path."""
    facts = DeviceFacts(device_id="linux-benchmark-001", boot_id="b", platform="linux", os_version="12", os_build="")
    spool = Spool(work / "spool", max_bytes=1 << 30, segment_bytes=4 << 20)
    publisher = Publisher(spool, TOPIC, facts.device_id.encode(), lambda: kafka_producer(bootstrap, {}))
    agent = Agent.create(facts, spool, publisher, sources=[])
    body = {"target": "10.0.0.1:443", "kind": "tcp", "ok": True, "latency_ms": 12.5, "interface": "en0"}
    stop = threading.Event()
    delivering = threading.Thread(target=publisher.run, args=(stop,))
    started = time.perf_counter()
    delivering.start()
    for index in range(events):
        agent.accept(Observation(type="probe", ts_ms=1_732_540_800_000 + index, body=body))
    accepted_s = time.perf_counter() - started
    while publisher.sent < events:
        time.sleep(0.01)
    delivered_s = time.perf_counter() - started
    stop.set()
    delivering.join()
    spool.close()
    return {
        "events": events,
        "accepted_per_s": round(events / accepted_s),
        "delivered_per_s": round(events / delivered_s),
    }


def main() -> None:
    """Run both measurements and print a Markdown table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, KafkaBroker(data_dir=Path(tmp) / "kafka") as broker:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic(TOPIC, num_partitions=6, replication_factor=1)])
        admin.close()
        idle = measure_idle(broker.bootstrap, Path(tmp), args.idle_seconds)
        throughput = measure_throughput(broker.bootstrap, Path(tmp), args.events)
    figures = {**idle, **throughput}
    print("| figure | value |\n| --- | ---: |")
    for key, value in figures.items():
        print(f"| {key} | {value} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
