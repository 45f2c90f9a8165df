"""Every metric the stream worker exports, defined in this one module (names and labels are a contract).

Three kinds, all served from one registry at the worker's ``/metrics``:

* Durable fleet metrics (:class:`FleetCollector`), computed at scrape from the device records of the
  partitions this worker owns (:class:`~netdown.stream.partition_totals.PartitionTotals`). Each series carries a
  ``partition`` label (bounded by the partition count): when a partition moves to another worker it
  continues there as the same cumulative series, so a crash or a rebalance neither resets nor
  inflates what ``sum without (instance, partition) (increase(...))`` sees.
* Process-local metrics: messages received, rejected messages by reason, event lag and batch
  processing time. They restart from zero with the process, which ``rate()``/``increase()`` treat as
  a counter reset; after a crash the messages since the last commit are received (and counted here)
  again.
* Faust's own Prometheus sensor (:class:`WorkerMonitor`: offset commits and their latency,
  assignments, rebalances), plus this worker's consumer lag per partition.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from netdown.detection.detector import DROP_REASONS
from netdown.stream.dlq import REJECT_REASONS
from netdown.stream.partition_totals import PartitionTotals
from netdown.stream.record import DURATION_BUCKETS_S
from netdown.stream.spool_reports import LOSS_CAUSES

__all__ = [
    "BATCH_BUCKETS_S",
    "FAUST_PREFIX",
    "LAG_BUCKETS_S",
    "OUTPUTS",
    "ConsumerLagCollector",
    "FleetCollector",
    "WorkerMetrics",
    "WorkerMonitor",
    "faust_metrics",
]

# Arrival minus event time: a live agent is within seconds, a spool replay hours or a day behind.
LAG_BUCKETS_S: Final[tuple[float, ...]] = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 21600, 86400)
# Handling one batch: a few live events take a millisecond, a full batch while catching up a second or so.
BATCH_BUCKETS_S: Final[tuple[float, ...]] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# What the worker writes, each a value of the `output` label of netdown_output_errors_total.
OUTPUTS: Final = ("incidents", "devices", "dlq", "changelog")
# Faust names its metrics after the app by default; a fixed prefix keeps dashboards independent of --app-id.
FAUST_PREFIX: Final = "faust"


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _le(bound: float) -> str:
    """A bucket bound as Prometheus writes it (``10.0``, ``+Inf``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


class FleetCollector:
    """The durable metrics: counters and gauges summed over the records of each partition this worker owns."""

    def __init__(self, view: PartitionTotals, *, stale_ms: int, clock_ms: Callable[[], int] = _wall_ms) -> None:
        self.view = view
        self.stale_ms = stale_ms
        self.clock_ms = clock_ms

    def collect(self) -> Iterator[Metric]:
        """One family per metric, one series per label set and partition (sorted, so the output is stable)."""
        episodes = CounterMetricFamily(
            "netdown_episodes_total",
            "Episodes opened (ENETDOWN with a healthy interface), by normalised OS release, platform, app and kind.",
            labels=["os_version", "platform", "app", "kind", "partition"],
        )
        signals = CounterMetricFamily(
            "netdown_failure_signals_total",
            "App-side failure signals by class: episode, outage, transient, insufficient_evidence.",
            labels=["os_version", "class", "partition"],
        )
        events = CounterMetricFamily(
            "netdown_events_total", "Valid events processed, by wire type.", labels=["type", "partition"]
        )
        dropped = CounterMetricFamily(
            "netdown_events_dropped_total",
            "Valid events that changed nothing: a repeated event_id (duplicate) or too late to matter (late).",
            labels=["reason", "partition"],
        )
        lost = CounterMetricFamily(
            "netdown_events_lost_total", "Events lost between agent and worker (sequence gaps).", labels=["partition"]
        )
        agent_lost = CounterMetricFamily(
            "netdown_agent_events_lost_total",
            "Events the agents report lost on the device before delivery (their heartbeats' spool.lost), by cause.",
            labels=["cause", "partition"],
        )
        seq_restarts = CounterMetricFamily(
            "netdown_seq_restarts_total",
            "Sequence jumps too large to be loss, read as a device's new numbering (reinstalled or hostile agent).",
            labels=["partition"],
        )
        evicted = CounterMetricFamily(
            "netdown_devices_evicted_total",
            "Device records forgotten after the retention without events (their counts are kept).",
            labels=["partition"],
        )
        durations = HistogramMetricFamily(
            "netdown_episode_duration_seconds",
            "How long closed episodes lasted, by normalised OS release.",
            labels=["os_version", "partition"],
        )
        for partition, totals in sorted(self.view.totals.items()):
            p = str(partition)
            for (os_version, platform, app, kind), count in sorted(totals.episodes.items()):
                episodes.add_metric([os_version, platform, app, kind, p], count)
            for (os_version, signal_class), count in sorted(totals.signals.items()):
                signals.add_metric([os_version, signal_class, p], count)
            for event_type, count in sorted(totals.events.items()):
                events.add_metric([event_type, p], count)
            for reason in DROP_REASONS:  # both present from the start, so rate() sees the first drop
                dropped.add_metric([reason, p], totals.dropped.get(reason, 0))
            lost.add_metric([p], totals.lost)
            for cause in LOSS_CAUSES:  # every cause present from the start, so rate() sees the first loss
                agent_lost.add_metric([cause, p], totals.agent_lost.get(cause, 0))
            seq_restarts.add_metric([p], totals.seq_restarts)
            evicted.add_metric([p], totals.evicted)
            for os_version, counts in sorted(totals.durations.items()):
                cumulative, buckets = 0, []
                for bound, count in zip((*DURATION_BUCKETS_S, float("inf")), counts, strict=True):
                    cumulative += count
                    buckets.append((_le(bound), cumulative))
                durations.add_metric([os_version, p], buckets, sum_value=totals.duration_sum_s[os_version])
        yield from (episodes, signals, events, dropped, lost, agent_lost, seq_restarts, evicted, durations)
        yield from self._gauges()

    def _gauges(self) -> Iterator[Metric]:
        affected = GaugeMetricFamily(
            "netdown_devices_affected",
            "Devices with an open episode, by normalised OS release.",
            labels=["os_version", "partition"],
        )
        stuck = GaugeMetricFamily(
            "netdown_devices_stuck",
            "Devices with an episode open longer than the stuck threshold T.",
            labels=["os_version", "partition"],
        )
        active = GaugeMetricFamily(
            "netdown_devices_active",
            "Devices that sent an event within the stale threshold S (the denominator for per-device rates).",
            labels=["os_version", "partition"],
        )
        reporting = GaugeMetricFamily(
            "netdown_devices_reporting_sources",
            "Active devices whose agents report the health of their sources (agents older than 0.2 do not): the "
            "denominator of the blind share.",
            labels=["os_version", "partition"],
        )
        blind = GaugeMetricFamily(
            "netdown_devices_blind",
            "Active devices reporting source health with no running source of the role (system_path, app_view; "
            "none of the role at all counts too): devices on which no episode can be detected.",
            labels=["role", "os_version", "partition"],
        )
        failing = GaugeMetricFamily(
            "netdown_agent_sources_failing",
            "Active devices whose latest heartbeat reports the source not running, by source (a name the agent "
            "ships, any other is 'other') and role; present only while some device fails it.",
            labels=["source", "role", "os_version", "partition"],
        )
        for (partition, os_version), counts in sorted(self.view.gauges(self.clock_ms(), self.stale_ms).items()):
            p = str(partition)
            labels = [os_version, p]
            affected.add_metric(labels, counts.affected)
            stuck.add_metric(labels, counts.stuck)
            active.add_metric(labels, counts.active)
            reporting.add_metric(labels, counts.reporting)
            for role, count in counts.blind.items():  # every role present from the start, so the share reads 0
                blind.add_metric([role, os_version, p], count)
            for (source, role), count in sorted(counts.failing.items()):
                failing.add_metric([source, role, os_version, p], count)
        yield from (affected, stuck, active, reporting, blind, failing)


class ConsumerLagCollector:
    """Messages of the events topic not yet processed and committed by this worker, per partition."""

    def __init__(self, lag: Callable[[], Mapping[tuple[str, int], int]]) -> None:
        self.lag = lag

    def collect(self) -> Iterator[Metric]:
        """The lag of each partition this worker currently owns."""
        family = GaugeMetricFamily(
            "netdown_consumer_lag",
            "Messages between the end of the events topic and this worker's committed offset.",
            labels=["topic", "partition"],
        )
        for (topic, partition), lag in sorted(self.lag().items()):
            family.add_metric([topic, str(partition)], lag)
        yield family


def faust_metrics(registry: CollectorRegistry) -> FaustMetrics:
    """Faust's Prometheus sensor metrics, less the ones :class:`WorkerMonitor` leaves unchanged.

    Those are Faust's per-message and per-stream-event series: the worker hands messages to its
    pipeline in batches, not through Faust streams, and counts them in ``netdown_messages_received_total``.
    Exported, they would only ever read zero.
    """
    metrics = FaustMetrics.create(registry, FAUST_PREFIX)
    for unused in (
        metrics.messages_received,
        metrics.active_messages,
        metrics.messages_received_per_topics,
        metrics.messages_received_per_topics_partition,
        metrics.topic_partition_end_offset,
        metrics.events_runtime_latency,
        metrics.total_events,
        metrics.total_active_events,
        metrics.total_events_per_stream,
    ):
        registry.unregister(unused)
    return metrics


class WorkerMonitor(PrometheusMonitor):
    """Faust's Prometheus sensor without its per-message Prometheus update.

    Faust calls ``track_tp_end_offset`` for every message it fetches; the Prometheus sensor's version
    also sets a labelled gauge each time. With the per-message hooks the batch consumer no longer
    calls, the sensor measured about 7 µs of CPU per message, a fifth of the worker's cost per event.
    Faust's own tally of end offsets, which the consumer lag is computed from, is kept; the gauge it
    fed is not exported (:func:`faust_metrics`).
    """

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        """Faust's tally only: the consumer lag collector reads it at scrape."""
        Monitor.track_tp_end_offset(self, tp, offset)


class WorkerMetrics:
    """The worker's registry: durable fleet metrics, process-local ones, Faust's sensor and consumer lag.

    ``consumer_lag`` reads the Faust monitor's tallies at scrape (see :class:`WorkerMonitor`).
    """

    def __init__(
        self,
        view: PartitionTotals,
        *,
        stale_ms: int,
        info: Mapping[str, str],
        consumer_lag: Callable[[], Mapping[tuple[str, int], int]] = dict,
        clock_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(FleetCollector(view, stale_ms=stale_ms, clock_ms=clock_ms))
        self.registry.register(ConsumerLagCollector(consumer_lag))
        # Process-local (see the module docstring): a restart resets them, which rate() handles.
        self.rejected = Counter(
            "netdown_events_rejected_total",
            "Messages refused and sent to the dead-letter topic, by reason (process-local).",
            ["reason"],
            registry=self.registry,
        )
        for reason in REJECT_REASONS:  # every reason present from the start, so rate() sees the first one
            self.rejected.labels(reason=reason)
        self.output_errors = Counter(
            "netdown_output_errors_total",
            "Records the worker could not write (refused by the producer or not delivered), by output (process-local).",
            ["output"],
            registry=self.registry,
        )
        for output in OUTPUTS:
            self.output_errors.labels(output=output)
        self.event_lag = Histogram(
            "netdown_event_lag_seconds",
            "Arrival at the worker minus event time (process-local).",
            buckets=LAG_BUCKETS_S,
            registry=self.registry,
        )
        self.received = Counter(
            "netdown_messages_received_total",
            "Messages of the events topic handed to the pipeline (process-local; after a crash, those since "
            "the last commit are received again).",
            registry=self.registry,
        )
        self.batch_duration = Histogram(
            "netdown_batch_duration_seconds",
            "Time to handle one batch of messages: decode, detect, publish, store (process-local).",
            buckets=BATCH_BUCKETS_S,
            registry=self.registry,
        )
        Info("netdown_worker", "The stream worker's version and configuration.", registry=self.registry).info(
            dict(info)
        )
        self.faust = faust_metrics(self.registry)

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)
