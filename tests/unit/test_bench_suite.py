"""The benchmark suite's bookkeeping, on made-up results: its table, its JSON, its verdicts, its parsers.

The benchmarks themselves are not tests (they take minutes and their figures depend on the machine);
what turns their results into the table a report quotes is, and it runs here in milliseconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks import suite
from benchmarks.catch_up import WorkerRun
from benchmarks.decode_consumer import DecodeResult
from benchmarks.e2e_latency import LatencyResult, latencies_ms, percentile
from benchmarks.kafka_perf import parse_consumer, parse_producer
from benchmarks.proc import CpuShare
from benchmarks.replay_throughput import Result

MACHINE = {"cpus": 2, "python": "3.11.7", "kafka": "4.4.0", "load_before": "0.1/0.2/0.3", "load_after": "1.0/0.5/0.4"}
IDLE = CpuShare(on_cpu_percent=95.0, waiting_percent=3.0)


@dataclass(frozen=True)
class _Fake:
    events_per_s: float


def _decode(events_per_s: float) -> DecodeResult:
    return DecodeResult(events=1000, rejected=0, startup_s=0.1, process_s=1.0, events_per_s=events_per_s, cpu=IDLE)


def _worker(events_per_s: float) -> WorkerRun:
    return WorkerRun(
        events=1000,
        startup_s=1.0,
        process_s=1.0,
        events_per_s=events_per_s,
        worker_cpu=IDLE,
        broker_cpu=IDLE,
        episodes=3,
    )


def _latency(rate: int, p99_ms: float, unseen: int = 0) -> LatencyResult:
    return LatencyResult(
        rate=rate,
        achieved_rate=rate,
        events=rate * 10,
        devices=2 * rate,
        unseen=unseen,
        p50_ms=p99_ms / 2,
        p99_ms=p99_ms,
        max_ms=p99_ms * 2,
        agent_p50_ms=None,
        agent_p99_ms=None,
        resolution_ms=25.0,
        scrapes=400,
        worker_cpu=IDLE,
        agent_cpu=IDLE,
    )


def test_table_names_the_machine_and_marks_each_target_met_missed_or_absent() -> None:
    report = suite.Report(machine=MACHINE, settings={})
    report.rows += [
        suite.Row("worker catch-up", "20,000 events/s", ">= 15,000", True, "worker 95% of a core"),
        suite.Row("agent idle RSS", "61.0 MiB", "<= 50 MiB", False),
        suite.Row("Kafka ceiling", "300,000 records/s"),
    ]

    table = suite.render_markdown(report)

    assert table.splitlines()[0].startswith("2 CPUs, Python 3.11.7, Kafka 4.4.0, load average 0.1/0.2/0.3 before")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows == [
        "| worker catch-up | 20,000 events/s | >= 15,000 | yes | worker 95% of a core |",
        "| agent idle RSS | 61.0 MiB | <= 50 MiB | **no** |  |",
        "| Kafka ceiling | 300,000 records/s |  |  |  |",
    ]


def test_a_failed_step_is_reported_and_the_others_keep_their_results() -> None:
    report = suite.Report(machine=MACHINE, settings={"events": 10})

    def broken() -> None:
        raise RuntimeError("broker went away\nlong trace")

    assert report.attempt(
        "fine", lambda: _Fake(5.0), lambda fake: [suite.Row("fine", str(fake.events_per_s))]
    ) == _Fake(5.0)
    assert report.attempt("broken", broken, lambda _: [suite.Row("never", "shown")]) is None

    document = json.loads(report.to_json())
    assert document["results"] == {"fine": {"events_per_s": 5.0}}
    assert document["errors"] == {"broken": "RuntimeError: broker went away"}
    assert document["rows"] == [
        {"figure": "fine", "value": "5.0", "target": "", "met": None, "limit": ""},
        {"figure": "broken", "value": "failed", "target": "", "met": None, "limit": "RuntimeError: broker went away"},
    ]
    assert document["settings"] == {"events": 10}


@pytest.mark.parametrize(
    ("worker_per_s", "decode_per_s", "verdicts"),
    [
        (20_000, 30_000, [True, True]),  # fast enough, and 0.67 of decode-only
        (20_000, 50_000, [True, False]),  # fast enough, but 0.40 of decode-only
        (10_000, 15_000, [False, True]),
    ],
)
def test_worker_is_judged_on_its_rate_and_on_its_share_of_decode_only(
    worker_per_s: float, decode_per_s: float, verdicts: list[bool | None]
) -> None:
    rows = suite._worker_rows(_worker(worker_per_s), _decode(decode_per_s))

    assert [row.met for row in rows] == verdicts
    assert rows[1].value == f"{worker_per_s / decode_per_s:.2f}"
    assert (
        rows[1].limit
        == f"{1e6 / worker_per_s:.0f} us of wall time per event, {1e6 / decode_per_s:.0f} us to fetch and decode one"
    )


def test_without_the_decode_only_pass_there_is_no_ratio() -> None:
    assert [row.figure for row in suite._worker_rows(_worker(1.0), None)] == [
        "worker catch-up (1 worker, from first to last event on /metrics)"
    ]


def test_latency_target_applies_at_5k_events_per_s_only() -> None:
    assert suite._latency_rows(_latency(1_000, 500.0))[0].met is None
    assert suite._latency_rows(_latency(5_000, 99.0))[0].met is True
    assert suite._latency_rows(_latency(5_000, 101.0))[0].met is False


def test_latency_of_a_worker_that_fell_behind_is_a_lower_bound_and_misses_the_target() -> None:
    [row] = suite._latency_rows(_latency(5_000, 90.0, unseen=7))

    assert (row.value, row.met) == (">= 45/90/180 ms", False)
    assert row.limit.startswith("worker fell behind: 7 of 50,000 events not shown")


def test_replay_is_judged_in_process_and_as_the_cli_whose_start_up_is_shown() -> None:
    run = suite.ReplayRun(
        decode_only=Result("decode only", 1.0, 200_000),
        in_process=Result("replay, in process", 1.6, 200_000),
        cli=Result("replay, CLI", 2.5, 200_000),
        in_process_cpu=IDLE,
    )

    in_process, cli, yardstick = suite._replay_rows(run)

    assert (in_process.value, in_process.met, in_process.limit) == (
        "125,000 events/s",
        True,
        "0.62 x decode-only; this process 95% of a core (+3% waiting for one)",
    )
    assert (cli.value, cli.met) == ("80,000 events/s", False)
    assert cli.limit == "0.40 x decode-only; 2.50 s against 1.60 s in process: start-up, imports"
    assert (yardstick.value, yardstick.met) == ("200,000 events/s", None)
    assert json.loads(json.dumps(suite._plain(run)))["cli"] == {
        "name": "replay, CLI",
        "seconds": 2.5,
        "events": 200_000,
    }


def test_each_event_is_visible_at_the_first_scrape_that_counts_it() -> None:
    # Scrapes (asked ns, answered ns, count); 5 warm-up events already counted before the first.
    scrapes = [(0, 1_000_000, 5), (20_000_000, 21_000_000, 7), (40_000_000, 42_000_000, 8)]
    accepted = [0, 10_000_000, 15_000_000]

    assert latencies_ms(accepted, scrapes, baseline=5) == ([21.0, 11.0, 27.0], 0)
    # A fourth event no scrape counted: the time to the last scrape, as a lower bound, and counted as unseen.
    assert latencies_ms([*accepted, 30_000_000], scrapes, baseline=5) == ([21.0, 11.0, 27.0, 12.0], 1)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([7.0], 0.99)) == (50.0, 99.0, 7.0)


def test_kafka_tool_summaries_parse_into_rates() -> None:
    producer = parse_producer(
        "100 records sent, 20.0 records/sec (0.01 MB/sec), 5.0 ms avg latency, 9.0 ms max latency.\n"
        "200000 records sent, 53319.114903 records/sec (20.34 MB/sec), 1109.74 ms avg latency, "
        "1972.00 ms max latency, 1085 ms 50th, 1644 ms 95th, 1894 ms 99th, 1966 ms 99.9th.\n",
        record_size=400,
    )
    consumer = parse_consumer(
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, "
        "fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n"
        "2026-11-25 17:48:54:748, 2026-11-25 17:48:56:116, 76.2939, 55.7704, 200000, 146198.8304, 532, 836, "
        "91.2607, 239234.4498\n",
        topic="t",
    )

    assert (producer.records, producer.records_per_s, producer.mb_per_s, producer.p99_latency_ms) == (
        200_000,
        53319.114903,
        20.34,
        1894.0,
    )
    assert (consumer.records, consumer.fetch_records_per_s, consumer.rebalance_ms) == (200_000, 239234.4498, 532.0)
    with pytest.raises(ValueError, match="no ProducerPerformance summary"):
        parse_producer("Exception in thread main", record_size=400)


def test_cli_help_lists_the_steps_it_can_skip() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m benchmarks")
    assert "{kafka,decode,worker,latency,publish,idle,replay}" in done.stdout
