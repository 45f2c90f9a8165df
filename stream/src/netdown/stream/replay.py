"""Replay captured wire events through the detector: a post-mortem on a file, or a check of a change.

Reads NDJSON wire events (one per line, in arrival order) from --input, `-` for stdin, runs the same
detector as the worker, and writes each episode's final record as NDJSON to stdout when the input
ends. A summary goes to stderr: lines read, events accepted by type, duplicates and late events
dropped, rejected lines by reason (with the first line of each), failure signals by class, episodes
by outcome, and events lost to sequence gaps. With --devices-out, each device's final facts (the
records the worker publishes to the compacted devices topic) are written to a file as NDJSON. Bad
lines are counted, never fatal: the exit status is 0 whenever the input could be read, 2 when it
cannot, 1 when an output cannot be written.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, BinaryIO, Final, NamedTuple

import msgspec

from netdown import cli_io, wire
from netdown.detection.detector import DROP_REASONS, DetectorParams, SignalClass
from netdown.detection.device_facts import DeviceFacts, encode_device_facts
from netdown.detection.incident import CLOSE_REASONS, Incident, encode_incident
from netdown.stream.dlq import REPLAY_REJECT_REASONS, Rejected
from netdown.stream.replay_run import ReplayRun
from netdown.stream.settings import add_detector_arguments, detector_params

__all__ = [
    "NAME",
    "EpisodeTally",
    "FirstRejection",
    "ReplaySummary",
    "configure_parser",
    "format_summary",
    "read_lines",
    "replay_stream",
    "run",
]

NAME: Final = "replay"
_PROG: Final = f"netdown-stream {NAME}"
# Room for an event at the size limit plus its line ending (`\r\n`): longer lines are never decodable.
_LINE_LIMIT: Final = wire.MAX_EVENT_BYTES + 2
# A rejection's detail may quote the offending value, which can be up to 64 KiB: the summary shows its start.
_DETAIL_CHARS: Final = 240


class FirstRejection(msgspec.Struct, frozen=True, kw_only=True):
    """Where a rejection reason first occurred, so a post-mortem can look at the line."""

    line: int
    detail: str
    field: str | None = None


class EpisodeTally(msgspec.Struct, frozen=True, kw_only=True):
    """Episodes by their final state at the end of input."""

    opened: int
    still_open: int
    closed: dict[str, int]
    stuck: int


class ReplaySummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a replay read and found; every bounded key is present, zero or not, so readers need no defaults."""

    input: str
    lines: int
    blank: int
    accepted: int
    events_by_type: dict[str, int]
    dropped: dict[str, int]
    rejected: dict[str, int]
    first_rejections: dict[str, FirstRejection]
    lost: int
    seq_restarts: int
    signals: dict[str, int]
    episodes: EpisodeTally


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Declare ``replay``'s options: the input, an optional JSON summary, the detection parameters."""
    parser.add_argument(
        "--input",
        required=True,
        metavar="FILE",
        help="NDJSON wire events in arrival order; `-` reads stdin",
    )
    parser.add_argument(
        "--summary-json",
        type=Path,
        metavar="FILE",
        help="also write the summary to FILE as JSON",
    )
    parser.add_argument(
        "--devices-out",
        type=Path,
        metavar="FILE",
        help="also write each device's final facts (the devices topic's records) to FILE as NDJSON",
    )
    add_detector_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Replay ``args.input``; incidents to stdout, summary to stderr (and ``--summary-json``, ``--devices-out``)."""
    name = cli_io.input_name(args.input)
    try:
        with cli_io.open_input(args.input) as stream:
            replayed = _replay(stream, detector_params(args), name)
    except OSError as exc:  # only the input is touched above: nothing is written until it is all read
        print(f"{_PROG}: cannot read {name}: {cli_io.os_reason(exc)}", file=sys.stderr)
        return cli_io.EXIT_INPUT_UNREADABLE
    out = cli_io.Output(
        sys.stdout.buffer,
        closed=f"{_PROG}: stdout closed before the incidents were written",
        failed=f"{_PROG}: cannot write the incidents",
    )
    try:
        out.write(_ndjson(replayed.incidents))  # one buffer, one write
        out.flush()
    except cli_io.OutputClosed:
        return cli_io.EXIT_OUTPUT_FAILED
    code = cli_io.report_summary(_PROG, format_summary(replayed.summary), replayed.summary, args.summary_json)
    if args.devices_out is not None:
        try:
            args.devices_out.write_bytes(b"".join(encode_device_facts(facts) + b"\n" for facts in replayed.devices))
        except OSError as exc:
            print(f"{_PROG}: cannot write {args.devices_out}: {cli_io.os_reason(exc)}", file=sys.stderr)
            return cli_io.EXIT_OUTPUT_FAILED
    return code


def replay_stream(stream: BinaryIO, out: IO[bytes], params: DetectorParams, name: str = "") -> ReplaySummary:
    """The whole replay of one binary stream, incidents written to ``out``: what ``run`` does, minus the terminal."""
    replayed = _replay(stream, params, name)
    out.write(_ndjson(replayed.incidents))
    return replayed.summary


def read_lines(stream: BinaryIO) -> Iterator[bytes | wire.Rejection]:
    """Each line of ``stream``, or a ``too_large`` rejection for a line too long to be an event.

    A line is read at most ``MAX_EVENT_BYTES`` + 2 bytes at a time, so a huge line (a corrupt capture,
    a file without newlines) is skipped in bounded pieces, never loaded whole. Lines usually keep their
    ending: JSON allows trailing whitespace, and not slicing saves a copy per line; only near the size
    limit is it stripped, so that it does not count towards the limit.
    """
    for line in cli_io.capped_lines(stream.readline, _LINE_LIMIT):
        if isinstance(line, int):  # skipped in bounded reads: its size is all that is known
            yield _too_large(line)
        elif len(line) <= wire.MAX_EVENT_BYTES:
            yield line
        elif line[-1:] == b"\n":
            yield line.rstrip(b"\r\n")
        else:  # the input's last line, without a newline, one byte over the limit
            yield _too_large(len(line))


def _too_large(size: int) -> wire.Rejection:
    """The rejection of a line of ``size`` bytes (without the newline), too long to be an event."""
    return wire.Rejection(
        reason=wire.RejectReason.TOO_LARGE,
        detail=f"a line of {size} bytes (skipped unread), the limit is {wire.MAX_EVENT_BYTES}",
    )


class _Intake:
    """The tallies of lines the detector never sees: blank lines and rejections."""

    def __init__(self) -> None:
        self.lines = 0
        self.blank = 0
        self.rejected: Counter[str] = Counter()
        self.first: dict[str, FirstRejection] = {}

    def reject(self, number: int, rejection: wire.Rejection | Rejected) -> None:
        """Count a refused line; remember the first of each reason."""
        reason = str(rejection.reason)
        self.rejected[reason] += 1
        if reason not in self.first:
            detail = (
                rejection.detail if len(rejection.detail) <= _DETAIL_CHARS else rejection.detail[:_DETAIL_CHARS] + "..."
            )
            self.first[reason] = FirstRejection(line=number, detail=detail, field=rejection.field)


class _Replayed(NamedTuple):
    """What a replay found: each episode's final record, each device's final facts, the summary."""

    incidents: list[Incident]
    devices: list[DeviceFacts]
    summary: ReplaySummary


def _replay(stream: BinaryIO, params: DetectorParams, name: str) -> _Replayed:
    """Feed every line of ``stream`` to a fresh ReplayRun; its final incidents and device facts, the summary."""
    replay_run = ReplayRun(params)
    intake = _feed(read_lines(stream), replay_run)
    replay_run.finish()
    incidents = replay_run.final_incidents()
    return _Replayed(incidents, replay_run.final_device_facts(), _summarise(name, intake, replay_run, incidents))


def _feed(lines: Iterable[bytes | wire.Rejection], replay_run: ReplayRun) -> _Intake:
    """Decode each line and feed the events, in arrival order; the hot loop, so names are bound locally."""
    intake = _Intake()
    decode, offer, rejection_type = wire.decode, replay_run.offer, wire.Rejection
    number = 0
    for number, line in enumerate(lines, start=1):
        if isinstance(line, rejection_type):
            intake.reject(number, line)
        elif line.isspace():
            intake.blank += 1
        else:
            result = decode(line)
            if isinstance(result, rejection_type):
                intake.reject(number, result)
            else:
                offered = offer(result)
                if isinstance(offered, Rejected):
                    intake.reject(number, offered)
    intake.lines = number
    return intake


def _summarise(name: str, intake: _Intake, replay_run: ReplayRun, incidents: list[Incident]) -> ReplaySummary:
    """The summary of a finished replay, every bounded key present."""
    closed: Counter[str] = Counter(incident.close_reason for incident in incidents if incident.close_reason)
    return ReplaySummary(
        input=name,
        lines=intake.lines,
        blank=intake.blank,
        accepted=sum(replay_run.events_by_type.values()),
        events_by_type=_every(sorted(wire.EVENT_TYPES), replay_run.events_by_type),
        dropped=_every(DROP_REASONS, replay_run.dropped),
        rejected=_every(REPLAY_REJECT_REASONS, intake.rejected),
        first_rejections={str(reason): first for reason, first in intake.first.items()},
        lost=replay_run.lost,
        seq_restarts=replay_run.seq_restarts,
        signals=_every(list(SignalClass), replay_run.signals),
        episodes=EpisodeTally(
            opened=len(incidents),
            still_open=sum(incident.closed_ms is None for incident in incidents),
            closed=_every(CLOSE_REASONS, closed),
            stuck=sum(incident.stuck for incident in incidents),
        ),
    )


def _every(keys: Iterable[str], counts: Mapping[str, int]) -> dict[str, int]:
    """``counts`` over exactly ``keys``, zeros included, in that order."""
    return {str(key): counts.get(key, 0) for key in keys}


def format_summary(summary: ReplaySummary) -> str:
    """The summary as aligned lines for a terminal."""
    episodes = summary.episodes
    rows = [
        ("lines", f"{summary.lines:,}", f"blank {summary.blank:,}"),
        ("accepted", f"{summary.accepted:,}", cli_io.breakdown(summary.events_by_type)),
        ("dropped", f"{sum(summary.dropped.values()):,}", cli_io.breakdown(summary.dropped)),
        ("rejected", f"{sum(summary.rejected.values()):,}", cli_io.breakdown(summary.rejected, nonzero=True)),
        ("lost", f"{summary.lost:,}", f"seq numbers never received; {summary.seq_restarts:,} seq restarts"),
        ("signals", f"{sum(summary.signals.values()):,}", cli_io.breakdown(summary.signals)),
        (
            "episodes",
            f"{episodes.opened:,}",
            f"still open {episodes.still_open:,}, {cli_io.breakdown(episodes.closed)}, stuck {episodes.stuck:,}",
        ),
    ]
    lines = [f"{_PROG} of {summary.input}:"]
    lines += [f"  {label:<9} {count:>11}  {detail}".rstrip() for label, count, detail in rows]
    lines += [
        f"  first {reason} at line {first.line}: {first.detail}" for reason, first in summary.first_rejections.items()
    ]
    return "\n".join(lines)


def _ndjson(incidents: Iterable[Incident]) -> bytes:
    """Incident records, one JSON object a line, as one buffer (a single write)."""
    return b"".join(encode_incident(incident) + b"\n" for incident in incidents)
