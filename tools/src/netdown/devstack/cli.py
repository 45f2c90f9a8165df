"""``netdown-kafka``: fetch, start, inspect and stop the local Apache Kafka broker.

``run`` starts the broker in the foreground, proves it serves netdown by sending one wire event
through ``netdown.events.v1`` and reading it back, and keeps the broker up until Ctrl-C (the full
demo, ``make demo``, is ``netdown-demo``).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from netdown import wire
from netdown.cli_args import positive_number
from netdown.devstack.kafka import (
    KAFKA_VERSION,
    BrokerError,
    KafkaBroker,
    api_versions_ok,
    ensure_jars,
    load_recorded,
    recorded_pid,
    stop_recorded,
)
from netdown.stamping import DeviceIdentity, stamp
from netdown.topics import EVENTS_TOPIC
from netdown.version import __version__

__all__ = ["main"]

DEFAULT_DATA_DIR: Final = Path(".netdown/kafka")
EXIT_NOT_RUNNING: Final = 3  # as `systemctl status` / LSB: "program is not running"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``netdown-kafka``."""
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BrokerError as exc:
        print(f"netdown-kafka: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netdown-kafka",
        description=f"The local single-node Apache Kafka {KAFKA_VERSION} broker (KRaft), from Maven Central jars.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    fetch = commands.add_parser("fetch", help="fetch the pinned broker's jars into the cache (idempotent)")
    fetch.set_defaults(handler=_fetch)

    for name, handler, text in (
        ("start", _start, "start the broker in the background and return once it serves"),
        ("run", _run, "start the broker in the foreground, show it serves netdown, stop on Ctrl-C"),
        ("status", _status, f"say whether the broker runs (exit {EXIT_NOT_RUNNING} if not)"),
        ("stop", _stop, "stop a broker started with `start`"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument(
            "--data-dir",
            type=Path,
            default=DEFAULT_DATA_DIR,
            help="broker config, data and logs (default: %(default)s)",
        )
        command.set_defaults(handler=handler)
        if name in {"start", "run"}:
            command.add_argument("--port", type=int, default=0, help="listener port (default: a free one)")
    commands.choices["run"].add_argument(
        "--duration",
        type=positive_number,
        default=None,
        help="stop after this many seconds instead of waiting for Ctrl-C",
    )
    return parser


def _fetch(_args: argparse.Namespace) -> int:
    print(ensure_jars())
    return 0


def _broker_for(args: argparse.Namespace) -> KafkaBroker:
    """The broker of ``--data-dir``: its recorded ports when it ran before, else ``--port`` or a free one."""
    recorded = load_recorded(args.data_dir)
    if recorded is not None and not args.port:
        return recorded
    return KafkaBroker(data_dir=args.data_dir, port=args.port)


def _start(args: argparse.Namespace) -> int:
    broker = _broker_for(args)
    broker.start(detach=True)
    print(f"Kafka {KAFKA_VERSION} serving on {broker.bootstrap} after {broker.startup_seconds:.1f}s (pid {broker.pid})")
    print(f"logs: {broker.log_path}")
    return 0


def _status(args: argparse.Namespace) -> int:
    pid = recorded_pid(args.data_dir)
    broker = load_recorded(args.data_dir)
    if pid is None or broker is None or not api_versions_ok("127.0.0.1", broker.port):
        print(f"Kafka is not running on {args.data_dir}")
        return EXIT_NOT_RUNNING
    print(f"Kafka {KAFKA_VERSION} serving on {broker.bootstrap} (pid {pid})")
    return 0


def _stop(args: argparse.Namespace) -> int:
    pid = stop_recorded(args.data_dir)
    print(f"stopped Kafka (pid {pid})" if pid else f"Kafka was not running on {args.data_dir}")
    return 0


def _run(args: argparse.Namespace) -> int:
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    broker = _broker_for(args)
    print(f"netdown {__version__}: starting Apache Kafka {KAFKA_VERSION} (KRaft, single node) in {args.data_dir} ...")
    with broker:
        print(f"Kafka serving on {broker.bootstrap} after {broker.startup_seconds:.1f}s (pid {broker.pid})")
        print(f"broker log: {broker.log_path}")
        elapsed_ms = _round_trip(broker.bootstrap)
        print(f"wire event produced to and consumed back from {EVENTS_TOPIC} in {elapsed_ms:.0f} ms")
        print("Ctrl-C stops the broker." if args.duration is None else f"stopping in {args.duration:.0f}s")
        with contextlib.suppress(KeyboardInterrupt):
            stop_requested.wait(args.duration)
        print("stopping Kafka ...")
    return 0


def _round_trip(bootstrap: str) -> float:
    """Send one heartbeat through ``netdown.events.v1`` with kafka-python and read it back; ms taken."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: PLC0415 - agent extra; only `run` needs it
    from kafka.admin import KafkaAdminClient, NewTopic  # noqa: PLC0415
    from kafka.errors import TopicAlreadyExistsError  # noqa: PLC0415

    started = time.monotonic()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="netdown-kafka")
    try:
        admin.create_topics([NewTopic(EVENTS_TOPIC, num_partitions=6, replication_factor=1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    identity = DeviceIdentity(
        device_id="netdown-selfcheck", boot_id=str(uuid.uuid4()), platform="linux", os_version="0", os_build=""
    )
    body = wire.HeartbeatBody(
        uptime_s=int(time.monotonic()), facts=wire.Facts(), spool=wire.SpoolState(pending=0, dropped=0)
    )
    event = stamp(identity, body, seq=0, ts_ms=int(time.time() * 1000), event_id=str(uuid.uuid4()))
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    sent = producer.send(EVENTS_TOPIC, key=event.device_id.encode(), value=wire.encode(event)).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=30_000)
    partition = TopicPartition(sent.topic, sent.partition)
    consumer.assign([partition])
    consumer.seek(partition, sent.offset)
    record = next(iter(consumer))
    consumer.close()
    if wire.decode(record.value) != event:
        raise BrokerError(f"the event read back from {EVENTS_TOPIC} differs from the one sent")
    return (time.monotonic() - started) * 1000
