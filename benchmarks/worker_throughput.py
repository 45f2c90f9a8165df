"""How many events per second one ``netdown-stream worker`` processes against a real local broker.

The fleet (:func:`benchmarks.replay_throughput.fleet_events`: the simulator's interleaved fleet at the
agent's real cadence) is produced to the events topic first, then one worker
is started and timed from its first processed event to its last, as read from its own ``/metrics``
(``netdown_events_total``). That is the catch-up rate after an outage, the worst case a worker meets:
every message is decoded and run through the detector, each device's record is written to the table's
changelog once per batch, and incidents, device facts and metrics follow. The rate depends on how
many events each device has in a batch (a smaller fleet has more): ``--devices`` sets it.

Run ``python -m benchmarks.worker_throughput [--events N] [--devices D] [--partitions P]
[--bootstrap HOST:PORT] [--json OUT]``. Without ``--bootstrap`` a broker is
started in a temporary folder (``netdown.devstack.kafka``) and removed afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.replay_throughput import fleet_events
from netdown.cli_args import positive_int
from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.stream_worker import StreamWorker, create_topics, produce
from netdown.testing import messages

__all__ = ["Result", "main", "measure"]


@dataclass(frozen=True)
class Result:
    """One measurement."""

    events: int
    devices: int
    partitions: int
    produce_s: float
    startup_s: float
    process_s: float
    events_per_s: float
    episodes: float
    python: str
    cpus: int


def measure(bootstrap: str, workdir: Path, *, events: int, devices: int, partitions: int) -> Result:
    """Produce ~``events`` events of ``devices`` devices, then time one worker processing all of them."""
    stream = fleet_events(events, devices, seed=1)
    worker = StreamWorker.named(
        bootstrap, workdir, f"bench.{uuid.uuid4().hex[:8]}", partitions=partitions, extra_args=("--log-level=warning",)
    )
    create_topics(bootstrap, [worker.events_topic], partitions)
    started = time.perf_counter()
    produce(bootstrap, worker.events_topic, messages(stream))
    produce_s = time.perf_counter() - started
    with worker:
        launched = time.perf_counter()
        worker.wait_for(lambda m: m.value("netdown_events_total") > 0, timeout=120, every=0.05)
        first = time.perf_counter()
        final = worker.wait_for(lambda m: m.value("netdown_events_total") >= len(stream), timeout=3600, every=0.25)
        last = time.perf_counter()
    return Result(
        events=len(stream),
        devices=devices,
        partitions=partitions,
        produce_s=round(produce_s, 2),
        startup_s=round(first - launched, 2),
        process_s=round(last - first, 2),
        events_per_s=round(len(stream) / (last - first)),
        episodes=final.value("netdown_episodes_total"),
        python=platform.python_version(),
        cpus=os.cpu_count() or 1,
    )


@contextlib.contextmanager
def _broker(bootstrap: str | None, workdir: Path) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    with KafkaBroker(data_dir=workdir / "kafka", heap="1g") as broker:
        yield broker.bootstrap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: measure, print a line per result, optionally write JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker_throughput", description=__doc__)
    parser.add_argument("--events", type=positive_int, default=200_000, help="about how many events (default: 200000)")
    parser.add_argument("--devices", type=positive_int, default=2_000, help="devices in the fleet (default: 2000)")
    parser.add_argument("--partitions", type=positive_int, default=4, help="events topic partitions (default: 4)")
    parser.add_argument("--bootstrap", help="an existing broker's host:port (default: start one)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="netdown-bench-") as tmp, _broker(args.bootstrap, Path(tmp)) as bootstrap:
        result = measure(
            bootstrap,
            Path(tmp),
            events=args.events,
            devices=args.devices,
            partitions=args.partitions,
        )
    print(
        f"{result.events} events, {result.devices} devices, {result.partitions} partitions, "
        f"{result.events_per_s} events/s "
        f"(processed in {result.process_s}s; produced in {result.produce_s}s; worker ready in {result.startup_s}s)"
    )
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
