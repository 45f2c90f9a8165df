"""Run the Faust worker: consume wire events, keep each device's state in a changelogged table, publish
incidents and each device's latest facts (a compacted topic), forward rejected messages to the
dead-letter topic, and serve Prometheus metrics at /metrics.

Every option is a flag with an environment fallback (NETDOWN_<FLAG>). Topics are created with the
configured partitions if missing. Start as many workers with the same --app-id as there are
partitions to share: Kafka assigns each partition, and so each device, to exactly one of them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import faust
from aiohttp.web import Response
from faust.types import TP, Message
from prometheus_client import CONTENT_TYPE_LATEST

from netdown import wire
from netdown.cli_args import env_default, positive_int
from netdown.detection.detector import DetectorParams
from netdown.detection.device_facts import encode_device_facts
from netdown.detection.incident import encode_incident
from netdown.log_repeats import install_repeat_limiter
from netdown.stream import faust_private
from netdown.stream.admission import check_clock
from netdown.stream.batching import BatchingTransport
from netdown.stream.dlq import INTERNAL_ERROR, Rejected, dead_letter
from netdown.stream.engine import Context, Outcome, apply_each, apply_events, apply_tick, due_ms, parse
from netdown.stream.labels import Labeler
from netdown.stream.metrics import WorkerMetrics, WorkerMonitor
from netdown.stream.partition_totals import PartitionTotals
from netdown.stream.record import (
    Counters,
    DeviceRecord,
    decode_record,
    encode_record,
    is_retired_key,
    new_record,
    retired_key,
)
from netdown.stream.settings import add_detector_arguments, detector_params
from netdown.topics import DEVICES_TOPIC, DLQ_TOPIC, EVENTS_TOPIC, INCIDENTS_TOPIC
from netdown.version import __version__

__all__ = ["NAME", "PartitionCountError", "Pipeline", "WorkerOptions", "build_app", "configure_parser", "run"]

NAME: Final = "worker"
TABLE_NAME: Final = "devices"
# How often processing time is checked for buffered events and sequence gaps that fell due; L is minutes.
TICK_INTERVAL_S: Final = 1.0
# How often the fleet view is swept for devices past the retention (a scan of every owned device): every
# 10 minutes, or a tenth of a retention shorter than that, so a device is forgotten at most 10% late.
EVICTION_SWEEP_S: Final = 600.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    """The worker's configuration, as the flags (or their environment variables) give it."""

    broker: str
    app_id: str
    events_topic: str
    incidents_topic: str
    dlq_topic: str
    devices_topic: str
    batch_max: int
    partitions: int
    replication_factor: int
    web_host: str
    web_port: int
    data_dir: Path
    metric_apps: frozenset[str]
    log_level: str
    session_timeout_s: float
    params: DetectorParams

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> WorkerOptions:
        """Options from parsed command-line arguments."""
        return cls(
            broker=args.broker,
            app_id=args.app_id,
            events_topic=args.events_topic,
            incidents_topic=args.incidents_topic,
            dlq_topic=args.dlq_topic,
            devices_topic=args.devices_topic,
            batch_max=args.batch_max,
            partitions=args.partitions,
            replication_factor=args.replication_factor,
            web_host=args.web_host,
            web_port=args.web_port,
            data_dir=args.data_dir,
            metric_apps=Labeler.from_apps(args.metric_apps.split(",")).apps,
            log_level=args.log_level,
            session_timeout_s=args.session_timeout,
            params=detector_params(args),
        )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the worker's options (each with a NETDOWN_<FLAG> environment fallback)."""

    def option(flag: str, default: str, help_text: str, **kwargs: Any) -> None:
        parser.add_argument(
            f"--{flag}", default=env_default(flag, default), help=f"{help_text} (default: {default})", **kwargs
        )

    option("broker", "kafka://127.0.0.1:9092", "Kafka bootstrap URL(s), `kafka://host:port;host:port`")
    option(
        "app-id", "netdown-stream", "Faust app id: the consumer group, and the prefix of the table's changelog topic"
    )
    option("events-topic", EVENTS_TOPIC, "topic of wire events, keyed by device_id")
    option("incidents-topic", INCIDENTS_TOPIC, "topic the incident records are written to")
    option("dlq-topic", DLQ_TOPIC, "topic rejected messages are forwarded to, with their reason")
    option(
        "devices-topic",
        DEVICES_TOPIC,
        "compacted topic each device's latest facts are published to, keyed by device_id",
    )
    option(
        "batch-max",
        "20000",
        "most messages handed to the pipeline at once: a batch reads and stores each device's record once, "
        "and a rebalance waits for the batch in hand (catching up, 20000 take under a second)",
        type=positive_int,
    )
    option(
        "partitions",
        "12",
        "partitions of the topics this worker creates; the most workers that share work",
        type=positive_int,
    )
    option(
        "replication-factor", "1", "replication of the topics this worker creates (3 in production)", type=positive_int
    )
    option("web-host", "0.0.0.0", "address the web server (/metrics) binds to")
    option("web-port", "6066", "port of the web server (/metrics)", type=positive_int)
    option("data-dir", ".netdown/stream", "Faust's working directory", type=Path)
    option(
        "metric-apps", "", "comma-separated apps (bundle ids) that get their own `app` label value; others are `other`"
    )
    option("log-level", "info", "log level", choices=("debug", "info", "warning", "error"))
    option("session-timeout", "30", "seconds before the group gives a dead worker's partitions to others", type=float)
    add_detector_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run a worker until it is stopped (SIGTERM or Ctrl-C); the exit code of the worker."""
    options = WorkerOptions.from_args(args)
    options.data_dir.mkdir(parents=True, exist_ok=True)
    app, _ = build_app(options)
    worker = _Worker(app, loglevel=options.log_level, workdir=options.data_dir)
    # Faust's terminal spinner sets the root logger to DEBUG (to spin on every record) whatever the
    # level asked for: every debug call of aiokafka and Faust then builds a record, a third of a core.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as stopped:  # how mode's worker always ends
        return stopped.code if isinstance(stopped.code, int) else 1


class _Worker(faust.Worker):
    """Faust's worker, with repeated warnings held back (:mod:`netdown.log_repeats`): a broker outage is a
    line per change of state and a summary a minute, not dozens of identical errors a second."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        """Once mode has set up the root logger's handlers: limit what they write."""
        super().on_setup_root_logger(logger, level)
        install_repeat_limiter(logger)


class PartitionCountError(RuntimeError):
    """The existing topics' partition count differs from the configured one."""


class Pipeline:
    """The effects around the pure decisions of :mod:`netdown.stream.engine`: table, topics, metrics,
    and the records' codec (the table holds bytes; processing takes and returns typed records).

    Order matters for exactly-once effects under at-least-once delivery. A batch's incident and
    device-facts records are delivered before the device records that say they happened are written,
    so a crash can repeat them (same key, same bytes: idempotent) but never lose one; the batch's
    offsets are committed only after that (see :mod:`netdown.stream.batching`). Batches and the tick
    timer share one lock, so a device's record is never read by one and written by the other meanwhile.
    """

    def __init__(
        self,
        app: faust.App,
        *,
        options: WorkerOptions,
        table: faust.Table[bytes, bytes],
        outputs: Sequence[faust.TopicT],
        view: PartitionTotals,
        metrics: WorkerMetrics,
    ) -> None:
        self.app = app
        self.options = options
        self.table = table
        self.outputs = outputs
        self.view = view
        self.metrics = metrics
        self.context = Context(params=options.params, labeler=Labeler(apps=options.metric_apps))
        self.lock = asyncio.Lock()
        self.active: set[int] = set()
        # Devices whose buffered events or sequence gaps fall due by processing time: key -> (due ms, partition).
        self.pending: dict[bytes, tuple[int, int]] = {}
        self._declared = False
        self._next_sweep_ms = 0

    async def on_batch(self, messages: Sequence[Message]) -> None:
        """Messages of the events topic: each device's events applied to its record, rejections forwarded."""
        started = time.perf_counter()
        self.metrics.received.inc(len(messages))
        async with self.lock:
            await self._declare_outputs()
            now_ms = time.time_ns() // 1_000_000
            by_device: dict[bytes, list[tuple[wire.Event, Message]]] = {}
            lags: list[int] = []
            max_skew_ms = self.options.params.max_skew_ms
            for message in messages:
                parsed = _parse(message)
                if not isinstance(parsed, Rejected):
                    parsed = check_clock(parsed, now_ms, max_skew_ms) or parsed
                if isinstance(parsed, Rejected):
                    await self._reject(message, parsed)
                else:  # keyed by its device_id (parse checked), so one device's events group here
                    by_device.setdefault(parsed.device_id.encode(), []).append((parsed, message))
                    lags.append(now_ms - parsed.ts_ms)
            outcomes = []
            for key, items in by_device.items():
                outcome = await self._apply(key, items, now_ms)
                if outcome is not None:
                    outcomes.append((key, outcome))
            await self._carry_out(outcomes)
        observe_lag = self.metrics.event_lag.observe
        for lag_ms in lags:
            observe_lag(max(lag_ms, 0) / 1000)
        self.metrics.batch_duration.observe(time.perf_counter() - started)

    async def tick(self) -> None:
        """Let processing time release the buffered events and settle the gaps that fell due."""
        if self.app.rebalancing:
            return
        now_ms = time.time_ns() // 1_000_000
        async with self.lock:
            due = [key for key, (when, _) in self.pending.items() if when <= now_ms]
            outcomes = []
            for key in due:
                _, partition = self.pending.pop(key)
                stored = self.table.data.get(key)
                if stored is None or partition not in self.active:
                    continue
                try:
                    outcomes.append((key, apply_tick(decode_record(stored), now_ms=now_ms, context=self.context)))
                except Exception:
                    logger.exception("internal error ticking device %r", key)
            if outcomes:
                await self._declare_outputs()
                await self._carry_out(outcomes)
            if now_ms >= self._next_sweep_ms:
                self._next_sweep_ms = now_ms + min(
                    round(EVICTION_SWEEP_S * 1000), self.options.params.retention_ms // 10
                )
                await self._evict(now_ms)

    async def _evict(self, now_ms: int) -> None:
        """Forget the devices of owned partitions that sent nothing for the retention, keeping their counts.

        A device's record goes (a tombstone on the changelog, so a recovery forgets it too); its counters
        are added to its partition's record of evicted devices' counts (:func:`retired_key`), written
        first, so a crash in between can count a device twice in that record's sums but never lose it.
        """
        horizon = now_ms - self.options.params.retention_ms
        gone: dict[int, list[bytes]] = {}
        # The fleet view holds every owned device's last arrival: the sweep decodes only the records it evicts.
        for key, facts in self.view.devices.items():
            if facts.last_arrival_ms < horizon and facts.partition in self.active:
                gone.setdefault(facts.partition, []).append(key)
        if not gone:
            return
        await self._declare_outputs()
        changelog = self.table.changelog_topic_name
        for partition, keys in gone.items():
            retired_at = retired_key(partition)
            stored = self.table.data.get(retired_at)
            retired = new_record("", partition) if stored is None else decode_record(stored)
            moved = Counters(evicted=len(keys))
            for key in keys:
                moved.add(decode_record(self.table.data[key]).counters)
            retired.counters.add(moved)
            value = encode_record(retired)
            self.table.data[retired_at] = value
            await self._send("changelog", changelog, retired_at, value, partition)
            for key in keys:
                del self.table.data[key]
                self.pending.pop(key, None)
                await self._send("changelog", changelog, key, None, partition)
            self.view.evict(partition, keys, Counters(evicted=len(keys)))
            logger.info("partition %d: evicted %d devices without events for the retention", partition, len(keys))

    async def on_recovered(self) -> None:
        """After a rebalance's table recovery: rebuild the fleet view and the pending set from the table."""
        try:
            self._check_partitions()
        except PartitionCountError as error:
            logger.error("%s", error)
            await self.app.crash(error)  # an exception in a recovery callback alone is only logged by Faust
            return
        async with self.lock:
            self.active = {
                tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.options.events_topic
            }
            records = [(key, decode_record(value)) for key, value in self.table.data.items()]
            owned = [(key, record) for key, record in records if record.partition in self.active]
            self.view.rebuild(owned, self.active)
            self.pending = {}
            for key, record in owned:
                if not is_retired_key(key):
                    self._track(key, due_ms(record, self.options.params), record.partition)
            logger.info("recovered %d devices in partitions %s", len(owned), sorted(self.active))

    def _check_partitions(self) -> None:
        """Refuse to run on an events topic or changelog whose partition count is not --partitions.

        A device's record lives in the changelog partition numbered like its events partition; with
        other counts records would land where no worker looks for them.
        """
        for topic in (self.options.events_topic, self.table.changelog_topic_name):
            found = self.app.consumer.topic_partitions(topic)
            if found is not None and found != self.options.partitions:
                raise PartitionCountError(
                    f"topic {topic!r} has {found} partitions, the worker was started with --partitions "
                    f"{self.options.partitions}: start it with --partitions {found}"
                )

    async def on_revoked(self, revoked: set[TP]) -> None:
        """Partitions taken away in a rebalance: stop exporting and ticking them."""
        lost = {tp.partition for tp in revoked if tp.topic == self.options.events_topic}
        async with self.lock:
            self.active -= lost
            self.view.retain(self.active)

    async def _declare_outputs(self) -> None:
        """Create the output topics if missing, before anything is written to them (the input topic and the
        changelog are Faust's to create), and have the producer track their metadata.

        aiokafka tracks a topic's metadata only if it was missing when first sent to. A producer that
        has tracked none fetches every topic's metadata; a topic sent to then (the DLQ, say) is not
        tracked, and drops out of the metadata at the next refresh, once another topic is tracked. Its
        pending batch then never finds a leader: every flush, so every offset commit, waits forever.
        So every topic written to is added to the tracked ones (``add_topic``) of the aiokafka client under
        Faust's producer, which only Faust's private API reaches (:func:`netdown.stream.faust_private.kafka_client`).
        """
        if self._declared:
            return
        for topic in self.outputs:
            await topic.maybe_declare()
        client = faust_private.kafka_client(await self.app.maybe_start_producer())
        for name in (*(topic.get_topic_name() for topic in self.outputs), self.table.changelog_topic_name):
            await client.add_topic(name)
        self._declared = True

    async def _apply(self, key: bytes, items: list[tuple[wire.Event, Message]], now_ms: int) -> Outcome | None:
        """One device's events of the batch applied to its record; an event the detector fails on is rejected."""
        events = [(event, message.offset) for event, message in items]
        partition = items[0][1].partition
        stored = self.table.data.get(key)
        try:
            return apply_events(_decoded(stored), events, partition=partition, now_ms=now_ms, context=self.context)
        except Exception:
            logger.exception("internal error on device %r: applying its events one at a time", key)
        # From the stored bytes again: the record apply_events raised on is half-applied.
        result = apply_each(_decoded(stored), events, partition=partition, now_ms=now_ms, context=self.context)
        for index, error in result.failures:
            message = items[index][1]
            logger.error(
                "internal error on %s[%d]@%d", message.topic, message.partition, message.offset, exc_info=error
            )
            await self._reject(message, _internal_error(error))
        return result.outcome

    async def _carry_out(self, outcomes: Sequence[tuple[bytes, Outcome]]) -> None:
        """Publish the outcomes' incidents and device facts, then store their records."""
        options = self.options
        sent = []
        for key, outcome in outcomes:
            partition = outcome.record.partition
            for incident in outcome.incidents:
                value = encode_incident(incident)
                sent.append(await self._send("incidents", options.incidents_topic, key, value, partition))
            if outcome.facts is not None:
                # Kafka's default partitioner: the compacted topic may be partitioned otherwise than the events.
                sent.append(await self._send("devices", options.devices_topic, key, encode_device_facts(outcome.facts)))
        waiting = [future for future in sent if future is not None]
        if waiting:
            # Delivered (or counted as failed) before the records that say they happened are written.
            await asyncio.gather(*waiting, return_exceptions=True)
        changelog = self.table.changelog_topic_name
        for key, outcome in outcomes:
            record = outcome.record
            value = encode_record(record)
            self.table.data[key] = value
            # A record the producer refuses (the detector's bounds should make that impossible) stays in memory
            # only: a restart restores the last one written, and the device's events since are not counted.
            await self._send("changelog", changelog, key, value, record.partition)
            self.view.update(key, record, outcome.delta)
            self._track(key, due_ms(record, options.params), record.partition)

    async def _send(
        self,
        output: str,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any] | None:
        """Schedule one record; a refusal now or a failed delivery later is counted and logged, never raised.

        Raised, it would fail the batch, which is then never acked and is read and fails again after every
        restart: one record the producer cannot send (too large, not authorised) would stop the worker for
        good. The future is returned for callers that wait for delivery (None if the send was refused).
        """
        # Straight to the producer: Faust's FutureMessage buffer and send sensors cost more than the detector.
        producer = await self.app.maybe_start_producer()
        try:
            future = cast("asyncio.Future[Any]", await producer.send(topic, key, value, partition, None, headers))
        except Exception as error:
            self._write_failed(output, topic, key, error)
            return None
        future.add_done_callback(lambda done: self._delivered(output, topic, key, done))
        return future

    def _delivered(self, output: str, topic: str, key: bytes | None, done: asyncio.Future[Any]) -> None:
        """Count and log a delivery that failed after the producer accepted the record."""
        if done.cancelled():
            self._write_failed(output, topic, key, asyncio.CancelledError())
        elif done.exception() is not None:
            self._write_failed(output, topic, key, cast(BaseException, done.exception()))

    def _write_failed(self, output: str, topic: str, key: bytes | None, error: BaseException) -> None:
        self.metrics.output_errors.labels(output=output).inc()
        logger.error("a record for %s (key %r) was not written: %s: %s", topic, key, type(error).__name__, error)

    def _track(self, key: bytes, due: int | None, partition: int) -> None:
        if due is None:
            self.pending.pop(key, None)
        else:
            self.pending[key] = (due, partition)

    async def _reject(self, message: Message, rejected: Rejected) -> None:
        self.metrics.rejected.labels(reason=rejected.reason).inc()
        letter = dead_letter(
            rejected,
            key=message.key,
            value=message.value,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            original=_header_list(message.headers),
        )
        # Delivery not awaited: nothing durable records a rejection, and the offset commit waits for the producer.
        await self._send("dlq", self.options.dlq_topic, letter.key, letter.value, message.partition, letter.headers)


def _decoded(stored: bytes | None) -> DeviceRecord | None:
    """The record stored in the table, None for a device it does not hold."""
    return None if stored is None else decode_record(stored)


def _parse(message: Message) -> wire.Event | Rejected:
    """The message's event, or why it is refused."""
    try:
        return parse(message.key, message.value)
    except Exception as exc:  # any input, however broken, must not stop the worker
        logger.exception("internal error on %s[%d]@%d", message.topic, message.partition, message.offset)
        return _internal_error(exc)


def _internal_error(error: Exception) -> Rejected:
    """The rejection of a message the worker failed on: a bug to fix, the message kept to replay."""
    return Rejected(INTERNAL_ERROR, f"{type(error).__name__}: {error}")


def build_app(options: WorkerOptions) -> tuple[faust.App, Pipeline]:
    """The Faust app with its topics, table, batch consumer, timer, rebalance hooks and /metrics page."""
    app = faust.App(
        options.app_id,
        broker=options.broker,
        datadir=str(options.data_dir),
        # Device records live in memory and are restored from the changelog topic after a restart or a
        # rebalance; no standby replicas: they would double memory and changelog reads for a faster
        # failover that a few seconds of recovery do not need (the table is one small record per device).
        store="memory://",
        table_standby_replicas=0,
        topic_partitions=options.partitions,
        topic_replication_factor=options.replication_factor,
        # At-least-once delivery, exactly-once effects: a device record carries the offset of the last
        # event it applied, so replays after a crash are skipped (see netdown.stream.engine).
        # Faust's exactly_once (Kafka transactions) was tried and lost events after kill -9: after the
        # restart, one partition's committed offsets stopped advancing while its changelog moved on.
        processing_guarantee="at_least_once",
        broker_session_timeout=options.session_timeout_s,
        web_bind=options.web_host,
        web_port=options.web_port,
        consumer_auto_offset_reset="earliest",
        # Changelog writes of a few KiB each, one per device per batch: Faust's defaults (no linger, 16 KiB
        # batches) send them a handful per request, and the producer, not the detector, becomes the bottleneck.
        producer_linger=0.005,
        producer_max_batch_size=512 * 1024,
        broker_max_poll_records=options.batch_max,
    )
    # Before any topic is declared: topics register with the transport's conductor.
    transport = BatchingTransport(app.conf.broker_consumer, app)
    app.transport = transport

    def topic(name: str, *, compacting: bool | None = None) -> faust.TopicT:
        # internal=True: Faust creates it, with these partitions, if it does not exist.
        return app.topic(
            name,
            partitions=options.partitions,
            replicas=options.replication_factor,
            key_serializer="raw",
            value_serializer="raw",
            internal=True,
            compacting=compacting,
        )

    events = topic(options.events_topic)
    # The devices topic keeps each device's latest facts: compacted, its latest value per key is the inventory.
    outputs = (topic(options.incidents_topic), topic(options.dlq_topic), topic(options.devices_topic, compacting=True))
    table = cast(
        "faust.Table[bytes, bytes]",
        app.Table(TABLE_NAME, partitions=options.partitions, key_type=bytes, value_type=bytes),  # bytes: raw serializer
    )
    view = PartitionTotals()
    metrics = WorkerMetrics(
        view,
        stale_ms=options.params.stale_ms,
        info={
            "version": __version__,
            "app_id": options.app_id,
        },
        consumer_lag=lambda: _consumer_lag(app, options.events_topic),
    )
    app.monitor = WorkerMonitor(metrics=metrics.faust)
    pipeline = Pipeline(app, options=options, table=table, outputs=outputs, view=view, metrics=metrics)
    # No agent reads the events topic: subscribed here, its messages go to the pipeline in batches.
    app.topics.add(events)
    transport.deliver_batches(options.events_topic, pipeline.on_batch)
    app.timer(interval=TICK_INTERVAL_S)(pipeline.tick)
    table.on_recover(pipeline.on_recovered)

    async def on_revoked(sender: object, *args: Any, signal: object, **kwargs: Any) -> None:
        """Faust's signal sends (app, revoked partitions)."""
        await pipeline.on_revoked(args[0])

    # cast: mode's SignalHandlerT (built with mypy_extensions.VarArg/NamedArg) rejects even its own signature.
    app.on_partitions_revoked.connect(cast(Any, on_revoked))

    @app.page("/metrics")
    async def metrics_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return cast(faust.web.Response, Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}))

    return app, pipeline


def _header_list(headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None) -> list[tuple[str, bytes]]:
    """A message's headers as (name, value) pairs, whichever form the client gave them in."""
    if headers is None:
        return []
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


def _consumer_lag(app: faust.App, topic: str) -> Mapping[tuple[str, int], int]:
    """End offset minus committed offset of each partition of ``topic`` this worker has read from.

    Both come from Faust's monitor: the end offset as of the last fetch, so a consumer that stopped
    fetching shows a constant lag, not a growing one (the stalled-pipeline alert watches the event rate).
    """
    monitor = app.monitor
    return {
        (tp.topic, tp.partition): max(end - monitor.tp_committed_offsets.get(tp, 0), 0)
        for tp, end in monitor.tp_end_offsets.items()
        if tp.topic == topic
    }
