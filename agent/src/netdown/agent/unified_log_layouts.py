"""Layouts of macOS log text: which line is a record, and the record's time, process and message.

The first layer of the unified-log parser (:mod:`netdown.agent.sources.unified_log`): it knows how
``log``, Console.app, Xcode and syslog *print* a record, not what Network.framework *says* in it.
Every line is recognised on its own, so a file may mix layouts (a user pastes a Console copy below
a ``log show`` capture). Layouts, as documented in ``log(1)`` and seen in the field corpus:

- ``default``: ``log show``/``log stream`` default style, ``2022-10-05 14:38:55.853388+0530 0x1a2b
  Default 0x0 123 0 process: (library) [subsystem:category] message``, with or without the TTL
  column (2017 releases print none, and ``[subsystem.]`` with a trailing dot);
- ``syslog``: ``--style syslog``, ``timestamp  host process[pid]: (library) [subsystem:category] message``;
- ``compact``: ``--style compact``, ``2024-03-01 10:00:00.123 Df process[pid:tid] [subsystem:category]
  message`` (no zone in the timestamp);
- ``json`` (``--style json``: one array of pretty-printed objects spanning lines, read as a stream,
  one record per object) and ``ndjson`` (``--style ndjson``: one object per line), with the record
  fields of ``log(1)``: ``timestamp``, ``eventMessage``, ``processImagePath``, ``processID``,
  ``subsystem``, ``category``, ``messageType``;
- ``console``: Console.app copies, tab-separated, whichever columns were visible (time with zone,
  process, message; optionally type, subsystem, a leading number), and the space-separated form
  forum posts turn them into;
- ``xcode``: Xcode's console, ``2024-03-01 10:00:00.123456+0100 App[123:4567] [category] message``;
- ``short``: ``timestamp  process: [subsystem:category] message`` (zone required);
- ``legacy_syslog``: pre-Sierra and device syslog, ``Mar  1 10:00:00 host process[123] <Level>: message``;
- ``keyvalue``: exports like ``[2024-12-09 20:41:55.920] subsystem=… category=… message``.

Header and footer lines (``Filtering the log data…``, ``Timestamp  Thread  Type…``, ``--------``,
``Log - Default: …``, ndjson's ``{"count":…,"finished":1}``) are furniture: counted, not records.
An indented line after a record continues its message (multi-line bodies). Anything else is an
*unknown* line: counted, never guessed into a record. A line without a timestamp is unknown too: a
record the parser cannot place in time is a record it cannot read.

Time: ``ts_ms`` comes from the line's own timestamp and UTC offset. A timestamp without an offset
(compact, some Xcode and key=value lines, syslog-era) is read in ``SplitOptions.tz`` (default UTC,
so that output does not depend on the zone of the machine that parses). A Console copy carries no
date: it takes ``SplitOptions.date``, else the date of the nearest dated record before it in the
file, else of the first dated record after it, else (a file of Console lines only) today's date,
counted as ``assumed_date`` so the summary can say so; a time that runs backwards by more than 12
hours means midnight passed. Syslog-era lines carry no year: ``SplitOptions.year``, else the year
of the latest dated record, else the current year.

Cost is capped: a line longer than ``SplitOptions.line_limit`` (64 KiB) is skipped and counted
(``read_lines`` skips it without holding it), JSON objects and multi-line messages are bounded, and
every regular expression is anchored with bounded repetition, so no input is quadratic.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import IO, Any, Final

import msgspec

from netdown.cli_io import capped_lines

__all__ = [
    "LAYOUTS",
    "LINE_LIMIT",
    "LineTally",
    "LogRecord",
    "SplitOptions",
    "read_lines",
    "split_records",
]

LINE_LIMIT: Final = 64 * 1024
LAYOUTS: Final = (
    "default",
    "syslog",
    "compact",
    "json",
    "ndjson",
    "console",
    "xcode",
    "short",
    "legacy_syslog",
    "keyvalue",
)
# A multi-line message or a JSON object may grow to this; beyond, it is cut (message) or skipped (object).
_MESSAGE_LIMIT: Final = 64 * 1024
_OBJECT_LIMIT: Final = 256 * 1024
# Date-less records wait at most this long for a dated one to lend them its date.
_WAIT_RECORDS: Final = 10_000
_WAIT_BYTES: Final = 16 * 1024 * 1024
_HALF_DAY: Final = 12 * 3600
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_INT64_MAX: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log record, whatever layout printed it: when, who, and the message text as logged."""

    ts_ms: int  # Unix epoch ms
    message: str
    process: str | None = None  # process name (an image path's last component), None when the layout has none
    pid: int | None = None
    subsystem: str | None = None
    category: str | None = None
    level: str | None = None  # the type column or messageType, as logged
    line: int = 0  # 1-based number of the record's first line in the input (0: not from an input)
    layout: str = ""  # one of LAYOUTS


@dataclass
class LineTally:
    """What the reader and the splitter saw, line by line: the parse summary's first half."""

    lines: int = 0
    blank: int = 0
    furniture: int = 0  # headers, footers and JSON array brackets of `log`'s own output
    continuation: int = 0  # lines appended to the message of the record above them
    unknown: int = 0  # lines in no layout this parser knows (and lines of unreadable JSON objects)
    too_long: int = 0  # lines (or JSON objects) over the cost cap, skipped unread
    truncated: int = 0  # JSON objects cut off before their closing brace
    undecodable_bytes: int = 0  # bytes that were not UTF-8, read as U+FFFD
    assumed_date: int = 0  # date-less records dated today: nothing in the input or options gave their date
    records: Counter[str] = field(default_factory=Counter)  # by layout
    first_unknown: int | None = None  # line number of the first unknown line, to look at


_Day = date  # the fields below are named `date`; annotations refer to the type by this name


@dataclass(frozen=True)
class SplitOptions:
    """How to place in time what a line does not say itself (see the module docstring)."""

    tz: tzinfo = UTC  # zone of timestamps without an offset
    date: _Day | None = None  # date of date-less lines
    year: int | None = None  # year of syslog-era lines
    today: _Day | None = None  # the last resort for both; None: the current date in `tz`
    line_limit: int = LINE_LIMIT


def read_lines(stream: IO[bytes], tally: LineTally, limit: int = LINE_LIMIT) -> Iterator[str | None]:
    """Decoded lines of a binary stream, ``None`` for a line over ``limit`` bytes (skipped in chunks, never held).

    Invalid UTF-8 is read as U+FFFD and its bytes counted in ``tally.undecodable_bytes``.
    """
    for raw in capped_lines(stream.readline, limit + 2):  # room for `\r\n`
        if isinstance(raw, int):  # over the limit: skipped unread, its place marked by None
            yield None
            continue
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            # surrogateescape turns each undecodable byte into one lone surrogate: count them, then show U+FFFD.
            text, bad = _SURROGATES.subn("\ufffd", raw.decode("utf-8", "surrogateescape"))
            tally.undecodable_bytes += bad
            yield text


def split_records(
    lines: Iterable[str | None], *, options: SplitOptions | None = None, tally: LineTally | None = None
) -> Iterator[LogRecord]:
    """The records in ``lines`` (text lines, ``None`` for a line skipped as too long), in input order.

    Lines no layout recognises are counted in ``tally`` and skipped; this never raises on any input.
    """
    splitter = _Splitter(options or SplitOptions(), tally if tally is not None else LineTally())
    for line in lines:
        yield from splitter.feed(line)
    yield from splitter.finish()


_SURROGATES: Final = re.compile("[\udc80-\udcff]")

# --- timestamps ------------------------------------------------------------------------------------------

_TIME: Final = r"(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.(?P<f>\d{1,9}))?(?P<z>Z|[+-]\d\d(?::?\d\d)?)?"
_DATE: Final = r"(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)"
_TS: Final = _DATE + r"[ T]" + _TIME
_TS_RE: Final = re.compile(_TS)
_ZONE: Final = re.compile(r"(?P<sign>[+-])(?P<hh>\d\d)(?::?(?P<mm>\d\d))?")


@dataclass(frozen=True, slots=True)
class _Stamp:
    """A timestamp as a line wrote it: maybe a date, the local time of day, maybe a UTC offset."""

    day: date | None
    second: int  # seconds since local midnight
    milli: int
    offset: int | None  # seconds east of UTC; None when the line gives no zone


def _stamp(groups: dict[str, Any], day: date | None = None) -> _Stamp | None:
    """The stamp in a match's ``y mo d h mi s f z`` groups; None when a field is out of range."""
    hour, minute, second = int(groups["h"]), int(groups["mi"]), int(groups["s"])
    if hour > 23 or minute > 59 or second > 60:
        return None
    fraction = groups.get("f")
    offset = _offset(groups.get("z"))
    if offset is _BAD_ZONE:
        return None
    if groups.get("y"):
        day = _day(groups["y"], groups["mo"], groups["d"])
        if day is None:
            return None
    return _Stamp(
        day, hour * 3600 + minute * 60 + min(second, 59), int((fraction + "00")[:3]) if fraction else 0, offset
    )


_BAD_ZONE: Final = -(2**31)


@functools.lru_cache(maxsize=256)
def _offset(zone: str | None) -> int | None:
    """Seconds east of UTC for ``Z``, ``+0530``, ``-04:00``, ``+05``; None without a zone; _BAD_ZONE when invalid."""
    if not zone:
        return None
    if zone == "Z":
        return 0
    parts = _ZONE.fullmatch(zone)
    if parts is None or int(parts["hh"]) > 18 or int(parts["mm"] or 0) > 59:
        return _BAD_ZONE
    return (int(parts["hh"]) * 3600 + int(parts["mm"] or 0) * 60) * (-1 if parts["sign"] == "-" else 1)


@functools.lru_cache(maxsize=1024)
def _day(year: str, month: str, day: str) -> date | None:
    """The date, or None when it does not exist (2024-02-30)."""
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _epoch_ms(day: date, stamp: _Stamp, tz: tzinfo) -> int | None:
    """Unix epoch milliseconds of ``stamp`` on ``day``; a zone-less stamp is read in ``tz``."""
    offset = stamp.offset
    if offset is None:
        hour, rest = divmod(stamp.second, 3600)
        local = datetime(day.year, day.month, day.day, hour, rest // 60, rest % 60)  # wall time, asked of tz
        try:
            delta = tz.utcoffset(local)
        except (OverflowError, OSError, ValueError):  # a zone (the C library's) that cannot place year 9999
            return None
        offset = int(delta.total_seconds()) if delta is not None else 0
    millis = ((day.toordinal() - _EPOCH_ORDINAL) * 86400 + stamp.second - offset) * 1000 + stamp.milli
    return millis if 0 <= millis <= _INT64_MAX else None


# --- layouts ---------------------------------------------------------------------------------------------

# What follows the timestamp, per layout (matched at the position after it).
_DEFAULT_REST: Final = re.compile(
    r" +(?P<thread>0x[0-9a-fA-F]{1,16}) +(?P<type>[A-Za-z]{1,16}) +(?P<activity>0x[0-9a-fA-F]{1,16}) +(?P<pid>\d{1,10})"
    r"(?: +(?P<ttl>\d{1,5}))? +(?P<process>[^:]{1,256}?):(?: (?P<rest>.*))?"
)
_SYSLOG_REST: Final = re.compile(
    r" +(?P<host>[^\s\[\]]{1,256}) (?P<process>[^\[\]]{1,256}?)(?:\((?P<lib>[^()\[\]]{0,256})\))?"
    r"\[(?P<pid>\d{1,10})\]:(?: (?P<rest>.*))?"
)
_COMPACT_REST: Final = re.compile(
    r" (?P<type>[A-Z][a-z]?) +(?P<process>[^\[\]]{1,256}?)\[(?P<pid>\d{1,10}):(?P<tid>(?:0x)?[0-9a-fA-F]{1,16})\]"
    r"(?: (?P<rest>.*))?"
)
_XCODE_REST: Final = re.compile(
    r" +(?P<process>[^\[\]]{1,256}?)\[(?P<pid>\d{1,10}):(?P<tid>(?:0x)?[0-9a-fA-F]{1,16})\](?: (?P<rest>.*))?"
)
_SHORT_REST: Final = re.compile(r" +(?P<process>[^\s\[\]:()][^\[\]:]{0,255}?): (?P<rest>.*)")
# The type column of --style compact; a line with a zone is compact only with one of these (else Xcode).
_COMPACT_TYPES: Final = frozenset({"Df", "Db", "I", "In", "E", "Er", "F", "Fa", "Ft", "A", "Ac", "S", "Sp", "St"})

_LEGACY: Final = re.compile(
    r"(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(?P<dd>\d{1,2}) "
    r"(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.(?P<f>\d{1,9}))? (?:(?P<host>[^\s\[\]]{1,256}) )?"
    r"(?P<process>[^\s\[\]()]{1,256})(?:\((?P<lib>[^()\[\]]{0,256})\))?\[(?P<pid>\d{1,10})\]"
    r"(?: <(?P<level>\w{1,16})>)?:(?: (?P<rest>.*))?"
)
_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}
_KEYVALUE: Final = re.compile(r"\[" + _TS + r"\](?: (?P<rest>.*))?")
_KV_PAIR: Final = re.compile(
    r"(?P<key>subsystem|category|process|processImagePath|pid|processID|level|type|messageType)"
    r"=(?P<value>[^\s=]{0,256})(?: |$)"
)

_CONSOLE_TIME: Final = re.compile(r"(?:" + _DATE + r"[ T])?" + _TIME)
_CONSOLE_SPACE: Final = re.compile(
    r"(?:(?P<sub>[\w-]{1,64}(?:\.[\w-]{1,64}){1,16}) )?(?P<level>default|info|debug|error|fault|notice) "
    r"(?:" + _DATE + r" )?" + _TIME + r" +(?P<process>\S{1,256}) (?P<rest>.*)",
    re.IGNORECASE,
)
_LEVELS: Final = frozenset({"default", "info", "debug", "error", "fault", "notice", "activity", "signpost", "warning"})
_SUBSYSTEM: Final = re.compile(r"[\w-]{1,64}(?:\.[\w-]{1,64}){1,16}")
_NUMBER: Final = re.compile(r"\d{1,20}|0x[0-9a-fA-F]{1,16}")

_LIBRARY: Final = re.compile(r"\((?P<lib>[^()]{0,256})\)(?: |$)")
_SENDER_SLOT: Final = re.compile(r"\[(?P<slot>[^\[\]\s]{0,512})\](?: |$)")
# `[C4]`, `[C1.1.2:2]`, `[B2]`, `[R48426]` (object ids) and `[WebSocketClient.swift:332]` (a source location):
# a message opening with these has no [subsystem:category] slot.
_NOT_A_SLOT: Final = re.compile(r"[A-Z]?\d+(?:\.\d+)*(?::\d+)?|[^:]+:\d+")

_FURNITURE: Final = re.compile(
    r"Filtering the log data using .*"
    r"|Skipping (?:info and debug|info|debug) messages.*"
    r"|Timestamp\s+(?:Thread|Ty|\(process\)).*"
    r"|-{8,}\s*"
    r"|(?:Log|Activity|Boundary|Signpost|Statedump|Loss|Timesync)\s+- .*"
    r"|[\[\]]\s*"
    r"|log: .*"
)
# A line of closing brackets ends a multi-line message (`)` after an argument list).
_CLOSERS: Final = re.compile(r"[)\]}]{1,8}[,;]?\s*")
_CONTINUED_BY: Final = frozenset(" \t")

# --- JSON -------------------------------------------------------------------------------------------------

_JSON_STRUCTURE: Final = re.compile(r'[{}\[\]"]')
_STRING_REST: Final = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+"')
_JSON_GAP: Final = re.compile(r"[\s,\[\]]*")
_JSON_DECODER: Final = msgspec.json.Decoder()
# Inside an object spread over lines, a line starting with anything else means the object was cut off.
_JSON_INNER_STARTS: Final = frozenset(' \t}]",')


class _JsonObject:
    """One JSON object being read across lines: braces and strings followed, text kept up to a cap."""

    __slots__ = ("bare", "depth", "in_string", "line", "lines", "overflow", "parts", "size")

    def __init__(self, line: int, *, bare: bool) -> None:
        self.line = line
        self.bare = bare  # began at column 0 of its line: ndjson if it also ends there
        self.lines = 0
        self.depth = 0
        self.in_string = False
        self.parts: list[str] = []
        self.size = 0
        self.overflow = False

    def scan(self, text: str, pos: int) -> int | None:
        """Follow the object from ``pos``; the index just past its closing brace when that is on this line."""
        while True:
            if self.in_string:
                end = _STRING_REST.match(text, pos)
                if end is None:
                    return None
                pos, self.in_string = end.end(), False
            found = _JSON_STRUCTURE.search(text, pos)
            if found is None:
                return None
            pos, char = found.end(), found.group()
            if char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth <= 0:
                    return pos

    def keep(self, text: str) -> None:
        """Add a piece of the object's text, unless the object is already over the cap."""
        if self.overflow:
            return
        if self.size + len(text) > _OBJECT_LIMIT:
            self.overflow, self.parts = True, []
            return
        self.parts.append(text)
        self.size += len(text) + 1


# --- the splitter -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Draft:
    """A record before its continuation lines and its date are known."""

    layout: str
    line: int
    stamp: _Stamp
    process: str | None
    pid: int | None
    subsystem: str | None
    category: str | None
    level: str | None
    message: str
    more: list[str] | None = None
    size: int = 0

    def extend(self, text: str) -> None:
        """Append a continuation line to the message, up to the message cap."""
        if self.more is None:
            self.more = []
            self.size = len(self.message)
        if self.size + len(text) > _MESSAGE_LIMIT:
            return
        self.more.append(text)
        self.size += len(text) + 1

    def text(self) -> str:
        """The whole message, continuation lines joined with newlines."""
        return self.message if self.more is None else "\n".join([self.message, *self.more])


class _Splitter:
    """The state that spans lines: a record awaiting continuations, an open JSON object, the date context."""

    def __init__(self, options: SplitOptions, tally: LineTally) -> None:
        self.options = options
        self.tally = tally
        self.number = 0
        self.pending: _Draft | None = None
        self.obj: _JsonObject | None = None
        self.context_day: date | None = None  # date of the latest dated record (or date-less one placed)
        self.context_second = 0
        self.option_day = options.date
        self.option_second: int | None = None
        self.waiting: list[_Draft] = []
        self.waiting_bytes = 0

    # one line at a time

    def feed(self, line: str | None) -> Iterator[LogRecord]:
        """Records completed by this line (usually the one before it: continuations come after)."""
        self.number += 1
        self.tally.lines += 1
        if line is not None:
            line = line.removesuffix("\n").removesuffix("\r")
            if self.number == 1:
                line = line.removeprefix("\ufeff")
        if line is None or len(line) > self.options.line_limit:
            self.tally.too_long += 1
            yield from self._end_pending()
            self._abandon_object()
            return
        if self.obj is not None:
            if not line or (line[0] in _JSON_INNER_STARTS):
                yield from self._json(line)
                return
            self._abandon_object()
        if not line.strip():
            self.tally.blank += 1
            return
        if line[0] in _CONTINUED_BY or (self.pending is not None and _CLOSERS.fullmatch(line)):
            self._continue(line)
            return
        yield from self._end_pending()
        if line[0] == "{":
            yield from self._ndjson(line)
        elif line.startswith("[{"):
            yield from self._json(line)
        elif _FURNITURE.fullmatch(line):
            self.tally.furniture += 1
        elif (draft := self._draft(line)) is not None:
            self.pending = draft
        else:
            self._unknown(1)

    def finish(self) -> Iterator[LogRecord]:
        """Records still held at the end of input; a JSON object still open was cut off."""
        yield from self._end_pending()
        self._abandon_object()
        yield from self._release_assumed()

    def _continue(self, line: str) -> None:
        """An indented line: more of the record above, or unknown when there is none."""
        if self.pending is None:
            self._unknown(1)
            return
        self.pending.extend(line)
        self.tally.continuation += 1

    def _unknown(self, count: int) -> None:
        self.tally.unknown += count
        if self.tally.first_unknown is None:
            self.tally.first_unknown = self.number

    def _end_pending(self) -> Iterator[LogRecord]:
        if self.pending is not None:
            draft, self.pending = self.pending, None
            yield from self._dated(draft)

    # text layouts

    def _draft(self, line: str) -> _Draft | None:
        """The record a text line starts, or None when it is in no known layout."""
        first = line[0]
        if first.isdigit() and (stamped := _TS_RE.match(line)) is not None:
            if (draft := self._stamped(line, stamped)) is not None:
                return draft
        elif first == "[" and (keyvalue := _KEYVALUE.fullmatch(line)) is not None:
            return self._keyvalue(keyvalue)
        elif first in "JFMASOND" and (legacy := _LEGACY.fullmatch(line)) is not None:
            return self._legacy(legacy)
        if "\t" in line:
            return self._console(line)
        if (spaced := _CONSOLE_SPACE.fullmatch(line)) is None:
            return None
        return self._build(
            "console",
            _stamp(spaced.groupdict()),
            process=spaced["process"],
            pid=None,
            subsystem=spaced["sub"],
            category=None,
            level=spaced["level"],
            message=spaced["rest"],
        )

    def _stamped(self, line: str, stamped: re.Match[str]) -> _Draft | None:
        """A line that opens with a full timestamp: default, syslog, compact, Xcode or short layout."""
        stamp = _stamp(stamped.groupdict())
        pos = stamped.end()
        if (match := _DEFAULT_REST.fullmatch(line, pos)) is not None:
            return self._with_sender("default", stamp, match, level=match["type"])
        if (match := _SYSLOG_REST.fullmatch(line, pos)) is not None:
            return self._with_sender("syslog", stamp, match, library=match["lib"])
        compact = _COMPACT_REST.fullmatch(line, pos)
        if compact is not None and (stamped["z"] is None or compact["type"] in _COMPACT_TYPES):
            return self._with_sender("compact", stamp, compact, level=compact["type"])
        if (match := _XCODE_REST.fullmatch(line, pos)) is not None:
            return self._with_sender("xcode", stamp, match)
        if stamped["z"] is not None and (match := _SHORT_REST.fullmatch(line, pos)) is not None:
            return self._with_sender("short", stamp, match)
        return None

    def _with_sender(
        self,
        layout: str,
        stamp: _Stamp | None,
        match: re.Match[str],
        *,
        level: str | None = None,
        library: str | None = None,
    ) -> _Draft | None:
        """A draft from a layout match whose ``rest`` may open with ``(library)`` and ``[subsystem:category]``."""
        rest = match["rest"] or ""
        pos = 0
        if library is None and (lib := _LIBRARY.match(rest)) is not None:
            pos = lib.end()
        subsystem = category = None
        slot = _SENDER_SLOT.match(rest, pos)
        if slot is not None and not _NOT_A_SLOT.fullmatch(slot["slot"]):
            subsystem, category = _sender_slot(slot["slot"], layout)
            pos = slot.end()
        return self._build(
            layout,
            stamp,
            process=match["process"],
            pid=int(match["pid"]) if "pid" in match.re.groupindex else None,
            subsystem=subsystem,
            category=category,
            level=level,
            message=rest[pos:],
        )

    def _legacy(self, match: re.Match[str]) -> _Draft | None:
        """A syslog-era line: its year comes from the options or the file (see the module docstring)."""
        year = self.options.year or (self.context_day or self._today()).year
        try:
            day = date(year, _MONTHS[match["mon"]], int(match["dd"]))
        except ValueError:
            return None
        return self._build(
            "legacy_syslog",
            _stamp(match.groupdict(), day),
            process=match["process"],
            pid=int(match["pid"]),
            subsystem=None,
            category=None,
            level=match["level"],
            message=match["rest"] or "",
        )

    def _keyvalue(self, match: re.Match[str]) -> _Draft | None:
        """``[timestamp] key=value … message``: only keys that describe the record are taken as such."""
        rest = match["rest"] or ""
        fields: dict[str, str] = {}
        pos = 0
        while (pair := _KV_PAIR.match(rest, pos)) is not None and pair.end() > pos:
            fields[pair["key"]] = pair["value"]
            pos = pair.end()
        process = fields.get("process") or (fields.get("processImagePath") or "").rsplit("/", 1)[-1] or None
        pid_text = fields.get("pid") or fields.get("processID") or ""
        return self._build(
            "keyvalue",
            _stamp(match.groupdict()),
            process=process,
            pid=int(pid_text) if pid_text.isdigit() and len(pid_text) <= 10 else None,
            subsystem=fields.get("subsystem") or None,
            category=fields.get("category") or None,
            level=fields.get("level") or fields.get("type") or fields.get("messageType"),
            message=rest[pos:],
        )

    def _console(self, line: str) -> _Draft | None:
        """A tab-separated Console.app copy: the time column anchors the others (see the module docstring)."""
        columns = line.split("\t")
        found = next(
            ((index, time) for index, column in enumerate(columns[:4]) if (time := _CONSOLE_TIME.fullmatch(column))),
            None,
        )
        if found is None:
            return None
        index, time = found
        before, after = columns[:index], columns[index + 1 :]
        level = next((column for column in before if column.lower() in _LEVELS), None)
        subsystem = None
        if len(after) == 1:  # `process<TAB>time<TAB>message`: the process is the one named column before the time
            names = [column for column in before if column.lower() not in _LEVELS and not _NUMBER.fullmatch(column)]
            if len(names) != 1:
                return None
            process, message = names[0], after[0]
        elif len(after) >= 3 and _SUBSYSTEM.fullmatch(after[1]):
            process, subsystem, message = after[0], after[1], "\t".join(after[2:])
        elif after:
            process, message = after[0], "\t".join(after[1:])
        else:
            return None
        return self._build(
            "console",
            _stamp(time.groupdict()),
            process=process,
            pid=None,
            subsystem=subsystem,
            category=None,
            level=level,
            message=message,
        )

    def _build(
        self,
        layout: str,
        stamp: _Stamp | None,
        *,
        process: str | None,
        pid: int | None,
        subsystem: str | None,
        category: str | None,
        level: str | None,
        message: str,
    ) -> _Draft | None:
        """A draft, or None when its timestamp is out of range or its process name is empty or overlong."""
        if stamp is None:
            return None
        if process is not None:
            process = process.strip()
            if not 0 < len(process) <= 256:
                return None
        return _Draft(layout, self.number, stamp, process, pid, subsystem, category, level, message)

    # JSON (`--style json` spans lines; `--style ndjson` is one object a line)

    def _ndjson(self, line: str) -> Iterator[LogRecord]:
        """A line opening with ``{``: a whole object (the fast, common case), else the start of one over lines."""
        try:
            value = _JSON_DECODER.decode(line)
        except (msgspec.DecodeError, RecursionError):
            yield from self._json(line)
            return
        yield from self._value(value, 1, "ndjson")

    def _json(self, line: str) -> Iterator[LogRecord]:
        """Feed a line to the JSON reader: objects may close and open anywhere in it (`},{`)."""
        pos, size = 0, len(line)
        while True:
            if self.obj is None:
                gap = _JSON_GAP.match(line, pos)
                pos = gap.end() if gap is not None else pos
                if pos >= size:
                    return
                if line[pos] != "{":  # text after the array: not JSON this reader follows
                    self._unknown(1)
                    return
                self.obj = _JsonObject(self.number, bare=pos == 0)
            obj = self.obj
            obj.lines += 1
            end = obj.scan(line, pos)
            obj.keep(line[pos:end])
            if end is None:
                return
            self.obj = None
            yield from self._object(obj, single=obj.lines == 1 and not line[end:].strip())
            pos = end

    def _object(self, obj: _JsonObject, *, single: bool) -> Iterator[LogRecord]:
        """The record a complete JSON object holds, or its lines counted as furniture, unknown or too long."""
        if obj.overflow:
            self.tally.too_long += 1
            return
        try:
            value = _JSON_DECODER.decode("\n".join(obj.parts))
        except (msgspec.DecodeError, RecursionError):
            self._unknown(obj.lines)
            return
        yield from self._value(value, obj.lines, "ndjson" if obj.bare and single else "json")

    def _value(self, value: Any, lines: int, layout: str) -> Iterator[LogRecord]:
        """The record a decoded JSON value holds, or its lines counted as furniture or unknown."""
        if isinstance(value, dict) and value and set(value) <= {"count", "finished"}:  # ndjson's closing summary
            self.tally.furniture += lines
            return
        draft = _json_draft(value, self.number - lines + 1, layout)
        if draft is None:
            self._unknown(lines)
            return
        yield from self._dated(draft)

    def _abandon_object(self) -> None:
        """The open JSON object ends here without its closing brace: its lines are unknown."""
        if self.obj is not None:
            self.tally.truncated += 1
            self._unknown(self.obj.lines)
            self.obj = None

    # dates

    def _dated(self, draft: _Draft) -> Iterator[LogRecord]:
        """Give the draft its date (or let it wait for one) and yield what is ready, in input order."""
        stamp = draft.stamp
        if stamp.day is not None:
            if _epoch_ms(stamp.day, stamp, self.options.tz) is None:  # an impossible time lends no date to others
                self._unknown(1)
                return
            if self.waiting:
                yield from self._release_waiting(stamp.day, stamp.second)
            self.context_day, self.context_second = stamp.day, stamp.second
            yield from self._record(draft, stamp.day)
            return
        day = self._day_for(stamp.second)
        if day is not None:
            yield from self._record(draft, day)
            return
        self.waiting.append(draft)
        self.waiting_bytes += draft.size or len(draft.message)
        if len(self.waiting) >= _WAIT_RECORDS or self.waiting_bytes >= _WAIT_BYTES:
            yield from self._release_assumed()

    def _day_for(self, second: int) -> date | None:
        """The date of a date-less record: the option's, else the context's; midnight passes when time runs back."""
        if self.option_day is not None:
            if self.option_second is not None and second < self.option_second - _HALF_DAY:
                self.option_day += timedelta(days=1)
            self.option_second = second
            return self.option_day
        if self.context_day is None:
            return None
        if second < self.context_second - _HALF_DAY:
            self.context_day += timedelta(days=1)
        self.context_second = second
        return self.context_day

    def _release_waiting(self, day: date, second: int) -> Iterator[LogRecord]:
        """Date the waiting records from the first dated record after them, walking back across midnight."""
        placed: list[tuple[_Draft, date]] = []
        for draft in reversed(self.waiting):
            if draft.stamp.second > second + _HALF_DAY:
                day -= timedelta(days=1)
            second = draft.stamp.second
            placed.append((draft, day))
        self.waiting, self.waiting_bytes = [], 0
        for draft, placed_day in reversed(placed):
            yield from self._record(draft, placed_day)

    def _release_assumed(self) -> Iterator[LogRecord]:
        """No date came for the waiting records: date them today (counted), midnight passing as time runs back."""
        waiting, self.waiting, self.waiting_bytes = self.waiting, [], 0
        day, second = self._today(), None
        for draft in waiting:
            if second is not None and draft.stamp.second < second - _HALF_DAY:
                day += timedelta(days=1)
            second = draft.stamp.second
            self.tally.assumed_date += 1
            yield from self._record(draft, day)

    def _today(self) -> date:
        """The last resort's date: the option's, else the current date in the zone of zone-less lines."""
        return self.options.today or datetime.now(UTC).astimezone(self.options.tz).date()

    def _record(self, draft: _Draft, day: date) -> Iterator[LogRecord]:
        """The finished record; a date before 1970 or beyond int64 milliseconds makes its line unknown."""
        ts_ms = _epoch_ms(day, draft.stamp, self.options.tz)
        if ts_ms is None:
            self._unknown(1)
            return
        self.tally.records[draft.layout] += 1
        yield LogRecord(
            line=draft.line,
            layout=draft.layout,
            ts_ms=ts_ms,
            process=draft.process,
            pid=draft.pid,
            subsystem=draft.subsystem,
            category=draft.category,
            message=draft.text(),
            level=draft.level,
        )


def _sender_slot(slot: str, layout: str) -> tuple[str | None, str | None]:
    """``[subsystem:category]`` split; 2017's ``[subsystem.]``; Xcode's bare ``[category]``."""
    if ":" in slot:
        subsystem, _, category = slot.partition(":")
        return subsystem or None, category or None
    if slot.endswith("."):
        return slot[:-1] or None, None
    if layout == "xcode":
        return None, slot or None
    return slot or None, None


def _json_draft(value: Any, line: int, layout: str) -> _Draft | None:
    """A draft from a ``log --style json|ndjson`` record; None when the object is not one."""
    if not isinstance(value, dict):
        return None
    timestamp, message = value.get("timestamp"), value.get("eventMessage")
    if not isinstance(timestamp, str) or not isinstance(message, str):
        return None
    stamped = _TS_RE.fullmatch(timestamp.strip())
    stamp = _stamp(stamped.groupdict()) if stamped is not None else None
    if stamp is None:
        return None
    image = value.get("processImagePath")
    process = image.rsplit("/", 1)[-1] if isinstance(image, str) and image else None
    if process is None and isinstance(value.get("process"), str):
        process = value["process"]
    if process is not None and not 0 < len(process) <= 256:
        process = None
    pid = value.get("processID")
    return _Draft(
        layout,
        line,
        stamp,
        process,
        pid if type(pid) is int and 0 <= pid < 2**32 else None,
        _text_field(value, "subsystem"),
        _text_field(value, "category"),
        _text_field(value, "messageType"),
        message,
    )


def _text_field(value: dict[str, Any], key: str) -> str | None:
    """A non-empty string field of a JSON record, else None."""
    text = value.get(key)
    return text if isinstance(text, str) and text else None
