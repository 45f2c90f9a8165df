"""End-to-end latency: from the agent accepting an event to the event counted on a worker's ``/metrics``.

The path is the production one. The agent's own code (stamp -> disk spool -> kafka-python publisher,
:func:`benchmarks.agent_footprint.running_agent`) accepts probe events at a fixed rate into a
single-partition topic; one ``netdown-stream worker`` consumes it; a separate process scrapes the
worker's ``/metrics`` over a kept-alive connection and records ``sum(netdown_events_total)`` with the
time of each response.

The events come from a fleet, not from one device: a device sends about one event every 2 s, so the
rate sets the fleet's size (``2 x rate`` devices). One device at thousands of events/s is not a load the
worker is built for: its record keeps every ``event_id`` of the allowed lateness L (2 min), grows past
Kafka's 1 MB message limit within seconds, and the worker's agent crashes writing it to the changelog.
Every device gets the agent's stamper (its envelope and ``seq``), but one spool and one publisher carry
the whole fleet (an agent per device would be thousands of threads); the publisher's producer is wrapped
to key each record by its own device, as that device's agent does.

With one partition the worker processes events in send order, so the counter reaching ``n`` means the
first ``n`` events sent have all been processed: event ``i`` became visible at the first scrape whose
count covers it. That time is an upper bound: the event became visible somewhere after the previous
scrape was asked for, so each latency may be overstated by up to one scrape window (the period plus a
scrape's duration), reported as ``resolution_ms``. Scraping is not free: rendering ``/metrics`` takes the
worker's event loop ~3 ms plus ~0.4 us per device, so it is polled every 20 ms (~15-20 % of a core), not
every few. The scraper is a process of its own so that it neither competes for the agent's GIL nor
delays its own readings behind the agent's threads.

The producer's ``send`` calls are timed too, which splits each latency into the agent's part (spool and
publisher loop) and the rest (Kafka client, broker, worker, metrics).
"""

from __future__ import annotations

import bisect
import http.client
import itertools
import math
import multiprocessing
import os
import re
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any, Final

from benchmarks.agent_footprint import PROBE, running_agent
from benchmarks.proc import CpuMeter, CpuShare
from netdown.agent.publisher import Producer
from netdown.agent.runtime import Agent
from netdown.agent.sources.base import Observation
from netdown.devstack.stream_worker import StreamWorker, create_topics
from netdown.sim.live import KeyedByDevice
from netdown.stamping import DeviceIdentity

__all__ = ["LatencyResult", "latencies_ms", "measure", "percentile"]

_EVENTS_TOTAL: Final = re.compile(rb"^netdown_events_total\{[^}]*\} (\S+)", re.MULTILINE)
# A scrape as the scraper saw it: when it asked (ns), when the answer arrived (ns), the count it read.
Scrape = tuple[int, int, int]


@dataclass(frozen=True)
class LatencyResult:
    """One fixed-rate run: latencies from accept to visible, and the split at the publisher's send."""

    rate: int
    achieved_rate: float
    events: int
    devices: int
    unseen: int  # events not on /metrics when the wait ran out: the worker fell behind; latencies are lower bounds
    p50_ms: float
    p99_ms: float
    max_ms: float
    agent_p50_ms: float | None  # accept -> the publisher's producer.send (None if a send was retried)
    agent_p99_ms: float | None
    resolution_ms: float  # median scrape window: how much each latency may overstate
    scrapes: int
    worker_cpu: CpuShare  # over the measured run
    agent_cpu: CpuShare  # this process: the fleet's agent code sending, on the same machine


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in [0, 1])."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def latencies_ms(accepted_ns: Sequence[int], scrapes: Sequence[Scrape], baseline: int) -> tuple[list[float], int]:
    """Each event's latency: from its accept time to the first scrape whose count covers it; and how many none did.

    Event ``i`` (0-based) is covered once the count reaches ``baseline + i + 1``; scrapes are in time
    order and their counts never decrease. An event no scrape covered (the worker fell behind and the
    wait ran out) gets the time to the last scrape, a lower bound.
    """
    counts = [count for _, _, count in scrapes]
    latencies = []
    unseen = 0
    for index, accepted in enumerate(accepted_ns):
        first = bisect.bisect_left(counts, baseline + index + 1)
        if first == len(scrapes):
            unseen += 1
            first -= 1
        latencies.append((scrapes[first][1] - accepted) / 1e6)
    return latencies, unseen


def measure(bootstrap: str, workdir: Path, *, rate: int, seconds: float, scrape_every_s: float = 0.02) -> LatencyResult:
    """Send ``rate`` events/s for ``seconds`` through the agent to a fresh worker; time each to /metrics."""
    name = f"bench-e2e-{rate}.{uuid.uuid4().hex[:8]}"
    worker = StreamWorker.named(bootstrap, workdir / name, name, partitions=1, extra_args=("--log-level=warning",))
    create_topics(bootstrap, [worker.events_topic], 1)
    sends: list[int] = []
    count = round(rate * seconds)
    agent_path = running_agent(bootstrap, workdir / name / "spool", worker.events_topic, lambda p: _Rekeyed(p, sends))
    with worker, agent_path as (first_agent, publisher):
        fleet = [Agent.create(_device(index), first_agent.spool, publisher, sources=[]) for index in range(2 * rate)]
        # Warm-up: a second of traffic, all of it counted, so the group has joined and every path has run once.
        baseline = len(_send_at_rate(fleet, rate, rate))
        worker.wait_for(lambda m: m.value("netdown_events_total") >= baseline, timeout=120, every=0.05)
        assert worker.pid is not None
        with _Scraper(worker.metrics_url, scrape_every_s, until=baseline + count) as scraper:
            meter = CpuMeter(worker.pid, os.getpid())
            meter.start()
            accepted = _send_at_rate(fleet, rate, count, start=baseline)
            scrapes = scraper.collect(timeout=60 + 4 * seconds)  # a worker that fell behind may still catch up
            worker_cpu, agent_cpu = meter.stop()
    latencies, unseen = latencies_ms(accepted, scrapes, baseline)
    agent_part = (
        [(sent - accept) / 1e6 for accept, sent in zip(accepted, sends[baseline:], strict=True)]
        if len(sends) == baseline + count
        else None
    )
    return LatencyResult(
        rate=rate,
        achieved_rate=round((count - 1) / ((accepted[-1] - accepted[0]) / 1e9)),
        events=count,
        devices=len(fleet),
        unseen=unseen,
        p50_ms=round(percentile(latencies, 0.50), 1),
        p99_ms=round(percentile(latencies, 0.99), 1),
        max_ms=round(max(latencies), 1),
        agent_p50_ms=None if agent_part is None else round(percentile(agent_part, 0.50), 1),
        agent_p99_ms=None if agent_part is None else round(percentile(agent_part, 0.99), 1),
        resolution_ms=round(statistics.median((b[1] - a[0]) / 1e6 for a, b in itertools.pairwise(scrapes)), 1),
        scrapes=len(scrapes),
        worker_cpu=worker_cpu,
        agent_cpu=agent_cpu,
    )


def _device(index: int) -> DeviceIdentity:
    """The ``index``-th Mac of the simulated fleet."""
    return DeviceIdentity(
        device_id=f"bench-mac-{index:06d}",
        boot_id=f"boot-{index:06d}",
        platform="darwin",
        os_version="14.4.1",
        os_build="23E224",
    )


def _send_at_rate(fleet: Sequence[Agent], rate: int, count: int, start: int = 0) -> list[int]:
    """Accept ``count`` probe observations on a fixed schedule of ``rate``/s, the fleet's devices in turn.

    Returns each one's accept time (ns). The schedule is absolute: a sender that was held up catches up at
    once, as a source's backlog does. ``start`` continues the round of devices where a previous call left it.
    """
    accepted: list[int] = []
    began = time.monotonic_ns()
    for index in range(count):
        delay = began + index * 1_000_000_000 // rate - time.monotonic_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
        accepted.append(time.monotonic_ns())
        agent = fleet[(start + index) % len(fleet)]
        agent.accept(Observation(ts_ms=time.time_ns() // 1_000_000, body=PROBE))
    return accepted


class _Rekeyed(KeyedByDevice):
    """The fleet's producer, keyed by device, noting when each record was handed over."""

    def __init__(self, inner: Producer, sends: list[int]) -> None:
        super().__init__(inner)
        self.sends = sends

    def send(self, topic: str, value: bytes, key: bytes) -> Any:
        self.sends.append(time.monotonic_ns())
        return super().send(topic, value, key)


class _Scraper:
    """Scrapes ``/metrics`` in a child process until a scrape counts ``until`` events (or it is stopped)."""

    def __init__(self, url: str, every_s: float, *, until: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop, self._ready = context.Event(), context.Event()
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_scrape, args=(url, every_s, until, self._ready, self._stop, send), daemon=True
        )

    def __enter__(self) -> _Scraper:
        self._process.start()
        if not self._ready.wait(60):  # the child imports this module first: seconds on a busy machine
            self.__exit__()
            raise TimeoutError("the scraper process did not read /metrics within 60 s")
        return self

    def collect(self, timeout: float) -> list[Scrape]:
        """Every scrape, once one has counted ``until`` events or ``timeout`` seconds have passed."""
        if not self._receive.poll(timeout):
            self._stop.set()
            if not self._receive.poll(30):
                raise RuntimeError("the scraper process ended without its readings")
        scrapes: list[Scrape] = self._receive.recv()
        return scrapes

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


def _scrape(url: str, every_s: float, until: int, ready: EventType, stop: EventType, out: Connection) -> None:
    """The scraper process: GET /metrics every ``every_s`` until it counts ``until``, then send every reading."""
    address = url.removeprefix("http://").split("/", 1)[0]
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    scrapes: list[Scrape] = []
    while not stop.is_set() and (not scrapes or scrapes[-1][2] < until):
        asked = time.monotonic_ns()
        try:
            connection.request("GET", "/metrics")
            body = connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            connection.close()  # reconnects on the next request
        else:
            total = sum(float(value) for value in _EVENTS_TOTAL.findall(body))
            scrapes.append((asked, time.monotonic_ns(), int(total)))
            ready.set()
        time.sleep(every_s)
    out.send(scrapes)
