"""Turn a captured macOS log into the wire events netdown would have sent.

For a user with a capture rather than a running agent: a `log show`/`log stream` capture in any
style (default, compact, json, ndjson, syslog), a Console.app or Xcode copy, syslog-era lines, or
the output of `log show` on a sysdiagnose's system_logs.logarchive, mixed in one file if need be.
Reads --input FILE (`-` for stdin), writes one wire event (contract v1) per line to stdout, in
input order with seq from 0, and a summary to stderr: lines read, records by layout, events by
type, unknown lines, too-long lines, undecodable bytes. Unknown lines are counted, never fatal:
the exit status is 0 whenever the input could be read, 2 when it cannot, 1 when stdout closes
early. The output is deterministic: the same input and options give the same bytes (event_id is
derived from the device id, the line number and the event's place on the line). Recognised
layouts, redaction and the time assumptions: docs/parse-log.md.
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import IO, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from netdown import cli_io, wire
from netdown.agent.sources.unified_log import (
    LAYOUTS,
    LINE_LIMIT,
    LineTally,
    MessageKind,
    Parsed,
    ParseOptions,
    ParseTally,
    SplitOptions,
    Transitions,
    parse_lines,
    read_lines,
)
from netdown.stamping import DeviceIdentity, stamp

__all__ = [
    "NAME",
    "ParseLogSummary",
    "configure_parser",
    "default_device_id",
    "format_summary",
    "parse_stream",
    "parse_zone",
    "run",
    "stream_options",
]

NAME: Final = "parse-log"
_PROG: Final = f"netdown-agent {NAME}"
DEFAULT_BOOT_ID: Final = "unknown-boot"
HASH_KEY_ENV: Final = "NETDOWN_HASH_KEY"
# event_id = uuid5(this, "<device_id>/<line>/<index>"): a re-run names every event the same way.
_EVENT_NAMESPACE: Final = uuid.UUID("3b0f5c1e-8a47-4d2b-9c61-5e7a0d4f2b18")
_APP_ID: Final = re.compile(r"(?P<process>[^=]{1,256})=(?P<bundle>[^=\s]{1,256})")
_OFFSET: Final = re.compile(r"(?P<sign>[+-])(?P<hh>\d\d):?(?P<mm>\d\d)")
_DEVICE_ID: Final = re.compile(wire.DEVICE_ID_PATTERN)
_WRITE_BATCH: Final = 256


class ParseLogSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a parse read and found; every bounded key present, zero or not."""

    input: str
    lines: int
    blank: int
    furniture: int
    continuation: int
    unknown: int
    first_unknown_line: int | None
    too_long: int
    truncated_json: int
    undecodable_bytes: int
    assumed_date: int
    records: dict[str, int]
    messages: dict[str, int]
    events: dict[str, int]
    collapsed: int
    written: int
    invalid: int  # observations the wire contract refused (a parser bug if ever nonzero)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Declare ``parse-log``'s options."""
    parser.add_argument("--input", required=True, metavar="FILE", help="the captured log; `-` reads stdin")
    when = parser.add_argument_group("time (for lines that do not say it all)")
    when.add_argument(
        "--date",
        type=_date,
        metavar="YYYY-MM-DD",
        help="date of date-less lines (Console.app copies); default: the date of the file's other lines",
    )
    when.add_argument(
        "--year", type=_year, metavar="YYYY", help="year of syslog-era lines; default: the file's, else this year"
    )
    when.add_argument(
        "--tz",
        type=parse_zone,
        default=UTC,
        metavar="ZONE",
        help="zone of timestamps without an offset: UTC (default), ±HH:MM, an IANA name, or `local`",
    )
    who = parser.add_argument_group("envelope")
    who.add_argument("--device-id", type=_device_id, help="default: a pseudonymous id derived from the input's name")
    who.add_argument("--boot-id", default=DEFAULT_BOOT_ID, help=f"default: {DEFAULT_BOOT_ID}")
    who.add_argument("--os-version", default="", help="e.g. 14.4.1 (default: empty)")
    who.add_argument("--os-build", default="", help="e.g. 23E224 (default: empty)")
    apps = parser.add_argument_group("apps")
    apps.add_argument(
        "--app-id",
        action="append",
        type=_app_id,
        default=[],
        metavar="PROCESS=BUNDLE_ID",
        help="report PROCESS's events with BUNDLE_ID as `app` (repeatable)",
    )
    apps.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="keep events of this process or app only (repeatable)",
    )
    apps.add_argument(
        "--default-process", metavar="NAME", help="process of records whose layout names none (key=value exports)"
    )
    parser.add_argument(
        "--hash-key",
        help=f"key hashing raw hostnames, URLs and addresses (default: ${HASH_KEY_ENV}, else empty: pass a secret "
        "to make the hashes unlinkable, or the fleet key to match the agent's)",
    )
    parser.add_argument(
        "--transitions-only",
        action="store_true",
        help="drop repeats: a connection's unchanged state, an app path like the last one",
    )
    parser.add_argument("--summary-json", type=Path, metavar="FILE", help="also write the summary to FILE as JSON")


def run(args: argparse.Namespace) -> int:
    """Parse ``args.input``; wire events to stdout, the summary to stderr (and ``--summary-json``)."""
    name = cli_io.input_name(args.input)
    out = cli_io.Output(
        sys.stdout.buffer,
        closed=f"{_PROG}: stdout closed before all events were written",
        failed=f"{_PROG}: cannot write the events",
    )
    try:
        with cli_io.open_input(args.input) as stream:
            summary = parse_stream(stream, out.write, **stream_options(args, name))
        out.flush()
    except cli_io.OutputClosed:
        return cli_io.EXIT_OUTPUT_FAILED
    except OSError as exc:  # reading: a failed write raises cli_io.OutputClosed instead
        print(f"{_PROG}: cannot read {name}: {cli_io.os_reason(exc)}", file=sys.stderr)
        return cli_io.EXIT_INPUT_UNREADABLE
    return cli_io.report_summary(_PROG, format_summary(summary), summary, args.summary_json)


def parse_stream(
    stream: IO[bytes],
    write: Any,
    *,
    name: str = "stdin",
    split: SplitOptions | None = None,
    options: ParseOptions | None = None,
    device_id: str | None = None,
    boot_id: str = DEFAULT_BOOT_ID,
    os_version: str = "",
    os_build: str = "",
    only: Sequence[str] = (),
    transitions_only: bool = False,
) -> ParseLogSummary:
    """The whole command on one binary stream: each wire event's bytes (with ``\\n``) go to ``write``."""
    split = split or SplitOptions()
    device_id = device_id or default_device_id(name)
    line_tally, tally = LineTally(), ParseTally()
    parsed = parse_lines(
        read_lines(stream, line_tally, split.line_limit),
        split=split,
        options=options,
        line_tally=line_tally,
        tally=tally,
        transitions=Transitions() if transitions_only else None,
    )
    identity = DeviceIdentity(
        device_id=device_id, boot_id=boot_id, platform="darwin", os_version=os_version, os_build=os_build
    )
    written = invalid = 0
    batch: list[bytes] = []
    for item in _kept(parsed, frozenset(only)):
        event = _event(item, identity, seq=written)
        if event is None:
            invalid += 1
            continue
        batch.append(wire.encode(event) + b"\n")
        written += 1
        if len(batch) >= _WRITE_BATCH:
            write(b"".join(batch))
            batch.clear()
    if batch:
        write(b"".join(batch))
    return _summary(name, line_tally, tally, written, invalid)


def default_device_id(name: str) -> str:
    """A stable pseudonymous ``device_id`` for a capture: ``log-`` and 16 hex digits of its file name's hash."""
    return "log-" + hashlib.sha256(Path(name).name.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def parse_zone(text: str) -> tzinfo:
    """``--tz``: ``UTC``, ``±HH:MM``/``±HHMM``, an IANA zone name, or ``local`` (this machine's zone, with DST)."""
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    if text.lower() == "local":
        return _LocalZone()
    if (offset := _OFFSET.fullmatch(text)) is not None and int(offset["hh"]) < 24 and int(offset["mm"]) < 60:
        minutes = int(offset["hh"]) * 60 + int(offset["mm"])
        return timezone(timedelta(minutes=-minutes if offset["sign"] == "-" else minutes))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown time zone {text!r}: use UTC, ±HH:MM, an IANA name or local"
        ) from None


class _LocalZone(tzinfo):
    """The zone of the machine running the command, DST included (what ``--tz local`` means)."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return timedelta(seconds=time.localtime().tm_gmtoff)
        fields = (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, 0, 0, -1)
        return timedelta(seconds=time.localtime(time.mktime(fields)).tm_gmtoff)

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str:
        return "local"

    def fromutc(self, dt: datetime) -> datetime:
        # tzinfo's own fromutc needs dst(); the C library knows the offset of any UTC instant directly.
        offset = time.localtime(calendar.timegm(dt.utctimetuple())).tm_gmtoff
        return dt + timedelta(seconds=offset)


def format_summary(summary: ParseLogSummary) -> str:
    """The summary as aligned lines for a terminal."""
    records = sum(summary.records.values())
    rows = [
        (
            "lines",
            summary.lines,
            f"blank {summary.blank:,}, furniture {summary.furniture:,}, continuation {summary.continuation:,}",
        ),
        ("records", records, cli_io.breakdown(summary.records, nonzero=True)),
        ("unknown", summary.unknown, f"first at line {summary.first_unknown_line}" if summary.unknown else ""),
        ("too long", summary.too_long, f"lines or JSON objects over {LINE_LIMIT // 1024} KiB, skipped unread"),
        ("truncated", summary.truncated_json, "JSON objects cut off before their end"),
        ("bad bytes", summary.undecodable_bytes, "not UTF-8, read as U+FFFD"),
        ("assumed", summary.assumed_date, "date-less records dated today: pass --date" if summary.assumed_date else ""),
        ("messages", sum(summary.messages.values()), cli_io.breakdown(summary.messages)),
        ("events", summary.written, f"{cli_io.breakdown(summary.events)}; collapsed {summary.collapsed:,}"),
    ]
    lines = [f"{_PROG} of {summary.input}:"]
    lines += [f"  {label:<10} {count:>10,}  {detail}".rstrip() for label, count, detail in rows]
    if summary.invalid:
        lines.append(f"  {summary.invalid:,} observations broke the wire contract and were dropped (please report)")
    return "\n".join(lines)


# --- internals ----------------------------------------------------------------------------------------------


def stream_options(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """``parse_stream``'s keyword arguments from parsed command-line arguments (the golden tests use it too)."""
    key = args.hash_key if args.hash_key is not None else os.environ.get(HASH_KEY_ENV, "")
    return {
        "name": name,
        "split": SplitOptions(tz=args.tz, date=args.date, year=args.year),
        "options": ParseOptions(
            key=key.encode("utf-8"), app_ids=dict(args.app_id), default_process=args.default_process
        ),
        "device_id": args.device_id,
        "boot_id": args.boot_id,
        "os_version": args.os_version,
        "os_build": args.os_build,
        "only": args.only,
        "transitions_only": args.transitions_only,
    }


def _kept(parsed: Iterator[Parsed], only: frozenset[str]) -> Iterator[Parsed]:
    """The observations of the processes or apps named by ``--only`` (all when none is named)."""
    if not only:
        yield from parsed
        return
    for item in parsed:
        body = item.observation.body
        if item.record.process in only or (isinstance(body, wire.ConnBody | wire.PathBody) and body.app in only):
            yield item


def _event(item: Parsed, identity: DeviceIdentity, seq: int) -> wire.Event | None:
    """The wire event for one observation, validated against the contract (None if it breaks it)."""
    observation = item.observation
    event_id = str(uuid.uuid5(_EVENT_NAMESPACE, f"{identity.device_id}/{item.record.line}/{item.index}"))
    try:
        return stamp(identity, observation.body, seq=seq, ts_ms=observation.ts_ms, event_id=event_id)
    except msgspec.ValidationError:
        return None


def _summary(name: str, lines: LineTally, tally: ParseTally, written: int, invalid: int) -> ParseLogSummary:
    return ParseLogSummary(
        input=name,
        lines=lines.lines,
        blank=lines.blank,
        furniture=lines.furniture,
        continuation=lines.continuation,
        unknown=lines.unknown,
        first_unknown_line=lines.first_unknown,
        too_long=lines.too_long,
        truncated_json=lines.truncated,
        undecodable_bytes=lines.undecodable_bytes,
        assumed_date=lines.assumed_date,
        records={layout: lines.records.get(layout, 0) for layout in LAYOUTS},
        messages={str(kind): tally.messages.get(kind, 0) for kind in MessageKind},
        events={kind: tally.events.get(kind, 0) for kind in ("conn", "path")},
        collapsed=tally.collapsed,
        written=written,
        invalid=invalid,
    )


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def _year(text: str) -> int:
    if not (text.isdigit() and 1970 <= int(text) <= 9999):
        raise argparse.ArgumentTypeError(f"not a year: {text!r}")
    return int(text)


def _device_id(text: str) -> str:
    if not _DEVICE_ID.match(text):
        raise argparse.ArgumentTypeError(f"a device id is 8 to 64 of A-Z a-z 0-9 . _ - (got {text!r})")
    return text


def _app_id(text: str) -> tuple[str, str]:
    match = _APP_ID.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected PROCESS=BUNDLE_ID, got {text!r}")
    return match["process"], match["bundle"]
