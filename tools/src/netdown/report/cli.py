"""``netdown-report``: answers with numbers a person can act on, from Prometheus, the topics or NDJSON files.

* ``releases``: per release and build, episodes per 1,000 device-days with intervals, the ratio to
  the rest of the fleet, stuck share and durations; the clearly worse ones flagged; ``--compare A B``.
* ``suspects``: which device facts (network extensions, VPN flags, builds) go with being affected.

Exit status: 0 with a report, 2 when a source cannot be read, holds no data in the window, or an
option is wrong (one line on stderr says which), 1 when the output cannot be written.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NamedTuple

from netdown import cli_io
from netdown.cli_args import env_default, parse_duration, positive_number
from netdown.dashboards.config import CONFIG
from netdown.detection.detector import DetectorParams
from netdown.detection.device_facts import DeviceFacts
from netdown.detection.incident import Incident
from netdown.report import releases, render, suspects
from netdown.report.figures import GroupFigures, figures_from_prometheus, figures_from_records
from netdown.report.sources import KafkaTopics, PrometheusAPI, SourceError, load_devices, load_incidents
from netdown.report.window import Window, parse_time
from netdown.topics import DEVICES_TOPIC, INCIDENTS_TOPIC

__all__ = ["build_parser", "main"]

PROG: Final = "netdown-report"


class UsageError(Exception):
    """An option's value is wrong or the data cannot answer; the message is one line."""


def build_parser() -> argparse.ArgumentParser:
    """The command line of both reports."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser(
        "releases",
        help="incidence per release and build, with intervals; which release is worse than the rest",
        description=_plain(releases.__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    release.add_argument(
        "--prometheus",
        metavar="URL",
        default=env_default("prometheus", "") or None,
        help="Prometheus base URL (env NETDOWN_PROMETHEUS); without it releases come from --devices/--incidents",
    )
    release.add_argument(
        "--selector",
        default=CONFIG.selector,
        help=f"label matchers that pick the workers' series (default: {CONFIG.selector})",
    )
    release.add_argument("--compare", nargs=2, metavar=("A", "B"), help="A's incidence over B's, with a verdict")
    release.add_argument("--chart", type=Path, metavar="FILE.png", help="also draw the incidences to a PNG")
    release.add_argument(
        "--stuck-after",
        type=positive_number,
        default=DetectorParams().stuck_ms / 1000,
        metavar="SECONDS",
        help="the detector's stuck threshold T, for the stuck share of builds (default: %(default)g)",
    )
    _common(release)
    suspect = commands.add_parser(
        "suspects",
        help="which device facts go with being affected: lift with intervals, ranked",
        description=_plain(suspects.__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    suspect.add_argument(
        "--min-devices",
        type=int,
        default=suspects.DEFAULT_MIN_DEVICES,
        help="a fact is ranked only with at least this many devices with it and without it (default: %(default)s)",
    )
    suspect.add_argument(
        "--min-affected",
        type=int,
        default=suspects.DEFAULT_MIN_AFFECTED,
        help="... and at least this many affected devices in all (default: %(default)s)",
    )
    _common(suspect)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    """Options both reports share: the window, the inputs, the output."""
    window = parser.add_argument_group("window")
    window.add_argument("--range", default="7d", help="how far back: 7d, 3h, 90s, 1h30m (default: %(default)s)")
    window.add_argument(
        "--at",
        metavar="TIME",
        help="end of the window, Unix seconds or ISO 8601 (default: now with --prometheus, "
        "else the latest event time in the inputs)",
    )
    window.add_argument("--confidence", type=float, default=0.95, help="of every interval (default: %(default)s)")
    inputs = parser.add_argument_group("device facts and incidents (files, or topics on a broker)")
    inputs.add_argument("--devices", type=Path, metavar="FILE", help="NDJSON device facts (replay --devices-out)")
    inputs.add_argument("--incidents", type=Path, metavar="FILE", help="NDJSON incidents (replay's output)")
    inputs.add_argument(
        "--broker",
        default=env_default("broker", "") or None,
        help="Kafka bootstrap, host:port or kafka://host:port (env NETDOWN_BROKER): read the topics below",
    )
    inputs.add_argument("--devices-topic", default=DEVICES_TOPIC, help="(default: %(default)s)")
    inputs.add_argument("--incidents-topic", default=INCIDENTS_TOPIC, help="(default: %(default)s)")
    inputs.add_argument(
        "--timeout", type=positive_number, default=30.0, help="seconds to wait for a source (default: 30)"
    )
    parser.add_argument("--format", choices=render.FORMATS, default="table", help="(default: %(default)s)")


# --- reading ------------------------------------------------------------------------------------------


def _topics(args: argparse.Namespace) -> KafkaTopics | None:
    if not args.broker:
        return None
    bootstrap = ",".join(part.removeprefix("kafka://") for part in args.broker.split(";") if part)
    return KafkaTopics(bootstrap, timeout_s=args.timeout)


class _Records(NamedTuple):
    """Device facts and incidents, and where they came from (for messages and the report header)."""

    devices: list[DeviceFacts]
    incidents: list[Incident]
    origin: str


def _records(args: argparse.Namespace, *, required: bool) -> _Records | None:
    """The device facts and incidents asked for; None when none were asked for and none are required."""
    topics = _topics(args)
    if args.devices is None and args.incidents is None and topics is None:
        if required:
            raise UsageError("give --devices FILE and --incidents FILE, or --broker HOST:PORT")
        return None
    if (args.devices is None) != (args.incidents is None) and topics is None:
        raise UsageError("--devices and --incidents go together (or give --broker to read the topics)")
    devices = load_devices(args.devices, topics, args.devices_topic)
    incidents = load_incidents(args.incidents, topics, args.incidents_topic)
    origin = (
        f"files {args.devices} and {args.incidents}"
        if args.devices is not None
        else f"topics {args.devices_topic} and {args.incidents_topic} on {topics.bootstrap if topics else ''}"
    )
    return _Records(devices, incidents, origin)


def _window(args: argparse.Namespace, records: _Records | None) -> Window:
    """``--range`` ending ``--at``, or now (Prometheus), or the inputs' latest event time, at most now."""
    try:
        length = parse_duration(args.range)
        at = parse_time(args.at) if args.at is not None else None
    except ValueError as exc:
        raise UsageError(f"--range/--at: {exc}") from None
    if at is None:
        if getattr(args, "prometheus", None) or records is None:
            at = time.time_ns() // 1_000_000
        else:
            times = [device.last_seen_ms for device in records.devices]
            times += [incident.closed_ms or incident.opened_ms for incident in records.incidents]
            if not times:
                raise UsageError("the device facts and incidents are empty")
            # Never past now: a device's clock ahead (within the workers' skew bound) must not move the window.
            at = min(max(times), time.time_ns() // 1_000_000)
    return Window.ending(at, length)


# --- the commands ---------------------------------------------------------------------------------------


def _releases(args: argparse.Namespace) -> render.Document:
    records = _records(args, required=args.prometheus is None)
    window = _window(args, records)
    stuck_after_ms = round(args.stuck_after * 1000)
    builds: list[GroupFigures] | None = None
    builds_source = None
    if records is not None:
        builds_source = records.origin
        builds = figures_from_records(records.devices, records.incidents, window, "build", stuck_after_ms)
    if args.prometheus:
        versions = figures_from_prometheus(PrometheusAPI(args.prometheus, args.timeout), window, args.selector)
        versions_source = f"Prometheus {args.prometheus} ({{{args.selector}}})"
    else:
        assert records is not None  # required above
        versions_source = records.origin
        versions = figures_from_records(records.devices, records.incidents, window, "version", stuck_after_ms)
    if not any(group.device_days > 0 or group.episodes for group in versions):
        raise UsageError(f"no active devices and no episodes from {versions_source} in {window.describe()}")
    try:
        report = releases.releases_report(
            window,
            versions,
            builds,
            confidence=args.confidence,
            versions_source=versions_source,
            builds_source=builds_source,
            pair=tuple(args.compare) if args.compare else None,
        )
    except KeyError as missing:
        known = sorted({group.name for group in [*versions, *(builds or [])]})
        raise UsageError(f"--compare: no release or build {missing} in the window; known: {', '.join(known)}") from None
    if args.chart is not None:
        from netdown.report.chart import write_chart  # noqa: PLC0415 (matplotlib only when a chart is asked for)

        try:
            write_chart(report, args.chart)
        except OSError as exc:
            raise _OutputError(f"cannot write {args.chart}: {cli_io.os_reason(exc)}") from None
    return releases.document(report)


def _suspects(args: argparse.Namespace) -> render.Document:
    records = _records(args, required=True)
    assert records is not None  # required
    window = _window(args, records)
    report = suspects.suspects(
        records.devices,
        records.incidents,
        window,
        confidence=args.confidence,
        min_devices=args.min_devices,
        min_affected=args.min_affected,
    )
    if report.devices == 0:
        raise UsageError(f"no device in {records.origin} was seen in {window.describe()}")
    return suspects.document(report)


class _OutputError(Exception):
    """An output file could not be written (exit 1)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``netdown-report``."""
    args = build_parser().parse_args(argv)
    prog = f"{PROG} {args.command}"
    try:
        if not 0 < args.confidence < 1:
            raise UsageError(f"--confidence must be between 0 and 1, got {args.confidence}")
        document = _releases(args) if args.command == "releases" else _suspects(args)
    except (UsageError, SourceError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return cli_io.EXIT_INPUT_UNREADABLE
    except _OutputError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return cli_io.EXIT_OUTPUT_FAILED
    out = cli_io.Output(
        sys.stdout.buffer, closed=f"{prog}: stdout closed before the report was written", failed=f"{prog}: cannot write"
    )
    try:
        out.write(render.render(document, args.format).encode())
        out.flush()
    except cli_io.OutputClosed:
        return cli_io.EXIT_OUTPUT_FAILED
    return cli_io.EXIT_OK


def _plain(docstring: str | None) -> str | None:
    """A module docstring as ``--help`` text: reST roles and double backticks read as plain backticks."""
    return None if docstring is None else re.sub(r"(?::\w+:)?``?([^`]+)``?", r"`\1`", docstring).replace("**", "")
