"""The demo's services: a Kafka broker, a stream worker, Alertmanager and Prometheus, started and stopped as one.

Every service is a real process tied to the demo (``setpriv --pdeathsig``), so even a ``kill -9``
of the demo leaves nothing behind; an orderly stop (Ctrl-C, SIGTERM, the end of ``--duration``)
stops them in reverse order of start. The worker runs with the production topic names and the
demo's short detection parameters; Prometheus scrapes it as the rules expect and loads the
project's rules rendered with the demo's time scale, and sends its alerts to Alertmanager running
the shipped routing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from netdown.dashboards.config import Config
from netdown.dashboards.rules import write_rule_files
from netdown.detection.detector import DetectorParams
from netdown.devstack.alertmanager import Alertmanager
from netdown.devstack.http_service import ServiceError
from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.prometheus import Prometheus, PrometheusError
from netdown.devstack.stream_worker import Metrics, StreamWorker, create_topics
from netdown.stream.settings import detector_flags
from netdown.topics import DLQ_TOPIC, EVENTS_TOPIC, INCIDENTS_TOPIC

__all__ = ["Stack"]

# The production names (the worker's defaults), so what the demo shows is what an operator would see.
APP_ID: Final = "netdown-stream"
WORKER_READY_S: Final = 120.0
PROMETHEUS_SEES_WORKER_S: Final = 60.0


@dataclass
class Stack:
    """The four services of the demo, their data under ``workdir``; ports are free ones chosen at construction."""

    workdir: Path
    params: DetectorParams
    rules: Config
    metric_apps: tuple[str, ...] = ()
    partitions: int = 3
    broker: KafkaBroker = field(init=False)
    worker: StreamWorker = field(init=False)
    alertmanager: Alertmanager = field(init=False)
    prometheus: Prometheus = field(init=False)
    _running: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, init=False, repr=False)

    def __post_init__(self) -> None:
        self.broker = KafkaBroker(data_dir=self.workdir / "kafka")
        self.worker = StreamWorker(
            bootstrap=self.broker.bootstrap,
            data_dir=self.workdir / "worker",
            app_id=APP_ID,
            events_topic=EVENTS_TOPIC,
            incidents_topic=INCIDENTS_TOPIC,
            dlq_topic=DLQ_TOPIC,
            partitions=self.partitions,
            extra_args=[*detector_flags(self.params), f"--metric-apps={','.join(self.metric_apps)}"],
        )
        self.alertmanager = Alertmanager(self.workdir / "alertmanager")
        self.prometheus = Prometheus(
            self.workdir / "prometheus",
            targets=[self.worker.metrics_url.split("/")[2]],
            rule_files=write_rule_files(self.workdir / "rules", self.rules),
            alertmanagers=[self.alertmanager.address],
        )

    def start(self, say: Callable[[str], None]) -> None:
        """Start every service, saying what it is doing; on any failure, stop what was started and re-raise."""
        try:
            say(f"starting Kafka on {self.broker.bootstrap}")
            self._running.enter_context(self.broker)
            create_topics(self.broker.bootstrap, [EVENTS_TOPIC], self.partitions)
            say("starting the stream worker")
            self._running.enter_context(self.worker)
            # Ready once its group has assigned the partitions (to it, the only member): it consumes from then on.
            self._wait_worker(
                lambda metrics: metrics.value("faust_assignment_operations_total", operation="completed") > 0,
                WORKER_READY_S,
                "start",
            )
            say(f"starting Alertmanager on {self.alertmanager.url}")
            self._running.enter_context(self.alertmanager)
            say(f"starting Prometheus on {self.prometheus.url}")
            self._running.enter_context(self.prometheus)
            self._wait_first_scrape()
        except BaseException:
            self.stop()
            raise

    def _wait_first_scrape(self) -> None:
        """Wait until Prometheus has scraped the worker and its rules see a healthy pipeline.

        Prometheus scrapes a new target only after its discovery settles (about 5 s); until then
        ``up`` is absent, which the stalled-pipeline rule rightly reads as "no worker up". The demo's
        fleet starts once that has cleared, so the alerts on screen are about the fleet.
        """
        deadline = time.monotonic() + PROMETHEUS_SEES_WORKER_S
        while not (self.prometheus.targets_up() and not self.prometheus.alerts()):
            if time.monotonic() > deadline:
                raise PrometheusError(f"Prometheus did not see a healthy worker within {PROMETHEUS_SEES_WORKER_S:g}s")
            time.sleep(0.2)

    def wait_caught_up(self, timeout: float) -> None:
        """Wait until the worker has processed and committed everything on the events topic."""
        self._wait_worker(
            # The lag is reported per partition once the worker has read from it.
            lambda metrics: (
                bool(metrics.by("netdown_consumer_lag", "partition")) and metrics.value("netdown_consumer_lag") == 0
            ),
            timeout,
            "catch up",
        )

    def _wait_worker(self, condition: Callable[[Metrics], bool], timeout: float, what: str) -> None:
        """:meth:`StreamWorker.wait_for`, its failure (a test helper's AssertionError) as a :class:`ServiceError`."""
        try:
            self.worker.wait_for(condition, timeout)
        except AssertionError as exc:
            raise ServiceError(f"the stream worker did not {what} (its log: {self.worker.log_path}): {exc}") from None

    def stop(self) -> None:
        """Stop whatever runs, last started first (each waits for its process to exit)."""
        self._running.close()

    def pids(self) -> dict[str, int | None]:
        """Each service's process id while it runs (what a person or a test checks is gone afterwards)."""
        return {
            "kafka": self.broker.pid,
            "worker": self.worker.pid,
            "alertmanager": self.alertmanager.pid,
            "prometheus": self.prometheus.pid,
        }
