"""``netdown-demo``: a simulated fleet of Macs through the real pipeline, watched live (``make demo``).

Starts a Kafka broker, a stream worker, Alertmanager and Prometheus with the project's rules
(:mod:`netdown.demo.stack`), then publishes a simulated fleet through the agent's spool and
publisher in real time (:mod:`netdown.sim`) and shows what Prometheus and Alertmanager see
(:mod:`netdown.demo.view`). Ctrl-C (or SIGTERM, or a closed terminal) stops everything it started.

With ``--duration`` the fleet runs for that long; then the demo lets the worker finish (its
lateness), reads the incidents it wrote, stops everything and scores them against the
simulator's ground truth: the last line of output is ``precision=P recall=R``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Final

from rich.console import Console
from rich.live import Live

from netdown.cli_args import positive_int, positive_number
from netdown.demo import scenario
from netdown.demo.stack import Stack
from netdown.demo.summary import alerts_line, fleet_line, scored, stopped
from netdown.demo.view import Run, render, status_line
from netdown.demo.watch import Watcher
from netdown.devstack.http_service import ServiceError
from netdown.devstack.kafka import BrokerError
from netdown.devstack.stream_worker import read_topic
from netdown.sim import MONITORED_APP, Simulation, score, simulate
from netdown.sim.files import read_incidents
from netdown.sim.live import LivePublisher
from netdown.topics import INCIDENTS_TOPIC

__all__ = ["main"]

DEFAULT_DEVICES: Final = 300
DEFAULT_WORKDIR: Final = Path(".netdown/demo")
# Without --duration the fleet is simulated up front for 30 min (then it goes quiet until Ctrl-C): a
# device's history must be continuous, so it cannot be generated in independent pieces. A large fleet
# gets a shorter span, so that simulating it stays a matter of seconds and memory (300 Macs x 30 min
# is ~190k events, ~2.5 s), down to 5 min.
UNTIL_STOPPED_S: Final = 30 * 60
UNTIL_STOPPED_DEVICE_S: Final = 300 * UNTIL_STOPPED_S
UNTIL_STOPPED_MIN_S: Final = 5 * 60
REFRESH_S: Final = 1.0
STATUS_EVERY_S: Final = 5.0
# After the last event: the worker's lateness L, plus two of its 1 s ticks for the decisions to be written.
_TICKS_S: Final = 2.0
DRAIN_TIMEOUT_S: Final = 120.0
EXIT_INTERRUPTED: Final = 130
_MARKER: Final = ".netdown-demo"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``netdown-demo``."""
    args = _parser().parse_args(argv)
    console = Console(highlight=False)
    with _stop_signals_interrupt():
        try:
            return _Demo(args, console).run()
        except (BrokerError, ServiceError) as exc:
            console.print(f"netdown-demo: {exc}", markup=False)
            return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netdown-demo",
        description=(
            "Run a simulated fleet through a real Kafka broker, stream worker, Prometheus and Alertmanager, "
            "and watch it live. Ctrl-C stops everything it started."
        ),
    )
    parser.add_argument(
        "--devices", type=positive_int, default=DEFAULT_DEVICES, help="simulated Macs (default: %(default)s)"
    )
    parser.add_argument(
        "--duration",
        type=positive_number,
        default=None,
        help="run the fleet for this many seconds, then stop everything and print a scored summary "
        "(default: run until Ctrl-C)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the simulated fleet's seed (default: %(default)s)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="data and logs of every service, emptied at start (default: %(default)s)",
    )
    return parser


def _fresh_workdir(workdir: Path) -> Path:
    """``workdir`` emptied (absolute), refusing a non-empty folder an earlier demo did not create."""
    workdir = workdir.absolute()
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / _MARKER).exists():
        raise SystemExit(f"netdown-demo: {workdir} is not empty and not a demo's folder; choose another --workdir")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    (workdir / _MARKER).write_text("netdown-demo empties this folder at start\n", encoding="utf-8")
    return workdir


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP (a closed terminal) stop the demo as Ctrl-C does, so its clean-up runs.

    SIGINT too, though Python raises KeyboardInterrupt for it by default: a process started in the background
    of a non-interactive shell (a CI script's ``&``) inherits SIGINT ignored, and Python then leaves it so;
    a ``kill -INT`` would not stop the demo.
    """

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _uninterruptible() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while the services stop: a second Ctrl-C must not cut the clean-up short."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Demo:
    """One run of the demo: start, publish and watch, then (``--duration``) drain, score, and stop."""

    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args = args
        self.console = console
        self.duration_s: float = args.duration or max(
            UNTIL_STOPPED_MIN_S, min(UNTIL_STOPPED_S, UNTIL_STOPPED_DEVICE_S / args.devices)
        )
        self.workdir: Path = _fresh_workdir(args.workdir)
        self.stack = Stack(
            self.workdir,
            scenario.PARAMS,
            scenario.rules(args.devices),
            metric_apps=(MONITORED_APP,),
        )
        self.stop_publishing = threading.Event()
        self.published = threading.Event()
        self.publisher: LivePublisher | None = None

    def say(self, message: str) -> None:
        """A progress line (plain text: service logs and paths may hold brackets rich would read as markup)."""
        self.console.print(message, markup=False, soft_wrap=True)

    def run(self) -> int:
        """The whole demo; its exit code (130 when a ``--duration`` run was interrupted)."""
        scored_lines: list[str] = []
        interrupted = False
        pids: dict[str, int | None] = {}
        watcher: Watcher | None = None
        thread: threading.Thread | None = None
        try:
            self.stack.start(self.say)
            pids = self.stack.pids()
            self.say("services: " + ", ".join(f"{name} pid {pid}" for name, pid in pids.items()))
            self.say(f"simulating {self.args.devices} Macs for {self.duration_s:.0f} s (seed {self.args.seed})")
            simulation = simulate(
                scenario.fleet(self.args.devices, self.args.seed),
                start_ms=time.time_ns() // 1_000_000,
                duration_ms=round(self.duration_s * 1000),
                params=scenario.PARAMS,
                agent=scenario.AGENT,
            )
            self.publisher = LivePublisher(
                simulation, self.stack.broker.bootstrap, self.workdir / "spool", topic=self.stack.worker.events_topic
            )
            thread = threading.Thread(target=self._publish, name="demo-fleet", daemon=True)
            thread.start()
            watcher = Watcher(self.stack.prometheus, self.stack.alertmanager, self.publisher.progress)
            run = Run(
                devices=self.args.devices,
                start_ms=simulation.start_ms,
                duration_s=self.duration_s,
                until_stopped=self.args.duration is None,
                urls=self._urls(),
            )
            self._watch(watcher, run, until=lambda: self._fleet_over(simulation))
            self.stop_publishing.set()
            thread.join()
            scored_lines = self._score(simulation)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            with _uninterruptible():
                self.stop_publishing.set()
                if thread is not None:
                    thread.join(timeout=30)
                self.stack.stop()
        if watcher is not None:
            self.say(alerts_line(watcher.seen))
        self.say(stopped(pids))
        for line in scored_lines or self._fleet_line():
            self.say(line)
        return EXIT_INTERRUPTED if interrupted and self.args.duration else 0

    def _fleet_line(self) -> list[str]:
        """How far the fleet got (for a run without a score)."""
        if self.publisher is None:
            return []
        progress = self.publisher.progress()
        elapsed_s = max(0, progress.sim_ms - self.publisher.simulation.start_ms) / 1000
        return [fleet_line(self.args.devices, elapsed_s, self.args.seed, progress.sent)]

    def _fleet_over(self, simulation: Simulation) -> bool:
        """A ``--duration`` run is over at the end of its span (resends due later are not waited for)."""
        if self.args.duration is None:
            return False
        return self.published.is_set() or time.time_ns() // 1_000_000 >= simulation.end_ms

    def _publish(self) -> None:
        assert self.publisher is not None
        try:
            self.publisher.run(self.stop_publishing)
        finally:
            self.published.set()

    def _urls(self) -> dict[str, str]:
        prometheus, alertmanager = self.stack.prometheus.url, self.stack.alertmanager.url
        return {
            "worker metrics": self.stack.worker.metrics_url,
            "Prometheus alerts": f"{prometheus}/alerts",
            "Prometheus graph": f"{prometheus}/graph?g0.expr=sum+by+(os_version)+(netdown_devices_affected)",
            "Alertmanager": alertmanager,
            "logs": str(self.workdir),
        }

    def _watch(self, watcher: Watcher, run: Run, until: Callable[[], bool]) -> None:
        """Redraw the view every second (a status line every few seconds off a terminal) until ``until()``."""
        if self.console.is_terminal:
            with Live(render(watcher.snapshot(), run), console=self.console, auto_refresh=False) as live:
                while not until():
                    time.sleep(REFRESH_S)
                    live.update(render(watcher.snapshot(), run), refresh=True)
            return
        next_line = 0.0
        while not until():
            if time.monotonic() >= next_line:
                self.say(status_line(watcher.snapshot(), run))
                next_line = time.monotonic() + STATUS_EVERY_S
            time.sleep(REFRESH_S)
        self.say(status_line(watcher.snapshot(), run))

    def _score(self, simulation: Simulation) -> list[str]:
        """After the fleet's run: let the worker finish, read its incidents, score them against the truth."""
        if self.args.duration is None:
            return []
        self.say("fleet done: waiting for the worker to consume every event and decide (its lateness)")
        self._drain()
        incidents = read_incidents(
            record.value for record in read_topic(self.stack.broker.bootstrap, INCIDENTS_TOPIC) if record.value
        )
        assert self.publisher is not None
        return scored(
            fleet=fleet_line(self.args.devices, self.duration_s, self.args.seed, self.publisher.progress().sent),
            truth=simulation.truth,
            incidents=incidents,
            score=score(simulation.truth, incidents, params=scenario.PARAMS, end_ms=simulation.end_ms),
        )

    def _drain(self) -> None:
        """Wait until the worker has consumed every event, then for its lateness and two ticks."""
        self.stack.wait_caught_up(DRAIN_TIMEOUT_S)
        time.sleep(scenario.PARAMS.lateness_ms / 1000 + _TICKS_S)


if __name__ == "__main__":
    sys.exit(main())
