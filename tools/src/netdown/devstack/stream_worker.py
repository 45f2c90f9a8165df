"""A real ``netdown-stream worker`` process against a real broker, and what tests and benchmarks do around it.

The integration tests and ``benchmarks.worker_throughput`` drive the worker exactly as production
does, from outside: topics are created and events produced with kafka-python (the agent's client),
the worker runs as its own process (so a test can ``kill -9`` it), and what it did is read back from
its output topics and scraped from its ``/metrics`` over HTTP.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Self

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError
from prometheus_client.parser import text_string_to_metric_families

from netdown.devstack.kafka import _tied_to_parent, free_port, terminate

__all__ = ["Metrics", "Record", "StreamWorker", "create_topics", "produce", "read_topic"]


class Metrics:
    """A parsed ``/metrics`` scrape, queried the way PromQL sums: over every label not named."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]

    @classmethod
    def together(cls, *scrapes: Metrics) -> Metrics:
        """Several workers' scrapes as one, as Prometheus sums over ``instance``."""
        combined = cls("")
        combined.samples = [sample for scrape in scrapes for sample in scrape.samples]
        return combined

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels`` (0 when there are none)."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and all(sample.labels.get(key) == want for key, want in labels.items())
        )

    def summary(self, prefix: str = "netdown_") -> dict[str, float]:
        """Each metric whose name starts with ``prefix``, summed over all its labels (for failure messages)."""
        sums: dict[str, float] = {}
        for sample in self.samples:
            if sample.name.startswith(prefix):
                sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
        return sums

    def by(self, name: str, label: str) -> dict[str, float]:
        """Sum of the samples called ``name`` by the values of one label (``sum by (label)``)."""
        return {key[0]: value for key, value in self.sum_by(name, label).items()}

    def sum_by(self, name: str, *labels: str) -> dict[tuple[str, ...], float]:
        """Sum of the samples called ``name`` by the values of some labels (``sum by (a, b, ...)``)."""
        sums: dict[tuple[str, ...], float] = {}
        for sample in self.samples:
            if sample.name == name and all(label in sample.labels for label in labels):
                key = tuple(sample.labels[label] for label in labels)
                sums[key] = sums.get(key, 0.0) + sample.value
        return sums


class Record(NamedTuple):
    """One message read back from a topic."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int
    offset: int


@dataclass
class StreamWorker:
    """One ``netdown-stream worker`` subprocess; its log is ``data_dir/worker.log``."""

    bootstrap: str
    data_dir: Path
    app_id: str
    events_topic: str
    incidents_topic: str
    dlq_topic: str
    partitions: int = 3
    extra_args: Sequence[str] = ()
    web_port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @classmethod
    def named(cls, bootstrap: str, data_dir: Path, name: str, **options: Any) -> StreamWorker:
        """A worker whose app id and topics are all named after ``name``, so runs on one broker stay apart."""
        return cls(
            bootstrap=bootstrap,
            data_dir=data_dir,
            app_id=f"{name}.worker",
            events_topic=f"{name}.events",
            incidents_topic=f"{name}.incidents",
            dlq_topic=f"{name}.dlq",
            **options,
        )

    @property
    def log_path(self) -> Path:
        """Everything the worker printed, across restarts."""
        return self.data_dir / "worker.log"

    @property
    def metrics_url(self) -> str:
        """Where the worker serves Prometheus metrics."""
        return f"http://127.0.0.1:{self.web_port}/metrics"

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def command(self) -> list[str]:
        """The worker's command line (the installed CLI's ``main``, under this interpreter)."""
        return [
            sys.executable,
            "-c",
            "import sys; from netdown.stream.cli import main; sys.exit(main())",
            "worker",
            f"--broker=kafka://{self.bootstrap}",
            f"--app-id={self.app_id}",
            f"--events-topic={self.events_topic}",
            f"--incidents-topic={self.incidents_topic}",
            f"--dlq-topic={self.dlq_topic}",
            f"--partitions={self.partitions}",
            "--web-host=127.0.0.1",
            f"--web-port={self.web_port}",
            f"--data-dir={self.data_dir / 'faust'}",
            *self.extra_args,
        ]

    def start(self) -> None:
        """Launch the worker (tied to this process: it dies with us).

        In a session of its own, like the broker: a Ctrl-C at the terminal reaches only us, and we
        stop the worker in our own order (the demo stops Prometheus before it, so no alert sees it go).
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                _tied_to_parent(self.command()),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL, as a crash: no commit, no flush, no goodbye to the group."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (a clean shutdown), SIGKILL after ``timeout``; the exit code, or None if it was not running."""
        process, self._process = self._process, None
        return None if process is None else terminate(process, timeout)

    def scrape(self) -> Metrics | None:
        """The worker's metrics now, or None while its web server does not answer."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
                return Metrics(response.read().decode())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def wait_for(self, condition: Callable[[Metrics], bool], timeout: float, *, every: float = 0.2) -> Metrics:
        """Scrape until ``condition`` holds; fail with the log's tail if the worker dies or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if self.pid is None:
                raise AssertionError(f"the worker is not running; its log ends:\n{self.log_tail()}")
            metrics = self.scrape()
            if metrics is not None and condition(metrics):
                return metrics
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"condition not met within {timeout}s; last scrape: {metrics and metrics.summary()}; "
                    f"worker log ends:\n{self.log_tail()}"
                )
            time.sleep(every)

    def log_tail(self, size: int = 4000) -> str:
        """The end of the worker's log, for failure messages."""
        return self.log_path.read_text(errors="replace")[-size:] if self.log_path.exists() else "(no log)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def create_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    """Create topics (replication 1) unless they exist; the broker does not auto-create them."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for name in names:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Publish (key, value) messages as the agent does (acks=all, keyed by device); how many were sent."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=256 * 1024, compression_type="gzip"
    )
    sent = 0
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
            sent += 1
        producer.flush()
    finally:
        producer.close()
    return sent


def read_topic(bootstrap: str, topic: str, *, timeout: float = 60.0) -> list[Record]:
    """Every committed message of ``topic`` up to its current end, in (partition, offset) order."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed", group_id=None
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: could not read up to {ends} within {timeout}s")
            for batch in consumer.poll(timeout_ms=500).values():
                records += [Record(r.key, r.value, list(r.headers or ()), r.partition, r.offset) for r in batch]
        return sorted(records, key=lambda record: (record.partition, record.offset))
    finally:
        consumer.close()
