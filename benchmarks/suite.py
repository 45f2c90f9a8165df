"""Every benchmark in one run, side by side, against one local broker: ``python -m benchmarks`` (``make bench``).

1. Pre-fill one topic with ``--events`` fleet events (300-600 bytes, kafka-python as the agent publishes).
2. Kafka's own ceiling here: its producer and consumer perf tools, and its consumer on the filled topic.
3. A plain aiokafka consumer that only decodes the topic, then one worker catching up on it (the ratio).
4. End-to-end latency, agent -> Kafka -> worker -> ``/metrics``, at fixed rates.
5. kafka-python publishing through the agent's spool; the agent's idle CPU and memory.
6. ``netdown-stream replay`` over the same events as a capture file.

Each step is bounded in time and cleans up what it started (Ctrl-C and SIGTERM included); a step that
fails is reported as failed and the others still run. The figures go to a JSON file and a Markdown
table on stdout (progress goes to stderr). The machine is measured as it is: on a shared one, the load
average printed with the table says how much the figures are worth.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar

from benchmarks import agent_footprint, catch_up, decode_consumer, e2e_latency, kafka_perf, replay_throughput
from benchmarks.proc import CpuMeter, CpuShare
from netdown.cli_args import positive_int, positive_number
from netdown.detection.detector import DetectorParams
from netdown.devstack.kafka import KAFKA_VERSION, KafkaBroker
from netdown.devstack.stream_worker import create_topics

__all__ = ["ReplayRun", "Report", "Row", "main", "parser", "render_markdown"]

WORKER_MIN_EVENTS_PER_S: Final = 15_000
WORKER_MIN_RATIO: Final = 0.5
LATENCY_MAX_P99_MS: Final = 100.0
LATENCY_TARGET_RATE: Final = 5_000
REPLAY_MIN_EVENTS_PER_S: Final = replay_throughput.TARGET_EVENTS_PER_S
AGENT_MAX_RSS_MIB: Final = 50.0
AGENT_MAX_IDLE_CPU_PERCENT: Final = 1.0
STEPS: Final = ("kafka", "decode", "worker", "latency", "publish", "idle", "replay")

T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, its target (if the issue sets one), and what limits it."""

    figure: str
    value: str
    target: str = ""
    met: bool | None = None  # None: no target
    limit: str = ""


@dataclass
class Report:
    """Everything one run measured: the machine, the settings, each step's result (or error), the table."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)

    def attempt(self, step: str, action: Callable[[], T], rows: Callable[[T], list[Row]]) -> T | None:
        """Run one step and add its rows; on failure note the error (and print its traceback), add a row saying so."""
        _progress(f"{step} ...")
        started = time.monotonic()
        try:
            result = action()
        except Exception as exc:
            traceback.print_exc()
            self.errors[step] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self.rows.append(Row(step, "failed", limit=self.errors[step]))
            return None
        _progress(f"{step} done in {time.monotonic() - started:.0f} s")
        self.results[step] = _plain(result)
        self.rows += rows(result)
        return result

    def to_json(self) -> str:
        """The report as JSON (rows included, so the table can be rebuilt from the file)."""
        document = {
            "machine": self.machine,
            "settings": self.settings,
            "results": self.results,
            "errors": self.errors,
            "rows": [asdict(row) for row in self.rows],
        }
        return json.dumps(document, indent=2, default=str) + "\n"


def render_markdown(report: Report) -> str:
    """The table quoted in reports, under a line that says which machine, in what state, produced it."""
    machine = report.machine
    header = (
        f"{machine['cpus']} CPUs, Python {machine['python']}, Kafka {machine['kafka']}, "
        f"load average {machine['load_before']} before and {machine['load_after']} after the run"
    )
    lines = [header, "", "| figure | value | target | met? | what limits it |", "| --- | ---: | ---: | :-: | --- |"]
    for row in report.rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.figure} | {row.value} | {row.target} | {met} | {row.limit} |")
    return "\n".join(lines) + "\n"


# --- the steps, and the rows each result makes ---


def _fill_rows(fill: catch_up.Fill) -> list[Row]:
    return [
        Row(
            f"pre-fill: kafka-python, acks=all, gzip ({fill.events:,} events, {fill.partitions} partitions)",
            f"{fill.produced_per_s:,.0f} events/s",
            limit=f"events {fill.min_bytes}-{fill.max_bytes} B (median {fill.median_bytes}); {fill.produce_s} s",
        )
    ]


def _kafka_rows(perfs: tuple[kafka_perf.ProducerPerf, kafka_perf.ConsumerPerf, kafka_perf.ConsumerPerf]) -> list[Row]:
    producer, consumer, events = perfs
    return [
        Row(
            f"Kafka ceiling: ProducerPerformance ({producer.records:,} x {producer.record_size} B, no compression)",
            f"{producer.records_per_s:,.0f} records/s ({producer.mb_per_s:.1f} MB/s)",
            limit=f"send-to-ack avg {producer.avg_latency_ms:.0f} ms, p99 {producer.p99_latency_ms:.0f} ms",
        ),
        *(
            Row(
                f"Kafka ceiling: ConsumerPerformance ({what})",
                f"{perf.fetch_records_per_s:,.0f} records/s ({perf.fetch_mb_per_s:.1f} MB/s)",
                limit=f"{perf.records:,} records; group join {perf.rebalance_ms:.0f} ms left out",
            )
            for what, perf in (("its own topic", consumer), ("the filled topic, gzip", events))
        ),
    ]


def _decode_rows(decode: decode_consumer.DecodeResult) -> list[Row]:
    return [
        Row(
            "decode-only aiokafka consumer (`wire.decode` per message)",
            f"{decode.events_per_s:,.0f} events/s",
            limit=f"consumer process {decode.cpu}; {decode.rejected} rejected",
        )
    ]


def _worker_rows(worker: catch_up.WorkerRun, decode: decode_consumer.DecodeResult | None) -> list[Row]:
    rows = [
        Row(
            "worker catch-up (1 worker, from first to last event on /metrics)",
            f"{worker.events_per_s:,.0f} events/s",
            f">= {WORKER_MIN_EVENTS_PER_S:,}",
            worker.events_per_s >= WORKER_MIN_EVENTS_PER_S,
            f"worker {worker.worker_cpu}; broker {worker.broker_cpu}",
        )
    ]
    if decode is not None:
        ratio = worker.events_per_s / decode.events_per_s
        rows.append(
            Row(
                "worker / decode-only",
                f"{ratio:.2f}",
                f">= {WORKER_MIN_RATIO}",
                ratio >= WORKER_MIN_RATIO,
                f"{1e6 / worker.events_per_s:.0f} us of wall time per event, "
                f"{1e6 / decode.events_per_s:.0f} us to fetch and decode one",
            )
        )
    return rows


def _latency_rows(result: e2e_latency.LatencyResult) -> list[Row]:
    at_target = result.rate == LATENCY_TARGET_RATE
    agent = "n/a" if result.agent_p50_ms is None else f"{result.agent_p50_ms:.0f}/{result.agent_p99_ms:.0f} ms"
    behind = (
        f"worker fell behind: {result.unseen:,} of {result.events:,} events not shown when the wait ended; "
        if result.unseen
        else ""
    )
    return [
        Row(
            f"end-to-end latency p50/p99/max at {result.rate:,} events/s ({result.devices:,} devices)",
            f"{'>= ' if result.unseen else ''}{result.p50_ms:.0f}/{result.p99_ms:.0f}/{result.max_ms:.0f} ms",
            f"p99 <= {LATENCY_MAX_P99_MS:.0f} ms" if at_target else "",
            not result.unseen and result.p99_ms <= LATENCY_MAX_P99_MS if at_target else None,
            f"{behind}agent (spool + publisher) p50/p99 {agent}; worker {result.worker_cpu}; "
            f"sending agents {result.agent_cpu}; "
            f"scrape window {result.resolution_ms:.0f} ms",
        )
    ]


def _publish_rows(result: agent_footprint.Throughput) -> list[Row]:
    return [
        Row(
            f"agent publish: stamp -> spool -> kafka-python ({result.events:,} events)",
            f"{result.delivered_per_s:,.0f} events/s acknowledged",
            limit=f"accepted into the spool at {result.accepted_per_s:,.0f} events/s",
        )
    ]


def _idle_rows(result: agent_footprint.Idle) -> list[Row]:
    return [
        Row(
            "agent idle RSS",
            f"{result.rss_mib:.1f} MiB (peak {result.peak_rss_mib:.1f})",
            f"<= {AGENT_MAX_RSS_MIB:.0f} MiB",
            result.rss_mib <= AGENT_MAX_RSS_MIB,
        ),
        Row(
            "agent idle CPU",
            f"{result.idle_cpu_percent_of_one_core:.2f}% of a core",
            f"< {AGENT_MAX_IDLE_CPU_PERCENT:.0f}%",
            result.idle_cpu_percent_of_one_core < AGENT_MAX_IDLE_CPU_PERCENT,
            f"over {result.idle_seconds:.0f} s, probes every 30 s",
        ),
    ]


@dataclass(frozen=True)
class ReplayRun:
    """The replay command over the capture, in process and as the CLI, against decode-only on the same file."""

    decode_only: replay_throughput.Result
    in_process: replay_throughput.Result
    cli: replay_throughput.Result
    in_process_cpu: CpuShare  # this process, during the in-process replay


def _replay(capture: Path, events: int) -> ReplayRun:
    decode_only = replay_throughput.measure_decode_only(capture, events)
    meter = CpuMeter(os.getpid())
    meter.start()
    in_process = replay_throughput.measure_replay_in_process(capture, events, DetectorParams())
    [cpu] = meter.stop()
    cli = replay_throughput.measure_replay_cli(capture, events)
    return ReplayRun(decode_only=decode_only, in_process=in_process, cli=cli, in_process_cpu=cpu)


def _replay_rows(run: ReplayRun) -> list[Row]:
    def row(result: replay_throughput.Result, limit: str) -> Row:
        ratio = result.events_per_s / run.decode_only.events_per_s
        return Row(
            result.name,
            f"{result.events_per_s:,.0f} events/s",
            f">= {REPLAY_MIN_EVENTS_PER_S:,}",
            result.events_per_s >= REPLAY_MIN_EVENTS_PER_S,
            f"{ratio:.2f} x decode-only; {limit}",
        )

    return [
        row(run.in_process, f"this process {run.in_process_cpu}"),
        row(run.cli, f"{run.cli.seconds:.2f} s against {run.in_process.seconds:.2f} s in process: start-up, imports"),
        Row(f"replay's yardstick: {run.decode_only.name}", f"{run.decode_only.events_per_s:,.0f} events/s"),
    ]


def run(args: argparse.Namespace, report: Report) -> None:
    """Every step not skipped, in an order that keeps one step's leftovers out of the next one's way."""
    steps = [step for step in STEPS if step not in args.skip]
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="netdown-bench-")))
        broker = stack.enter_context(KafkaBroker(data_dir=workdir / "kafka", heap="1g"))
        bootstrap = broker.bootstrap
        fill = report.attempt(
            "fill",
            partial(
                catch_up.fill, bootstrap, workdir, events=args.events, devices=args.devices, partitions=args.partitions
            ),
            _fill_rows,
        )
        if fill is None:
            return
        if "kafka" in steps:
            report.attempt("kafka", partial(_kafka_ceiling, bootstrap, fill), _kafka_rows)
        decode = None
        if "decode" in steps:
            timeout = _budget(fill.events)
            measure = partial(decode_consumer.measure, bootstrap, fill.topic, events=fill.events, timeout=timeout)
            decode = report.attempt("decode", measure, _decode_rows)
        if "worker" in steps:
            report.attempt(
                "worker",
                partial(catch_up.time_worker, bootstrap, workdir, fill, broker_pid=broker.pid),
                partial(_worker_rows, decode=decode),
            )
        for rate in args.rates if "latency" in steps else ():
            report.attempt(
                f"latency-{rate}",
                partial(e2e_latency.measure, bootstrap, workdir, rate=rate, seconds=args.latency_seconds),
                _latency_rows,
            )
        if "publish" in steps or "idle" in steps:
            agent_footprint.create_topic(bootstrap)
        if "publish" in steps:
            events = min(args.events, args.publish_events)
            publish = partial(agent_footprint.measure_throughput, bootstrap, workdir, events)
            report.attempt("publish", publish, _publish_rows)
        if "idle" in steps:
            idle = partial(agent_footprint.measure_idle, bootstrap, workdir, args.idle_seconds)
            report.attempt("idle", idle, _idle_rows)
        broker.stop()  # replay needs no broker: give its core back
        if "replay" in steps:
            report.attempt("replay", partial(_replay, fill.capture, fill.events), _replay_rows)


def _kafka_ceiling(
    bootstrap: str, fill: catch_up.Fill
) -> tuple[kafka_perf.ProducerPerf, kafka_perf.ConsumerPerf, kafka_perf.ConsumerPerf]:
    """Kafka's tools: produce as many records as the filled topic holds, of its median size; consume both topics."""
    topic = "bench-kafka-perf"
    create_topics(bootstrap, [topic], fill.partitions)
    budget = _budget(fill.events)
    producer = kafka_perf.producer_perf(
        bootstrap, topic, records=fill.events, record_size=fill.median_bytes, timeout=budget
    )
    consumer = kafka_perf.consumer_perf(bootstrap, topic, records=fill.events, timeout=budget)
    events = kafka_perf.consumer_perf(bootstrap, fill.topic, records=fill.events, timeout=budget)
    return producer, consumer, events


def _budget(events: int) -> float:
    """How long a pass over ``events`` may take before it counts as failed (at least 1000 events/s)."""
    return max(120.0, events / 1000)


def _plain(result: object) -> Any:
    """A result as JSON-able data: dataclasses and named tuples as dicts, sequences as lists, all the way down."""
    if hasattr(result, "_asdict"):  # a named tuple
        return {key: _plain(value) for key, value in result._asdict().items()}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return {item.name: _plain(getattr(result, item.name)) for item in dataclasses.fields(result)}
    if isinstance(result, tuple | list):
        return [_plain(item) for item in result]
    return result


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count() or 1,
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION,
        "platform": platform.platform(),
        "load_before": _load(),
    }


def _load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def _progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _interrupted(signum: int, _frame: object) -> None:
    """SIGTERM as Ctrl-C: unwind, so every broker, worker and agent started is stopped on the way out."""
    raise KeyboardInterrupt(f"signal {signum}")


def _rates(text: str) -> list[int]:
    try:
        rates = [positive_int(part) for part in text.split(",") if part]
    except argparse.ArgumentTypeError:
        rates = []
    if not rates:
        raise argparse.ArgumentTypeError(f"comma-separated positive events/s, got {text!r}")
    return rates


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks``."""
    cli = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run every netdown benchmark against one local broker; print a Markdown table, write JSON.",
    )
    cli.add_argument(
        "--events", type=positive_int, default=1_000_000, help="events in the pre-filled topic (default: 1000000)"
    )
    cli.add_argument(
        "--devices", type=positive_int, default=2_000, help="devices in the pre-filled fleet (default: 2000)"
    )
    cli.add_argument(
        "--partitions", type=positive_int, default=4, help="partitions of the pre-filled topic (default: 4)"
    )
    cli.add_argument(
        "--rates", type=_rates, default=[1_000, 5_000], help="latency rates, events/s (default: 1000,5000)"
    )
    cli.add_argument(
        "--latency-seconds", type=positive_number, default=15.0, help="seconds per latency rate (default: 15)"
    )
    cli.add_argument(
        "--publish-events",
        type=positive_int,
        default=100_000,
        help="events published through the spool (default: 100000)",
    )
    cli.add_argument("--idle-seconds", type=positive_number, default=60.0, help="agent idle window (default: 60)")
    cli.add_argument("--skip", action="append", default=[], choices=STEPS, help="leave a step out (repeatable)")
    cli.add_argument("--json", type=Path, help="where to write the JSON (default: bench-results/suite-<time>.json)")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; print the table; write the JSON. Exit 1 if a step failed (a missed target is not a failure)."""
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    report = Report(
        machine=_machine(), settings={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    )
    try:
        run(args, report)
    finally:
        report.machine["load_after"] = _load()
        path = args.json or Path("bench-results") / f"suite-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.to_json(), encoding="utf-8")
        _progress(f"results written to {path}")
    print(render_markdown(report))
    return 1 if report.errors else 0
